package supervisor

import (
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/proc"
)

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// ending is one run being ended: what the ending goroutine needs, copied
// from the process so that the goroutine touches nothing the process owns.
type ending struct {
	pid     int // the main process (it may have exited already)
	marker  string
	since   uint64 // the main process's start time: older processes cannot descend from it
	cgroup  string
	child   bool            // the main process is this daemon's child
	exited  <-chan struct{} // closed when the main process has exited
	grace   time.Duration   // between the stop signal and the kill signal
	stopSig syscall.Signal
	killSig syscall.Signal
	// resumed: a new daemon finishes a stop the last one began, whose
	// stop signal already went out: none is sent again.
	resumed bool
	// sent is called once the stop signal has gone out and the run
	// outlived a poll interval (see end).
	sent func()

	hurryOnce sync.Once
	hurried   chan struct{} // closed by hurry

	// over is set when the ending has returned, before its result is
	// posted: a stop-sent record still queued behind it is moot.
	over atomic.Bool
}

// hurry makes the kill signal go out now (a kill during a stop).
func (e *ending) hurry() { e.hurryOnce.Do(func() { close(e.hurried) }) }

// endResult is what an ending did.
type endResult struct {
	descendants int  // processes of the run besides its main process
	forced      bool // the kill signal was needed
}

// pollEvery is how often an ending checks whether the processes it
// signalled are gone.
const pollEvery = 20 * time.Millisecond

