package supervisor

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
)

// Recovery: how a process a new daemon loaded from disk resumes from its
// record, and how runs this daemon did not spawn are watched.

// markedSet is the processes found carrying one marker; next: the marker
// of the run after the recorded one.
type markedSet struct {
	c    []proc.Member
	next bool
}

// nextMarker is the marker the run after m's current one gets: an
// environment entry unique to the entry (RunBase) and the run.
func nextMarker(m store.Meta) string {
	return fmt.Sprintf("%s=%s/%d", markerKey, m.RunBase, m.Run+1)
}

// runMarker is the marker of m's recorded run, as spawn made it; "" for a
// record without a run of the daemon's (the bash TSM's).
func runMarker(m store.Meta) string {
	if m.RunBase == "" || m.Run < 1 {
		return ""
	}
	return fmt.Sprintf("%s=%s/%d", markerKey, m.RunBase, m.Run)
}

// adopt watches a live main process this daemon did not spawn.
func (p *process) adopt(pid int, id proc.Identity, started time.Time) *run {
	r := &run{pid: pid, id: id, cgroup: p.meta.Cgroup, marker: p.meta.Marker, started: started,
		port: int(p.meta.Port), exited: make(chan struct{})}
	p.run = r
	p.s.track(pid, p)
	go p.watch(r)
	return r
}

// watch asks the runner to report r's exit; "cannot tell" is retried, never
// taken for dead.
func (p *process) watch(r *run) {
	same := func() (bool, error) {
		if r.id.StartTime == 0 {
			_, err := p.s.runner.Identify(r.pid)
			if errors.Is(err, proc.ErrNoProcess) {
				return false, nil
			}
			return err == nil, err
		}
		return p.s.runner.Check(r.id)
	}
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err := p.s.runner.Watch(r.pid, same)
		if err == nil || errors.Is(err, proc.ErrGone) {
			p.inbox.post(watchMsg{r: r, err: err})
			return
		}
		p.s.log.Warn("cannot watch a process yet; retrying", "name", p.pub.Name, "pid", r.pid, "err", err)
		select {
		case <-r.exited:
			return
		case <-p.s.done:
			return
		case <-time.After(delay):
		}
	}
}

func (p *process) watched(m watchMsg) {
	if m.err == nil || m.r != p.run || m.r.exit != nil {
		return
	}
	// Gone before it could be watched: the same as an exit nobody saw.
	p.s.untrack(m.r.pid)
	p.exited(proc.Exit{PID: m.r.pid})
}

