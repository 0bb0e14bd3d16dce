package daemon

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/store"
)

// Rotation looks at every log file once a second (one stat each, so an idle
// process costs next to nothing), and ten times a second for rotateHot
// after a file was rotated or grew by a tenth of its cap between two looks,
// so that a fast writer overshoots the cap by about what it writes in a
// tenth of a second.
const (
	rotateIdle = time.Second
	rotateBusy = 100 * time.Millisecond
	rotateHot  = 10 * time.Second
)

// rotateLogs keeps the log files of st's processes within the limits of the
// state directory's config.toml until ctx is done. The config is read again
// when it changes; a bad one is reported and the previous one kept.
func rotateLogs(ctx context.Context, st *store.Store, log *slog.Logger) {
	cfgPath := paths.Config(st.Root)
	cfg := logs.DefaultConfig()
	var cfgMod time.Time // of the config file in force; zero: none
	var hotUntil time.Time
	seen := map[string]*seenLog{}
	policies := map[string]policyCache{}
	relays := stampers{running: map[string]context.CancelFunc{}}
	defer relays.stopAll()
	t := time.NewTimer(0) // a first look at once: relays of --log-time pipes resume
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch fi, err := os.Stat(cfgPath); {
		case err == nil && !fi.ModTime().Equal(cfgMod):
			cfgMod = fi.ModTime()
			if c, err := logs.LoadConfig(cfgPath); err != nil {
				log.Warn("bad config; keeping the log limits in force", "err", err)
			} else {
				cfg = c
			}
		case err != nil && !cfgMod.IsZero():
			cfg, cfgMod = logs.DefaultConfig(), time.Time{} // removed
		}
		busy, live := rotateAll(st, cfg, seen, policies, log)
		if busy {
			hotUntil = time.Now().Add(rotateHot)
		}
		relays.attach(ctx, live, log)
		if time.Now().Before(hotUntil) {
			t.Reset(rotateBusy)
		} else {
			t.Reset(rotateIdle)
		}
	}
}

// seenLog is what the rotation loop last saw of a log file, to note a time
// checkpoint (logs.Note) about once a second while it grows.
type seenLog struct {
	size, end int64 // when the last checkpoint was noted
	noted     time.Time
	looked    int64 // size at the last look
	// failed is the last rotation failure said in daemon.log: a failure
	// that persists (a file made unreadable, a directory in its place)
	// is said once, not at every look, which would grow daemon.log by
	// ten lines a second.
	failed string
}

// checkpointEvery is how often a growing stream gets a time checkpoint: the
// precision of `tsm logs --since/--timestamps`.
const checkpointEvery = time.Second

// rotateAll rotates every log file above its cap, notes time checkpoints,
// and then trims the state directory to its total; it reports whether a
// file was rotated or is growing fast (and should be looked at again soon),
// and the log files of every process.
func rotateAll(st *store.Store, cfg logs.Config, seen map[string]*seenLog, policies map[string]policyCache, log *slog.Logger) (busy bool, live []string) {
	entries, err := os.ReadDir(st.ProcessesDir())
	if err != nil {
		return false, nil
	}
	rotated, hot := false, false
	for _, e := range entries {
		// Tombstones of deletes in flight start with a dot.
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		pol, pid := processPolicy(st, e.Name(), cfg.Policy, policies)
		for fd, path := range map[int]string{1: st.OutLog(e.Name()), 2: st.ErrLog(e.Name())} {
			live = append(live, path)
			fi, err := os.Lstat(path)
			if err != nil {
				// Removed while the process runs: it still writes to the
				// file, which must stay within its cap all the same.
				if via, ok := logs.RemovedLog(path, pid, fd); ok {
					if _, err := logs.RotateVia(path, via, pol); err != nil {
						log.Debug("rotating a removed log failed", "file", path, "err", err)
					}
				}
				continue
			}
			// Busy: it grew by a tenth of its cap since the last look.
			if s := seen[path]; s != nil && pol.MaxSize > 0 && fi.Size()-s.looked > pol.MaxSize/10 {
				hot = true
			}
			noteTime(path, fi.Size(), seen, log)
			seen[path].looked = fi.Size()
			m, err := logs.Rotate(path, pol)
			if err != nil {
				if s := seen[path]; s.failed != err.Error() {
					s.failed = err.Error()
					log.Warn("log rotation failed", "file", path, "err", err)
				}
				continue
			}
			seen[path].failed = ""
			if m != "" {
				rotated = true
				if m != logs.Collapse {
					log.Debug("log rotated by copy and truncate; lines written during the copy may be lost", "file", path)
				}
			}
		}
	}
	for path := range seen {
		if !slices.Contains(live, path) {
			delete(seen, path)
		}
	}
	for name := range policies {
		if !slices.Contains(live, st.OutLog(name)) {
			delete(policies, name)
		}
	}
	if rotated {
		if gone, err := logs.TrimTotal(live, cfg.TotalMaxSize); err != nil {
			log.Warn("trimming rotated logs failed", "err", err)
		} else if len(gone) > 0 {
			log.Info("deleted the oldest rotated logs to keep the state directory under its cap", "files", len(gone))
		}
	}
	return rotated || hot, live
}

