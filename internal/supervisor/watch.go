package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/watch"
)

// watchDebounce is how long watched files must be quiet before the
// restart: an editor's save, a build or a git checkout is one restart.
const watchDebounce = 500 * time.Millisecond

// filesChanged is the watcher's report, debounced.
type filesChanged struct{ paths []string }

// watchRoots makes --watch paths absolute (relative to the process's
// directory) and checks that they exist.
func watchRoots(paths []string, cwd string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: --watch %s: %v", spec.ErrMissingFile, p, err)
		}
		out = append(out, filepath.Clean(p))
	}
	return out, nil
}

// armTriggers sets up what restarts the process by itself besides its
// exits: the cron schedule and the file watch.
func (p *process) armTriggers() {
	p.armCron()
	p.watchFiles()
}

// watchFiles subscribes the process to the daemon's file watcher (or
// unsubscribes it when it has no --watch). Its own logs are never
// watched, whatever the paths.
func (p *process) watchFiles() {
	m := p.meta
	if len(m.Watch) == 0 || p.state == Deleted {
		p.s.files.Remove(m.Name)
		return
	}
	ignore := append(append([]string{p.s.store.ProcessesDir()}, watch.DefaultIgnore...), m.WatchIgnore...)
	inbox := &p.inbox
	err := p.s.files.Add(m.Name, m.Watch, ignore, func(changed []string) { inbox.post(filesChanged{changed}) })
	if err != nil {
		p.event(events.Watch, events.Event{Message: "not watching files: " + err.Error()})
	}
}

// filesChanged restarts a running process through the normal restart
// path; a process that is not running (stopped, being started or ended) is
// left alone — but one still waiting for its --ready check past --wait is
// restarted: the edit may be what it needs.
func (p *process) filesChanged(m filesChanged) {
	if !p.live() {
		return
	}
	what := m.paths[0]
	if len(m.paths) > 1 {
		what += fmt.Sprintf(" and %d more", len(m.paths)-1)
	}
	reason := "files changed: " + what
	p.event(events.Watch, events.Event{Message: reason + "; restarting"})
	p.restartFor(reason)
}
