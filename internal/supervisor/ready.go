package supervisor

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/health"
	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/store"
)

// readyEvery is how often a readiness probe is asked again.
const readyEvery = 100 * time.Millisecond

// logSizes returns the sizes of the process's logs now, so that a log:
// readiness probe reads only what the new run writes.
func (p *process) logSizes() []int64 {
	var sizes []int64
	for _, f := range []string{p.s.store.OutLog(p.meta.Name), p.s.store.ErrLog(p.meta.Name)} {
		var n int64
		if fi, err := os.Stat(f); err == nil {
			n = fi.Size()
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// runLogOffsets returns where the current run's output begins in the
// process's live logs, from the run marks spawn wrote, so that a daemon
// adopting a run still starting reads the lines the run printed while no
// daemon watched (its ready line among them); without a mark, the sizes
// now. A start rotated away since is read from the live file's beginning.
func (p *process) runLogOffsets() []int64 {
	out, errLog := p.s.store.OutLog(p.meta.Name), p.s.store.ErrLog(p.meta.Name)
	runs, _ := logs.ReadRuns(out)
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Run == p.meta.Run {
			return []int64{max(runs[i].Out-logs.Base(out), 0), max(runs[i].Err-logs.Base(errLog), 0)}
		}
	}
	return p.logSizes()
}

// prepareReady gives r the process's readiness probe (--ready), if it has
// one; a probe that cannot be made leaves the default (the port, or the
// settle window), and says so.
func (p *process) prepareReady(r *run, logSizes []int64) {
	if p.meta.ReadyCheck == "" {
		return
	}
	logs := []string{p.s.store.OutLog(p.meta.Name), p.s.store.ErrLog(p.meta.Name)}
	launch := p.launch
	probe, err := health.ParseReady(p.meta.ReadyCheck, int(p.meta.Port), func(ctx context.Context, cmd string) error {
		return p.s.runProbeCommand(ctx, cmd, launch)
	}, logs, logSizes)
	if err != nil {
		p.event(events.Ready, events.Event{Message: "readiness check not run: " + err.Error()})
		return
	}
	r.ready = probe
}

// probeReadiness asks probe until it passes ("check"), the run exits or
// quit closes (""), or wait runs out ("timeout"); each ask is bounded by
// what is left of wait.
func probeReadiness(exited, quit <-chan struct{}, probe health.Probe, wait time.Duration) string {
	if wait <= 0 {
		wait = DefaultWait
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cancelOnEnd(ctx, cancel, exited, quit)
	tick := time.NewTicker(readyEvery)
	defer tick.Stop()
	for {
		if probe.Check(ctx) == nil {
			return "check"
		}
		select {
		case <-exited:
			return ""
		case <-quit:
			return ""
		case <-ctx.Done():
			select {
			case <-exited:
				return ""
			default:
				return "timeout"
			}
		case <-tick.C:
		}
	}
}

// cancelOnEnd cancels ctx (with its cancel) once the run exits or quit
// closes, so that a readiness ask in flight ends with the run.
func cancelOnEnd(ctx context.Context, cancel context.CancelFunc, exited, quit <-chan struct{}) {
	go func() {
		select {
		case <-exited:
		case <-quit:
		case <-ctx.Done():
		}
		cancel()
	}()
}

// lateReadyEvery is how often a --ready check that did not pass within
// --wait is asked again. Each ask may take up to lateReadyTimeout: a check
// slower than the interval (a health endpoint that takes 2 s) must still
// be able to pass.
const (
	lateReadyEvery   = time.Second
	lateReadyTimeout = DefaultWait
)

// probeLate asks probe, after --wait ran out, until it passes ("check") or
// the run exits or quit closes ("").
func probeLate(exited, quit <-chan struct{}, probe health.Probe) string {
	// An ask in flight when the run ends is cut short with it.
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	cancelOnEnd(runCtx, stop, exited, quit)
	tick := time.NewTicker(lateReadyEvery)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return ""
		case <-quit:
			return ""
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(runCtx, lateReadyTimeout)
		err := probe.Check(ctx)
		cancel()
		if err == nil {
			return "check"
		}
	}
}

// readyMessage is the ready event's message: how the run became ready and
// how long it took from its spawn.
func readyMessage(m store.Meta, how string, took time.Duration, ports []int) string {
	after := " after " + took.Round(10*time.Millisecond).String()
	switch how {
	case "port":
		return fmt.Sprintf("port %d accepts connections%s", m.Port, after)
	case "elsewhere":
		return fmt.Sprintf("listening on %s, not on its port %d (it does not read $PORT)%s", joinInts(ports), m.Port, after)
	case "check":
		return fmt.Sprintf("ready (%s passed)%s", m.ReadyCheck, after)
	case "timeout":
		if m.ReadyCheck != "" {
			return fmt.Sprintf("alive, but %s has not passed yet%s; still starting, asked again every %s", m.ReadyCheck, after, lateReadyEvery)
		}
		return fmt.Sprintf("alive, but nothing accepts connections on port %d yet%s", m.Port, after)
	}
	return "alive after " + Settle.String()
}