// end ends a run and every process it started, with one signal per process
// per step: the stop signal goes once to the run's process group (which
// holds the main process and whatever it did not move elsewhere) and once
// to each member outside that group; when the grace period is over (or at
// once for a kill), the kill signal goes once to what survived. Members
// are the run's tree, session, marker carriers and cgroup, found before
// signalling (once the main process dies its children are re-parented) and
// again before giving up, for late arrivals. Each member is pinned by
// identity when found, so a recycled PID never gets a signal.
func (s *Supervisor) end(e *ending) endResult {
	r := s.runner
	var res endResult
	mainDone := func() bool {
		select {
		case <-e.exited:
			return true
		default:
			return false
		}
	}
	// The group is signalled as one only where the main process leads it
	// (a process the bash TSM started may not), or, once the main process
	// is gone, while the group still has members: Linux does not hand out
	// a PID that still names a process group, so they are ours.
	groupLed := false
	if !mainDone() {
		pg, err := r.Pgid(e.pid)
		groupLed = err == nil && pg == e.pid
	} else if ok, _ := r.GroupExists(e.pid); ok && !s.pidInUse(e.pid) {
		// (If the PID names a live process again, it was recycled after
		// the group emptied, and a group of that number is not ours.)
		groupLed = true
	}
	known := map[int]proc.Member{} // every member found, pinned by identity
	find := func() []proc.Member {
		var fam []proc.Member
		if mainDone() && s.pidInUse(e.pid) {
			// The main PID now names another process: its descendants
			// are not ours. Only the marker and the cgroup still tell.
			if e.marker != "" {
				found, _ := r.FindMarked([]string{e.marker})
				fam = found[e.marker]
			}
			for _, pid := range r.CgroupMembers(e.cgroup) {
				if id, err := r.Identify(pid); err == nil {
					fam = append(fam, proc.Member{Identity: id})
				}
			}
		} else {
			fam, _ = r.Family(e.pid, e.marker, e.since, e.cgroup)
		}
		var fresh []proc.Member
		for _, m := range fam {
			if m.PID == e.pid {
				continue
			}
			if old, ok := known[m.PID]; ok && old.Identity == m.Identity {
				continue
			}
			known[m.PID] = m
			fresh = append(fresh, m)
		}
		return fresh
	}
	// signal sends sig once to each of members; with group, to the run's
	// process group as one (and members in it are skipped), as long as
	// the group is surely the run's: its leader, the main process, still
	// runs, or one of members is in it (a group with members keeps its
	// number from being handed out again).
	signal := func(members []proc.Member, sig syscall.Signal, group bool) {
		group = group && groupLed && (!mainDone() || slices.ContainsFunc(members, func(m proc.Member) bool { return m.PGID == e.pid }))
		if group {
			r.SignalGroup(e.pid, sig)
		} else if !groupLed && !mainDone() {
			r.Signal(e.pid, sig)
		}
		for _, m := range members {
			if group && m.PGID == e.pid {
				continue // the group signal reached it
			}
			r.SignalIdentity(m.Identity, sig) // never a recycled PID
		}
	}
	alive := func() []proc.Member {
		var out []proc.Member
		for _, m := range known {
			if ok, err := r.Check(m.Identity); ok || err != nil {
				out = append(out, m)
			}
		}
		return out
	}

	members := find()
	deadline := time.Now().Add(e.grace)
	settled := false // everything was gone, and checked for late arrivals
	if e.grace > 0 {
		// The record that the stop signal went out (so that a new daemon
		// does not send it again) is made only for a run still going
		// after a poll interval, and before the kill signal: most runs end
		// sooner, and then the record that they ended is the only write.
		// A daemon that dies within that interval leaves a stop that the
		// next one repeats, as it would if it died before the record.
		var sentAt time.Time
		noteSent := func() {
			if !sentAt.IsZero() && e.sent != nil {
				e.sent()
			}
			sentAt = time.Time{}
		}
		if !e.resumed {
			signal(members, e.stopSig, true)
			sentAt = time.Now()
		}
		// The main process's exit is the usual sign that the run is over:
		// it is checked at once, not at the next poll. The polls that
		// remain (members outside the main process, late arrivals) start
		// at 1 ms and slow down to pollEvery, as readiness's do.
		exited := e.exited
		begun := time.Now()
		tick := time.NewTimer(pollInterval(0))
	wait:
		for {
			if mainDone() && len(alive()) == 0 {
				if !s.mayRemain(e.pid, e.cgroup, e.child) {
					settled = true
					break
				}
				// Late arrivals, forked while the others shut down, get
				// their first signal now and the rest of the grace period.
				late := find()
				if len(late) == 0 {
					settled = true
					break
				}
				if !e.resumed {
					signal(late, e.stopSig, false)
				}
			}
			select {
			case <-exited:
				exited = nil // closed: checked once, then by mainDone
			case <-e.hurried:
				break wait
			case <-s.done:
				return res
			case <-tick.C:
				if !time.Now().Before(deadline) {
					break wait
				}
				if !sentAt.IsZero() && time.Since(sentAt) >= pollEvery {
					noteSent()
				}
				// Never past the deadline: the kill signal is due then.
				tick.Reset(min(pollInterval(time.Since(begun)), pollEvery, time.Until(deadline)))
			}
		}
		tick.Stop()
		if !settled {
			noteSent()
		}
	}
	if e.grace > 0 && !settled {
		find() // the last late arrivals
	}
	survivors := alive()
	res.descendants = len(known)
	if !mainDone() || len(survivors) > 0 {
		res.forced = true
		signal(survivors, e.killSig, true)
		if e.killSig == sigKill {
			r.KillCgroup(e.cgroup)
		}
	}
	// Wait for the kernel to take them (and for the main process's exit to
	// be reaped), but never hang a command on an unkillable process.
	limit := time.After(5 * time.Second)
	for !mainDone() || len(alive()) > 0 {
		select {
		case <-limit:
			s.log.Warn("processes survived the kill signal", "pid", e.pid)
			return res
		case <-s.done:
			return res
		case <-time.After(pollEvery):
		case <-e.exited:
		}
	}
	r.RemoveCgroup(e.cgroup)
	return res
}

// mayRemain reports, cheaply, whether anything of a run may still be
// alive now that its main process pid is gone: its cgroup or process
// group has members, or (for a run this daemon spawned, whose orphans the
// subreaper daemon inherits) the daemon has a child that is no run's main
// process. True when it cannot tell cheaply (an adopted run, macOS): then
// a walk of the process table decides.
func (s *Supervisor) mayRemain(pid int, cgroup string, child bool) bool {
	r := s.runner
	if r.CgroupPopulated(cgroup) {
		return true
	}
	if ok, err := r.GroupExists(pid); ok || err != nil {
		return true
	}
	if !child {
		return true
	}
	if cgroup != "" {
		// Everything a run of ours forks starts in its cgroup, and only
		// privilege moves a process out of it.
		return false
	}
	kids, ok := r.Children()
	if !ok {
		return true
	}
	for _, k := range kids {
		if !s.isMain(k) {
			return true
		}
	}
	return false
}

// pidInUse reports whether a process with this PID exists now.
func (s *Supervisor) pidInUse(pid int) bool {
	_, err := s.runner.Identify(pid)
	return err == nil
}
