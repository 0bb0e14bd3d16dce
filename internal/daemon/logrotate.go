package daemon

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

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
	rot := newRotator(st, log)
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
		busy, stamped := rot.all(cfg)
		if busy {
			hotUntil = time.Now().Add(rotateHot)
		}
		relays.attach(ctx, stamped, log)
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
	path      cpath
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

// procLogs is what the rotation loop keeps of one process between looks:
// one allocation a process, its paths made once. At 1000 processes the
// loop's state and the garbage of each look (paths, file infos, a map a
// process) were a tenth of the daemon's memory.
type procLogs struct {
	streams [2]seenLog // stdout, stderr
	pol     policyCache
	look    uint64 // the last look that found the process
}

// rotator is the state of the rotation loop.
type rotator struct {
	st    *store.Store
	log   *slog.Logger
	procs map[string]*procLogs // by process name
	look  uint64
	live  []string // reused from look to look
	// The processes directory as it was when last read (see names), and
	// the names it listed, reused.
	dir     cpath
	dirSeen fileSeen
	list    []string
	// stamped is the log files that may have a --log-time pipe: of the
	// processes whose meta.json says log_time, or could not be read. Only
	// those are looked for a pipe (two stats a process a second otherwise).
	stamped []string
}

func newRotator(st *store.Store, log *slog.Logger) *rotator {
	return &rotator{st: st, log: log, procs: map[string]*procLogs{}, dir: newCPath(st.ProcessesDir())}
}

// relistEvery bounds how many looks may trust that the processes directory
// did not change because its mtime and inode did not (a clock set back).
const relistEvery = 10

// names returns the names of the process directories (false: the
// processes directory cannot be read). The directory is read again only
// when it changed since it was last read (a process made or deleted gives
// it a new mtime; trusted once settled, as for meta.json, see
// policyCache), or every relistEvery looks; otherwise the processes of the
// last look are the ones: at 1000 processes a read each second was most
// of what an idle daemon still allocated (issue 12).
func (r *rotator) names() ([]string, bool) {
	var fi unix.Stat_t
	if err := stat(r.dir, &fi, true); err != nil {
		return nil, false
	}
	if r.dirSeen.unchanged(&fi) && r.look%relistEvery != 0 {
		r.list = r.list[:0]
		for name := range r.procs {
			r.list = append(r.list, name)
		}
		return r.list, true
	}
	entries, err := os.ReadDir(r.dir.String())
	if err != nil {
		return nil, false
	}
	r.list = r.list[:0]
	for _, e := range entries {
		// Tombstones of deletes in flight start with a dot.
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			r.list = append(r.list, e.Name())
		}
	}
	r.dirSeen.saw(&fi)
	return r.list, true
}

// all rotates every log file above its cap, notes time checkpoints, and
// then trims the state directory to its total; it reports whether a file
// was rotated or is growing fast (and should be looked at again soon), and
// the log files that may have a --log-time pipe (valid until the next call).
func (r *rotator) all(cfg logs.Config) (busy bool, stamped []string) {
	names, ok := r.names()
	if !ok {
		return false, nil
	}
	r.look++
	live, stamped := r.live[:0], r.stamped[:0]
	rotated, hot := false, false
	for _, name := range names {
		p := r.procs[name]
		if p == nil {
			p = &procLogs{streams: [2]seenLog{{path: newCPath(r.st.OutLog(name))}, {path: newCPath(r.st.ErrLog(name))}}}
			r.procs[name] = p
		}
		p.look = r.look
		pol, pid, logTime := p.pol.policy(r.st, name, cfg.Policy)
		for i := range p.streams {
			s := &p.streams[i]
			path := s.path.String()
			live = append(live, path)
			if logTime {
				stamped = append(stamped, path)
			}
			// No os.Lstat: no FileInfo to collect, two a process a second.
			var fi unix.Stat_t
			if err := stat(s.path, &fi, false); err != nil {
				// Removed while the process runs: it still writes to the
				// file, which must stay within its cap all the same.
				if via, ok := logs.RemovedLog(path, pid, i+1); ok {
					if _, err := logs.RotateVia(path, via, pol); err != nil {
						r.log.Debug("rotating a removed log failed", "file", path, "err", err)
					}
				}
				continue
			}
			// Busy: it grew by a tenth of its cap since the last look.
			if !s.noted.IsZero() && pol.MaxSize > 0 && fi.Size-s.looked > pol.MaxSize/10 {
				hot = true
			}
			s.note(fi.Size, r.log)
			s.looked = fi.Size
			if pol.MaxSize <= 0 || fi.Size <= pol.MaxSize {
				s.failed = "" // what Rotate says of a file within its cap
				continue
			}
			m, err := logs.Rotate(path, pol)
			if err != nil {
				if s.failed != err.Error() {
					s.failed = err.Error()
					r.log.Warn("log rotation failed", "file", path, "err", err)
				}
				continue
			}
			s.failed = ""
			if m != "" {
				rotated = true
				if m != logs.Collapse {
					r.log.Debug("log rotated by copy and truncate; lines written during the copy may be lost", "file", path)
				}
			}
		}
	}
	for name, p := range r.procs {
		if p.look != r.look {
			delete(r.procs, name)
		}
	}
	r.live, r.stamped = live, stamped
	if rotated {
		if gone, err := logs.TrimTotal(live, cfg.TotalMaxSize); err != nil {
			r.log.Warn("trimming rotated logs failed", "err", err)
		} else if len(gone) > 0 {
			r.log.Info("deleted the oldest rotated logs to keep the state directory under its cap", "files", len(gone))
		}
	}
	return rotated || hot, stamped
}