// recover resumes from the record a previous daemon left.
func (p *process) recover(rc recovery) {
	m := &p.meta
	if rc.mended != "" {
		p.save()
		p.event(events.Adopt, events.Event{Message: rc.mended})
	}
	switch p.state {
	case Starting, Online, Unhealthy:
		if p.resume(rc) {
			p.publish()
			p.event(events.Adopt, events.Event{})
			if p.state == Starting {
				p.prepareReady(p.run, p.runLogOffsets())
				go p.awaitReady(p.run)
			} else {
				p.watchRun(p.run)
			}
			return
		}
		if p.state == Starting && m.PID == 0 && len(rc.carriers) == 0 && len(p.launch.Argv) == 0 {
			// A first start the previous daemon died in before it had
			// even stored the command: nothing ran, nothing to keep.
			p.deleteNow(nil, endResult{})
			return
		}
		if p.state == Starting && m.PID == 0 && len(rc.carriers) == 0 && len(rc.successors) == 0 {
			// The previous daemon died inside a spawn, and nothing of it
			// runs: the start it was making is made now, and is not a
			// restart the process earned by crashing.
			p.event(events.Lost, events.Event{Message: "the daemon died while starting it; starting it again"})
			if _, err := p.spawn(false, 0); err != nil {
				p.move(Errored)
				p.save()
				p.event(events.Errored, events.Event{Message: "start failed: " + err.Error()})
			}
			return
		}
		if len(rc.carriers) == 0 && len(rc.successors) == 0 && p.s.rebootedSince(m.BootID) {
			// Up when the machine went down: the shutdown ended it, not a
			// crash, so it comes back whatever its restart policy (PM2's
			// resurrect, with meta.json as the dump) and earns no restart.
			p.event(events.Lost, events.Event{PID: m.PID, Message: "the machine restarted; starting it again"})
			if _, err := p.spawn(false, 0); err != nil {
				p.move(Errored)
				p.save()
				p.event(events.Errored, events.Event{Message: "start after the reboot failed: " + err.Error()})
			}
			return
		}
		// Died unobserved: its status is unknown, so on-failure restarts it.
		p.event(events.Lost, events.Event{PID: m.PID, Message: "died while no daemon was watching; exit status unknown"})
		if len(rc.successors) > 0 {
			// Left by a quick respawn whose main process is gone too (it
			// only happens once nothing of the run before is left).
			m.Marker = nextMarker(*m)
			m.Run++
			rc.carriers = rc.successors
		}
		p.run = &run{pid: m.PID, marker: m.Marker, cgroup: m.Cgroup, started: time.Unix(m.StartTime, 0), exited: make(chan struct{}), exit: &proc.Exit{PID: m.PID}}
		close(p.run.exited)
		if len(rc.carriers) > 0 || m.Cgroup != "" {
			p.beginEnding(nil, "exit")
			return
		}
		p.afterExit()
	case Stopping:
		// Finish the stop the previous daemon began. Its first signal
		// may or may not have gone out: none is sent again, the kill
		// signal follows when the recorded grace period ends.
		if !p.resume(rc) {
			p.run = &run{pid: m.PID, marker: m.Marker, cgroup: m.Cgroup, exited: make(chan struct{}), exit: &proc.Exit{PID: m.PID}}
			close(p.run.exited)
		}
		p.publish()
		grace := max(time.Until(time.UnixMilli(m.StopDeadline)), 0)
		if m.StopSent == 0 && grace == 0 && m.Pending != "kill" {
			// It died before its stop signal went out: the process gets
			// its graceful stop after all.
			grace = p.killTimeout()
			m.StopDeadline = time.Now().Add(grace).UnixMilli()
		}
		p.startEnding(p.newEnding(p.run, grace, m.StopSent != 0), nil)
	case BackingOff:
		p.scheduleRestart(max(time.Until(time.UnixMilli(m.NextRestart)), 0), true)
	}
}

// resume takes over the run a record describes: the recorded main process
// if it is still the very one (or cannot be checked now), else the one
// live session leader carrying the marker of a run whose PID never reached
// the disk: the run of an intent (starting, no PID), or the successor of
// the recorded run (a quick respawn). A process carrying the marker of a
// recorded main process that died is a leftover of that run, never its
// main process.
func (p *process) resume(rc recovery) bool {
	m := &p.meta
	if rc.alive || rc.unsure != nil {
		if rc.unsure != nil {
			p.s.log.Warn("cannot check a recorded process now; watching it as alive", "name", m.Name, "pid", m.PID, "err", rc.unsure)
		}
		p.adopt(m.PID, proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID}, time.Unix(m.StartTime, 0))
		return true
	}
	var sets []markedSet
	if m.PID == 0 {
		sets = append(sets, markedSet{rc.carriers, false})
	}
	sets = append(sets, markedSet{rc.successors, true})
	var leaders []proc.Member
	next := false
	for _, set := range sets {
		for _, c := range set.c {
			if c.PID == c.SID {
				leaders = append(leaders, c)
				next = set.next
			}
		}
	}
	if len(leaders) != 1 {
		return false
	}
	l := leaders[0]
	if next {
		// The automatic respawn whose record the last daemon did not
		// live to write.
		m.Marker = nextMarker(*m)
		m.Run++
		m.Restarts++
		m.StartTime = time.Now().Unix()
	}
	m.PID, m.PIDStartTicks, m.BootID = l.PID, l.StartTime, l.BootID
	p.adopt(l.PID, l.Identity, time.Now())
	p.save()
	return true
}

// rebootedSince reports whether boot, a run's recorded boot ID, is from an
// earlier boot of this machine. Records without one (the bash TSM's) and a
// boot ID that cannot be read say no.
func (s *Supervisor) rebootedSince(boot string) bool {
	if boot == "" {
		return false
	}
	self, err := s.runner.Identify(os.Getpid())
	return err == nil && self.BootID != "" && self.BootID != boot
}
