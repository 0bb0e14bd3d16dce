package supervisor

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/proc"
)

// memEvery is how often the memory of a run with --max-memory is measured.
const memEvery = time.Second

// memoryRunner measures and limits a run's memory; the OS runner is one.
type memoryRunner interface {
	// TreeMemory sums the resident memory of the run's main process and
	// every member of its family, in bytes, and counts them.
	TreeMemory(id proc.Identity, marker, cgroup string) (bytes uint64, procs int, err error)
	// LimitMemory has the kernel enforce limit on the run's cgroup.
	LimitMemory(cgroup string, limit int64) error
}

// Messages of the memory watch and the cron restart, recognised by
// identity when stale.
type (
	memTick   struct{ r *run }
	memResult struct {
		r     *run
		bytes uint64
		procs int
	}
	cronTick struct{ c *cronTimer }
)

// cronTimer is the pending cron restart of a process (p.cron).
type cronTimer struct{ t *time.Timer }

// watchRun starts what watches an up run: its health check and its memory
// limit. A process with neither gets nothing.
func (p *process) watchRun(r *run) {
	p.watchHealth(r)
	p.watchMemory(r)
}

// watchMemory asks the kernel to hold the run's cgroup to --max-memory
// (where the memory controller is delegated) and arms the first
// measurement of the whole tree.
func (p *process) watchMemory(r *run) {
	mr, ok := p.s.runner.(memoryRunner)
	if r == nil || p.meta.MaxMemory <= 0 || !ok {
		return
	}
	if r.cgroup != "" {
		if err := mr.LimitMemory(r.cgroup, p.meta.MaxMemory); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			p.s.log.Warn("cannot set the cgroup's memory limit; tsm enforces --max-memory itself", "name", p.meta.Name, "err", err)
		}
	}
	p.armMemory(r)
}

func (p *process) armMemory(r *run) {
	time.AfterFunc(memEvery, func() { p.inbox.post(memTick{r}) })
}

// memTick measures beside the owner (a family walk reads the process
// table); one measurement at a time, like health checks.
func (p *process) memTick(m memTick) {
	if m.r != p.run || m.r.exit != nil || !p.live() {
		return
	}
	mr := p.s.runner.(memoryRunner)
	r := m.r
	go func() {
		bytes, n, _ := mr.TreeMemory(r.id, r.marker, r.cgroup)
		p.inbox.post(memResult{r: r, bytes: bytes, procs: n})
	}()
}

// memResult restarts the process gracefully once its tree exceeds the
// limit, recording why.
func (p *process) memResult(m memResult) {
	if m.r != p.run || m.r.exit != nil || !p.live() {
		return
	}
	if int64(m.bytes) <= p.meta.MaxMemory {
		p.armMemory(m.r)
		return
	}
	reason := fmt.Sprintf("memory %s (%d processes) exceeds --max-memory %s", sizeString(int64(m.bytes)), m.procs, sizeString(p.meta.MaxMemory))
	p.event(events.Limit, events.Event{Message: reason + "; restarting"})
	p.restartFor(reason)
}

// armCron schedules the next cron restart of the process (--cron-restart),
// replacing one already scheduled.
func (p *process) armCron() {
	if p.cron != nil {
		p.cron.t.Stop()
		p.cron = nil
	}
	if p.meta.CronRestart == "" || p.state == Deleted {
		return
	}
	sched, err := cron.ParseStandard(p.meta.CronRestart)
	if err != nil {
		p.s.log.Warn("bad cron restart schedule", "name", p.meta.Name, "err", err)
		return
	}
	now := time.Now()
	ct := &cronTimer{}
	ct.t = time.AfterFunc(sched.Next(now).Sub(now), func() { p.inbox.post(cronTick{ct}) })
	p.cron = ct
}

// cronFired restarts a running process on its schedule; a process that is
// not running is left alone. The next one is scheduled either way.
func (p *process) cronFired(m cronTick) {
	if m.c != p.cron {
		return
	}
	p.cron = nil
	defer p.armCron()
	if !p.live() {
		return
	}
	reason := "scheduled restart (--cron-restart " + p.meta.CronRestart + ")"
	p.event(events.Limit, events.Event{Message: reason})
	p.restartFor(reason)
}

// parseCron checks a --cron-restart schedule: five fields (minute hour
// day-of-month month day-of-week) or a descriptor such as @daily.
func parseCron(spec string) error {
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("--cron-restart %q: %v; use five fields (minute hour day month weekday), e.g. \"0 3 * * *\" for 03:00 daily, or @daily, @hourly, @every 6h", spec, err)
	}
	return nil
}

// sizeString renders bytes as 512M, 1.5G, 800K.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%dK", n>>10)
}