// policyCache is a process's rotation limits as its meta.json said when
// it had modification time mod, over the default def.
type policyCache struct {
	mod      time.Time
	def, pol logs.Policy
	pid      int
}

// processPolicy returns the rotation limits of process name: the state
// directory's, overridden by its own (start --log-max-size/--log-keep), and
// the PID of its run. Its meta.json is read again only when it changed: one
// stat a look.
func processPolicy(st *store.Store, name string, def logs.Policy, cache map[string]policyCache) (logs.Policy, int) {
	fi, err := os.Stat(st.MetaPath(name))
	if err != nil {
		return def, 0
	}
	if c, ok := cache[name]; ok && c.mod.Equal(fi.ModTime()) && c.def == def {
		return c.pol, c.pid
	}
	pol, pid := def, 0
	if m, err := st.ReadMeta(name); err == nil {
		pid = m.PID
		if m.LogMaxSize != nil {
			pol.MaxSize = *m.LogMaxSize
		}
		if m.LogKeep != nil {
			pol.Keep = *m.LogKeep
		}
	}
	cache[name] = policyCache{fi.ModTime(), def, pol, pid}
	return pol, pid
}

// noteTime notes a time checkpoint for a stream that grew since the last
// one, at most once per checkpointEvery. A stream seen for the first time is
// only remembered: what it holds was written before, at a time unknown.
func noteTime(path string, size int64, seen map[string]*seenLog, log *slog.Logger) {
	s := seen[path]
	if s == nil {
		seen[path] = &seenLog{size: size, end: logs.End(path), noted: time.Now()}
		return
	}
	if size == s.size || time.Since(s.noted) < checkpointEvery {
		return
	}
	s.size = size
	if end := logs.End(path); end != s.end {
		s.end, s.noted = end, time.Now()
		if err := logs.Note(path, end, s.noted); err != nil {
			log.Debug("cannot note a log time checkpoint", "file", path, "err", err)
		}
	}
}

// stampers relays the named pipes of --log-time processes into their log
// files (logs.Stamp), one goroutine per pipe, for as long as the pipe exists.
// Only the rotation loop touches it.
type stampers struct {
	running map[string]context.CancelFunc // by log file
	wg      sync.WaitGroup
}

// attach starts a relay for each log file that has a pipe and none yet, and
// stops those whose pipe is gone (deleted).
func (s *stampers) attach(ctx context.Context, live []string, log *slog.Logger) {
	for _, path := range live {
		if _, ok := s.running[path]; ok {
			continue
		}
		if fi, err := os.Lstat(logs.PipePath(path)); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		s.running[path] = cancel
		s.wg.Go(func() {
			if err := logs.Stamp(sctx, path); err != nil {
				log.Warn("relaying a --log-time pipe failed", "file", path, "err", err)
			}
		})
	}
	for path, cancel := range s.running {
		if _, err := os.Lstat(logs.PipePath(path)); err != nil {
			cancel()
			delete(s.running, path)
		}
	}
}

// stopAll ends every relay after the write it is doing: what waits in a pipe
// stays there for the next daemon.
func (s *stampers) stopAll() {
	for _, cancel := range s.running {
		cancel()
	}
	s.wg.Wait()
}
