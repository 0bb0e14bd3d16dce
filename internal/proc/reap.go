package proc

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Exit is the end of a process the daemon was responsible for.
type Exit struct {
	PID int
	// Known is false for adopted processes: they are not our children, so the
	// kernel gives their exit status to someone else.
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
}

// NewReaper starts reaping. Call it before spawning anything. onExit may
// call Spawn.
func NewReaper(onExit func(Exit)) *Reaper {
	r := &Reaper{
		onExit:  onExit,
		kick:    make(chan struct{}, 1),
		sigs:    make(chan os.Signal, 1),
		tracked: make(map[int]bool),
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.loop()
	return r
}

// Spawn starts a service (see Spawn) and tracks it. The lock is held across
// the fork so the reaper cannot collect the child before it is tracked.
func (r *Reaper) Spawn(s SpawnSpec) (int, error) {
	r.mu.Lock()
	pid, err := Spawn(s)
	if err == nil {
		r.tracked[pid] = true
	}
	r.mu.Unlock()
	if err == nil {
		// Wake the loop: on Linux it may be idle for want of children, on
		// macOS it only waits for tracked ones.
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return pid, err
}

// report forwards the status of pid if someone tracks it.
func (r *Reaper) report(pid int, ws syscall.WaitStatus) {
	r.mu.Lock()
	wanted := r.tracked[pid]
	delete(r.tracked, pid)
	r.mu.Unlock()
	if !wanted {
		return
	}
	e := Exit{PID: pid, Known: true}
	switch {
	case ws.Signaled():
		e.Signal = ws.Signal()
		e.Code = 128 + int(ws.Signal())
	default:
		e.Code = ws.ExitStatus()
	}
	r.onExit(e)
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
