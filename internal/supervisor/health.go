package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/health"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
)

// healthWatch is the health check of one run, owned by the process's
// goroutine. One check is in flight at most: the next is armed only when
// the last one's result arrives, so a slow check never starts a second.
type healthWatch struct {
	probe health.Probe
	cfg   health.Settings
	fails int // consecutive failures
}

// Messages of the health check; each carries its run, so a tick or result
// of a run that has since ended is recognised and dropped.
type (
	healthTick   struct{ r *run }
	healthResult struct {
		r   *run
		err error
	}
)

// healthOf returns the health settings a record carries.
func healthOf(m store.Meta) health.Settings {
	return health.Settings{
		Spec:     m.HealthCheck,
		Interval: time.Duration(m.HealthIntervalMS) * time.Millisecond,
		Timeout:  time.Duration(m.HealthTimeoutMS) * time.Millisecond,
		Retries:  m.HealthRetries,
	}.WithDefaults()
}

// watchHealth arms the first check of r, now up. A process without a
// health check gets nothing: no timer, no goroutine.
func (p *process) watchHealth(r *run) {
	if r == nil || p.meta.HealthCheck == "" || r.health != nil {
		return
	}
	cfg := healthOf(p.meta)
	probe, err := p.s.newProbe(cfg.Spec, int(p.meta.Port), p.launch)
	if err != nil {
		p.event(events.Unhealthy, events.Event{Message: "health check not run: " + err.Error()})
		return
	}
	r.health = &healthWatch{probe: probe, cfg: cfg}
	p.armHealth(r)
}

func (p *process) armHealth(r *run) {
	time.AfterFunc(r.health.cfg.Interval, func() { p.inbox.post(healthTick{r}) })
}

// healthTick runs one check beside the owner (never under a lock, never
// holding up a message).
func (p *process) healthTick(m healthTick) {
	if m.r != p.run || m.r.exit != nil || !p.state.up() {
		return // the run ended, or is being ended: its checks end with it
	}
	h, r := m.r.health, m.r
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
		defer cancel()
		go func() {
			select {
			case <-p.s.done: // the daemon is going: so is the check
				cancel()
			case <-ctx.Done():
			}
		}()
		err := h.probe.Check(ctx)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", h.cfg.Timeout)
		}
		p.inbox.post(healthResult{r: r, err: err})
	}()
}

// healthResult moves online ⇄ unhealthy, and restarts the process after
// the configured number of failures in a row, recording why.
func (p *process) healthResult(m healthResult) {
	r := m.r
	if r != p.run || r.exit != nil || !p.state.up() {
		return
	}
	h := r.health
	if m.err == nil {
		h.fails = 0
		if p.state == Unhealthy {
			p.move(Online)
			p.meta.HealthError = ""
			p.save()
			p.event(events.Healthy, events.Event{Message: "health check passes again"})
		}
		p.armHealth(r)
		return
	}
	h.fails++
	p.meta.HealthError = m.err.Error()
	if h.fails < h.cfg.Retries {
		if p.state == Online {
			p.move(Unhealthy)
			p.save()
		} else {
			p.publish()
		}
		p.event(events.Unhealthy, events.Event{Message: fmt.Sprintf("health check failed (%d of %d): %v", h.fails, h.cfg.Retries, m.err)})
		p.armHealth(r)
		return
	}
	reason := fmt.Sprintf("%d health checks failed in a row: %v", h.fails, m.err)
	p.event(events.Unhealthy, events.Event{Message: reason + "; restarting"})
	p.restartFor(reason)
}

// realProbe makes the probe of a health spec (Supervisor.newProbe; tests
// replace it).
func (s *Supervisor) realProbe(spec string, port int, launch store.Launch) (health.Probe, error) {
	return health.Parse(spec, port, func(ctx context.Context, cmd string) error {
		return s.runProbeCommand(ctx, cmd, launch)
	})
}

// noExec stands in for the exec runner where a spec is only validated.
func noExec(context.Context, string) error { return nil }

// probeSpawner runs a command as the daemon's child without a cgroup (a
// probe is not part of the run); the OS runner is one.
type probeSpawner interface {
	SpawnProbe(s proc.SpawnSpec) (int, error)
}

// runProbeCommand runs an exec: check under /bin/sh in the process's
// directory and environment, and ends its process group when it exits
// or when ctx is done. Its exit comes through the daemon's one reaper
// (see awaitProbe).
func (s *Supervisor) runProbeCommand(ctx context.Context, cmd string, launch store.Launch) error {
	ps, ok := s.runner.(probeSpawner)
	if !ok {
		return errors.New("exec checks are not available with this runner")
	}
	dir := launch.Cwd
	if dir == "" {
		dir = "/"
	}
	pid, err := ps.SpawnProbe(proc.SpawnSpec{Argv: []string{"/bin/sh", "-c", cmd}, Env: launch.Env, Dir: dir, Stdout: os.DevNull, Stderr: os.DevNull})
	if err != nil {
		return err
	}
	ch := s.awaitProbe(pid)
	select {
	case x := <-ch:
		// What the check left running in its group (cmd &) ends with it:
		// else every check leaks one. The group's ID stays unreused while
		// any member lives, so this reaches only the check's own.
		proc.SignalGroup(pid, syscall.SIGKILL)
		if x.Known && x.Code == 0 && x.Signal == 0 {
			return nil
		}
		return fmt.Errorf("exit code %d", x.Code)
	case <-ctx.Done():
		proc.SignalGroup(pid, syscall.SIGKILL)
		<-ch
		return ctx.Err()
	}
}

// awaitProbe registers pid as a probe whose exit handleExit must deliver
// on the returned channel; an exit that came first waits in early.
func (s *Supervisor) awaitProbe(pid int) chan proc.Exit {
	ch := make(chan proc.Exit, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.early[pid]; ok {
		delete(s.early, pid)
		ch <- e.x
		return ch
	}
	s.probes[pid] = ch
	return ch
}

// probeExitLocked hands the exit of a probe command to its waiter.
func (s *Supervisor) probeExitLocked(x proc.Exit) bool {
	ch, ok := s.probes[x.PID]
	if ok {
		delete(s.probes, x.PID)
		ch <- x
	}
	return ok
}
