package supervisor

import (
	"fmt"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/store"
)

// Signal sends sig to the current run of the process name: to its main
// process, or with group to the whole run (its process group and every
// member outside it: tree, session, marker carriers, cgroup), once each.
// Outcome.Descendants counts the processes besides the main one that were
// signalled. A process without a live run is an error that says how to
// start it.
func (s *Supervisor) Signal(name string, sig syscall.Signal, group bool) (Outcome, error) {
	return s.send(name, &request{kind: opSignal, sig: sig, group: group})
}

// Reload does the graceful thing the process declared: its reload signal
// (start --reload-signal) to the main process; without one, a restart
// (Outcome.Action says which happened). env is the caller's environment,
// as for Restart.
func (s *Supervisor) Reload(name string, grace, wait time.Duration, env []string) (Outcome, error) {
	m, err := s.Resolve(name)
	if err != nil {
		return Outcome{}, err
	}
	// A process that is not running has nothing to reload: it starts.
	if sig, ok := ParseSignal(m.ReloadSignal); ok && m.ReloadSignal != "" && m.Status == store.StatusOnline {
		out, err := s.send(name, &request{kind: opSignal, sig: sig})
		if err == nil {
			out.Action = "reloaded"
		}
		return out, err
	}
	return s.Restart(name, grace, wait, env, false, nil)
}

// NotRunningError is a signal for a process without a live run.
type NotRunningError struct {
	Meta store.Meta
	Why  string // "is not running", "is being stopped"
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("%s (id %d) %s, so there is nothing to signal; start it with `tsm restart %s`", e.Meta.Name, e.Meta.TsmID, e.Why, e.Meta.Name)
}

// signalOp serves a signal request. The signals go out beside the owner
// (a group signal walks the process table), on a copy of what they need.
func (p *process) signalOp(r *request) {
	run := p.run
	if run == nil || run.exit != nil || p.state == Stopping {
		why := "is not running"
		if p.state == Stopping {
			why = "is being stopped"
		}
		r.fail(&NotRunningError{Meta: p.meta, Why: why})
		return
	}
	meta, rn := p.meta, p.s.runner
	id, marker, cgroup, sig, group := run.id, run.marker, run.cgroup, r.sig, r.group
	go func() {
		// The main process is pinned by identity: a recycled PID never
		// gets the signal.
		gone := fmt.Errorf("%s (id %d): its main process %d is gone; see `tsm info %s`", meta.Name, meta.TsmID, id.PID, meta.Name)
		out := Outcome{Meta: meta, Action: "signalled"}
		if !group {
			sent, err := rn.SignalIdentity(id, sig)
			switch {
			case err != nil:
				r.fail(fmt.Errorf("signal %s (pid %d): %w", meta.Name, id.PID, err))
			case !sent:
				r.fail(gone)
			default:
				r.done(out)
			}
			return
		}
		if ok, err := rn.Check(id); !ok || err != nil {
			r.fail(gone)
			return
		}
		fam, _ := rn.Family(id.PID, marker, id.StartTime, cgroup)
		pg, err := rn.Pgid(id.PID)
		led := err == nil && pg == id.PID
		if led {
			// The group's number is its leader's PID, checked above: while
			// the leader lives, no other group can have it.
			err = rn.SignalGroup(id.PID, sig)
		} else if sent, serr := rn.SignalIdentity(id, sig); serr != nil {
			err = serr
		} else if !sent {
			r.fail(gone)
			return
		}
		if err != nil {
			r.fail(fmt.Errorf("signal %s (pid %d): %w", meta.Name, id.PID, err))
			return
		}
		for _, m := range fam {
			if led && m.PGID == id.PID {
				out.Descendants++ // the group signal reached it
				continue
			}
			if sent, _ := rn.SignalIdentity(m.Identity, sig); sent {
				out.Descendants++
			}
		}
		r.done(out)
	}()
}
