package proc

import (
	"math"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
)

// Exit is the end of a process the daemon was responsible for.
type Exit struct {
	PID int
	// Known is false for adopted processes: they are not our children, so the
	// kernel gives their exit status to someone else. It is also false for
	// a child whose status the Reaper had to drop (see Reaper.Spawn).
	Known  bool
	Code   int            // exit code when Known and not signalled
	Signal syscall.Signal // terminating signal when Known, 0 otherwise
}

// Reaper is the one goroutine that reaps children. It hands each tracked
// child's exit to onExit, in its own goroutine and without any hand-off, as
// that is on the path of every automatic restart. On Linux it also reaps
// descendants re-parented to the daemon (it is a subreaper) so they never
// linger as zombies.
type Reaper struct {
	onExit func(Exit)
	kick   chan struct{}
	sigs   chan os.Signal

	mu      sync.Mutex
	tracked map[int]bool // children whose exit someone wants to hear about
	// A child can exit, and be reaped, between its fork and the moment
	// Spawn tracks it. So that its status is not lost, the reaper keeps the
	// statuses of untracked children (oldest first) while a Spawn is in
	// flight, stamped with seq, the number kept so far; spawning counts the
	// Spawns in flight by the seq they started at, and a Spawn claims its
	// child's status among those stamped since. At most keep are kept;
	// statuses stamped before droppedTo may have been dropped for room.
	seq       uint64
	untracked []untrackedExit
	spawning  map[uint64]int
	keep      int
	droppedTo uint64

	afterFork func(pid int) // test hook, between fork and tracking
}

type untrackedExit struct {
	pid int
	ws  syscall.WaitStatus
	seq uint64
}

// NewReaper starts reaping. Call it before spawning anything. onExit may
// call Spawn.
func NewReaper(onExit func(Exit)) *Reaper {
	r := &Reaper{
		onExit:   onExit,
		kick:     make(chan struct{}, 1),
		sigs:     make(chan os.Signal, 1),
		tracked:  make(map[int]bool),
		spawning: make(map[uint64]int),
		keep:     1024,
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go func() {
		inheritedRead() // its shell is os/exec's to wait for
		r.loop()
	}()
	return r
}

// Spawn starts a service (see Spawn) and tracks it. No lock is held while
// it forks: the reaper never waits for a fork. A child that exits before
// it is tracked is still reported, once, with its status; that report
// comes from another goroutine (the caller may hold a lock that onExit
// takes), possibly before Spawn returns, as any exit may. Should the
// status have been dropped for room (over a thousand untracked children
// reaped during the fork), the exit is reported with Known false.
func (r *Reaper) Spawn(s SpawnSpec) (int, error) {
	r.mu.Lock()
	since := r.seq
	r.spawning[since]++
	r.mu.Unlock()

	pid, err := Spawn(s)
	if err == nil && r.afterFork != nil {
		r.afterFork(pid)
	}

	r.mu.Lock()
	if r.spawning[since]--; r.spawning[since] == 0 {
		delete(r.spawning, since)
	}
	var ws syscall.WaitStatus
	claimed, lost := false, false
	if err == nil {
		ws, claimed = r.claim(pid, since)
		// Not claimed, the child is either still ours to reap, or reaped
		// with its status on the way to report, or (only if some were
		// dropped for room) reaped with its status dropped.
		lost = !claimed && r.droppedTo > since && !isChild(pid)
		if !claimed && !lost {
			r.tracked[pid] = true
		}
	}
	r.prune()
	r.mu.Unlock()

	switch {
	case err != nil:
		return 0, err
	case claimed:
		go r.onExit(exitOf(pid, ws))
	case lost:
		go r.onExit(Exit{PID: pid})
	default:
		// Wake the loop: on Linux it may be idle for want of children, on
		// macOS it only waits for tracked ones.
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return pid, nil
}

// claim takes the status of the child pid stamped at or after since. The
// PID may have been another child's, reaped after since and recycled for
// this one: a status is only this child's if the child is reaped, no
// longer ours to wait for. r.mu is held.
func (r *Reaper) claim(pid int, since uint64) (syscall.WaitStatus, bool) {
	for i := len(r.untracked) - 1; i >= 0 && r.untracked[i].seq >= since; i-- {
		if e := r.untracked[i]; e.pid == pid {
			if isChild(pid) {
				return 0, false
			}
			r.untracked = slices.Delete(r.untracked, i, i+1)
			return e.ws, true
		}
	}
	return 0, false
}

// prune drops the statuses that no Spawn in flight could claim. r.mu is
// held.
func (r *Reaper) prune() {
	if len(r.spawning) == 0 {
		r.untracked = nil
		return
	}
	oldest := uint64(math.MaxUint64)
	for seq := range r.spawning {
		oldest = min(oldest, seq)
	}
	i := 0
	for i < len(r.untracked) && r.untracked[i].seq < oldest {
		i++
	}
	r.untracked = slices.Delete(r.untracked, 0, i)
}

// report forwards the status of pid if someone tracks it, and otherwise
// keeps it for a Spawn in flight.
func (r *Reaper) report(pid int, ws syscall.WaitStatus) {
	r.mu.Lock()
	wanted := r.tracked[pid]
	delete(r.tracked, pid)
	if !wanted && len(r.spawning) > 0 {
		r.untracked = append(r.untracked, untrackedExit{pid: pid, ws: ws, seq: r.seq})
		r.seq++
		if n := len(r.untracked) - r.keep; n > 0 {
			r.droppedTo = r.untracked[n-1].seq + 1
			r.untracked = slices.Delete(r.untracked, 0, n)
		}
	}
	r.mu.Unlock()
	if wanted {
		r.onExit(exitOf(pid, ws))
	}
}

func exitOf(pid int, ws syscall.WaitStatus) Exit {
	e := Exit{PID: pid, Known: true}
	switch {
	case ws.Signaled():
		e.Signal = ws.Signal()
		e.Code = 128 + int(ws.Signal())
	default:
		e.Code = ws.ExitStatus()
	}
	return e
}

// Children returns the calling process's live children (zombies left out),
// sorted: for a subreaper daemon, a cheap check for descendants left over
// after every service is gone, orphans re-parented to it included. ok is
// false when the system cannot list them (always on macOS; on Linux, a
// kernel built without CONFIG_PROC_CHILDREN, or a read error), and then
// pids is nil. The kernel's list can miss a child being re-parented at
// the very moment it is read.
func Children() (pids []int, ok bool) {
	return children()
}