// policyCache is a process's rotation limits as its meta.json said when
// it had modification time mod and inode ino, over the default def. It is
// trusted only once settled (see there): meta.json is replaced, not
// rewritten, but by exchange with its spare, so a new inode tells a change
// only until the old one comes back.
type policyCache struct {
	meta     cpath // meta.json's path, made at the first look
	seen     fileSeen
	def, pol logs.Policy
	pid      int
	logTime  bool // log_time, or meta.json could not be read
}

// fileSeen is a file's modification time and inode when it was read.
type fileSeen struct {
	mod  unix.Timespec
	ino  uint64
	read bool // mod and ino are set
	// settled: mod was older than coarseClock when the file was read, so
	// any later write gives it another mtime. meta.json alternates between
	// two inodes (it is exchanged with its spare), and a file system's clock
	// ticks every few ms: the third write of a quick series can bring back
	// the inode and the mtime of the first, which a look between them saw.
	settled bool
}

// unchanged tells whether fi, the file's stat now, shows it as it was read.
func (f *fileSeen) unchanged(fi *unix.Stat_t) bool {
	return f.read && f.settled && f.mod == fi.Mtim && f.ino == uint64(fi.Ino)
}

// saw records fi, the file's stat just before it was read.
func (f *fileSeen) saw(fi *unix.Stat_t) {
	settled := time.Since(time.Unix(fi.Mtim.Unix())) > coarseClock
	*f = fileSeen{mod: fi.Mtim, ino: uint64(fi.Ino), read: true, settled: settled}
}

// policy returns the rotation limits of process name: the state
// directory's, overridden by its own (start --log-max-size/--log-keep), and
// the PID of its run, and whether it may write through --log-time pipes
// (log_time, or a meta.json that cannot be read: a pipe nobody relays would
// block the process). Its meta.json is read again only when it changed: one
// stat a look.
func (c *policyCache) policy(st *store.Store, name string, def logs.Policy) (logs.Policy, int, bool) {
	if c.meta.s == "" {
		c.meta = newCPath(st.MetaPath(name))
	}
	var fi unix.Stat_t
	if err := stat(c.meta, &fi, true); err != nil {
		return def, 0, true
	}
	if c.seen.unchanged(&fi) && c.def == def {
		return c.pol, c.pid, c.logTime
	}
	pol, pid, logTime := def, 0, true
	if m, err := st.ReadMeta(name); err == nil {
		pid, logTime = m.PID, m.LogTime
		if m.LogMaxSize != nil {
			pol.MaxSize = *m.LogMaxSize
		}
		if m.LogKeep != nil {
			pol.Keep = *m.LogKeep
		}
	}
	c.seen.saw(&fi)
	c.def, c.pol, c.pid, c.logTime = def, pol, pid, logTime
	return pol, pid, logTime
}

// coarseClock bounds the tick of the clock that stamps a file's mtime (the
// kernel's coarse clock: one to ten ms), with room to spare: a meta.json
// read within it of its mtime is read again at the next look.
const coarseClock = 100 * time.Millisecond

// note notes a time checkpoint for a stream that grew since the last one,
// at most once per checkpointEvery. A stream seen for the first time is
// only remembered: what it holds was written before, at a time unknown.
func (s *seenLog) note(size int64, log *slog.Logger) {
	if s.noted.IsZero() {
		s.size, s.end, s.noted = size, logs.End(s.path.String()), time.Now()
		return
	}
	if size == s.size || time.Since(s.noted) < checkpointEvery {
		return
	}
	s.size = size
	if end := logs.End(s.path.String()); end != s.end {
		s.end, s.noted = end, time.Now()
		if err := logs.Note(s.path.String(), end, s.noted); err != nil {
			log.Debug("cannot note a log time checkpoint", "file", s.path.String(), "err", err)
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

// attach starts a relay for each of paths (log files) that has a pipe and
// none yet, and stops those whose pipe is gone (deleted).
func (s *stampers) attach(ctx context.Context, paths []string, log *slog.Logger) {
	for _, path := range paths {
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
