// Package daemon owns the supervisor daemon's life: the one-per-state-dir
// lock, the Unix socket (mode 0600, same-UID peers only), the HTTP+JSON API
// that translates api requests into supervisor calls, and shutdown. Services
// are never touched by a daemon exit. It must not import cli or client.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/peer"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/supervisor"
)

// ErrRunning means another daemon already serves this state directory.
var ErrRunning = errors.New("a tsm daemon is already running for this state directory")

// NoCgroupsEnv, when set to anything, makes the daemon run every service
// without a cgroup of its own, as it does where no delegated cgroup v2
// subtree is available.
const NoCgroupsEnv = "TSM_NO_CGROUPS"

// maxSocketPath is the smallest sun_path limit of the supported systems
// (macOS: 104 bytes including the terminating NUL).
const maxSocketPath = 103

// Run serves the state directory root until the daemon is told to stop or
// receives SIGTERM/SIGINT. It returns ErrRunning if another daemon holds the
// lock.
func Run(root string, log *slog.Logger) error {
	ready := readyPipe()
	defer ready.Close() // a failure before listening: the CLI reads EOF
	proc.CloseInherited()
	defer startProfile()()
	if os.Getenv("GOGC") == "" {
		// The live heap is a few MB, so a collection costs ~0.2 ms; at 50
		// the heap may grow by half of it between collections instead of
		// doubling, which keeps the daemon's RSS after a burst of starts
		// or listings at 100 processes 2 MB lower (15.5 -> 13.3 MiB).
		debug.SetGCPercent(50)
	}
	scrubEnv(root)
	if err := paths.CheckPrivate(root); err != nil {
		return err
	}
	st, err := store.New(root)
	if err != nil {
		return err
	}
	if n := len(st.SocketPath()); n > maxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, more than the %d a Unix socket allows; set TSM_DIR to a shorter directory", st.SocketPath(), n, maxSocketPath)
	}
	lock, err := os.OpenFile(st.LockPath(), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("open daemon lock: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrRunning
		}
		return fmt.Errorf("lock %s: %w", st.LockPath(), err)
	}
	// From here on we are the only daemon for root.
	// Read with a child shell, which the reaper the supervisor starts
	// would steal from os/exec: begun before it, read while the daemon
	// loads its state and begins to listen.
	proc.ReadInheritedContext()
	// The cgroup subtree is opened (a few hundred microseconds of /proc
	// and cgroupfs) beside writing the PID file and the event log, before
	// anything may need it.
	cgroupsOpened := make(chan openedCgroups, 1)
	go func() { cgroupsOpened <- openCgroups(root, log) }()
	opened := sync.OnceValue(func() openedCgroups { return <-cgroupsOpened })
	defer func() { opened().cgroups.Release() }()
	if err := st.WriteDaemonPID(os.Getpid()); err != nil {
		return err
	}
	defer removeOwn(st.DaemonPIDPath())()
	// The daemon must not pin the directory it was started from.
	_ = os.Chdir("/")
	if err := proc.BecomeSubreaper(); err != nil {
		log.Warn("cannot become a child subreaper; double-forked descendants will escape to init", "err", err)
	}

	evlog, err := events.Open(st.EventsPath())
	if err != nil {
		return err
	}
	defer evlog.Close()
	evlog.Append(events.Event{Type: events.Daemon, PID: os.Getpid(), Message: "started"})
	defer evlog.Append(events.Event{Type: events.Daemon, PID: os.Getpid(), Message: "stopped; services keep running"})

	cgroups, noCgroups := opened().cgroups, opened().why
	sup := supervisor.New(supervisor.Config{Store: st, Events: evlog, Log: log, Cgroups: cgroups})
	if err := sup.Adopt(); err != nil {
		return fmt.Errorf("load state: %w", err)
	}

	os.Remove(st.SocketPath()) // stale: its daemon is gone, we hold the lock
	ln, err := net.Listen("unix", st.SocketPath())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", st.SocketPath(), err)
	}
	// Closing the listener would unlink the socket by name, which after
	// the state directory was replaced (watchLock) is another daemon's.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(st.SocketPath(), 0o600); err != nil {
		ln.Close()
		return err
	}
	defer removeOwn(st.SocketPath())()

	// A rotation in progress is finished before the daemon exits: one cut
	// short leaves its copy twice (in the rotated and the live file).
	rotateCtx, stopRotate := context.WithCancel(context.Background())
	rotated := make(chan struct{})
	go func() { defer close(rotated); rotateLogs(rotateCtx, st, log) }()
	defer func() { stopRotate(); <-rotated }()

	started := time.Now()
	shutdown := make(chan struct{}, 1)
	h := &handler{sup: sup, store: st, log: log, started: started, shutdown: shutdown, doc: sup, cgroups: noCgroups}
	ops := &inFlight{ops: map[*http.Request]string{}}
	h.inFlight = ops.list
	srv := &http.Server{Handler: trimWhenIdle(ops.wrap(h.routes()), sup.Handled), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(sameUser{ln.(*net.UnixListener), log}) }()
	// Listening: connections wait in the backlog until Serve takes them.
	ready.Write([]byte{1})
	ready.Close()
	// Start-up's code is done with: its pages need not wait for the
	// first idle trim (a burst of starts may keep the daemon busy). Not at
	// once: the CLI that started the daemon is sending its request, whose
	// code would fault back in while it waits.
	defer time.AfterFunc(startupDrop, dropCode).Stop()
	log.Info("daemon started", "pid", os.Getpid(), "dir", root, "processes", sup.Count())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	orphaned, stopWatch := make(chan struct{}), make(chan struct{})
	defer close(stopWatch)
	// The locked file is looked at here: the watch must not use lock,
	// which Run closes without waiting for it to return.
	var held unix.Stat_t
	if unix.Fstat(int(lock.Fd()), &held) == nil {
		go watchLock(lock.Name(), held, orphaned, stopWatch)
	}
	select {
	case err := <-errc:
		return err
	case sig := <-sigs:
		log.Info("daemon stopping; services keep running", "signal", sig.String())
	case <-shutdown:
		log.Info("daemon stopping on request; services keep running")
	case <-orphaned:
		log.Warn("daemon stopping: its state directory was removed or replaced (its lock file is gone); services keep running")
	}
	// Drain: operations in flight (a stop waiting out its grace period, a
	// start waiting for its port) finish and answer their callers; new
	// ones are told to come back. Exiting under them would leave a stop
	// half done for the next daemon and the user with a lost connection.
	ops.close()
	deadline := time.Now().Add(drainLimit)
	for n := ops.count(); n > 0 && time.Now().Before(deadline); n = ops.count() {
		time.Sleep(20 * time.Millisecond)
	}
	if left := ops.list(); len(left) > 0 {
		log.Warn("stopping with operations still in flight; the next daemon finishes them", "ops", left)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return nil
}

// lockCheckEvery is how often the daemon checks that its state directory
// is still the one it locked.
const lockCheckEvery = time.Second

// watchLock closes orphaned once path no longer names the file the daemon
// holds locked (held, as fstat saw it): its state directory was removed
// (rm -rf, a /tmp cleaner) or replaced. No client can reach such a daemon,
// and the next command would start a second one for the same directory, so
// it exits (services keep running, as after `tsm daemon stop`); a new
// daemon adopts whatever records remain. It returns when stop closes.
func watchLock(path string, held unix.Stat_t, orphaned, stop chan struct{}) {
	tick := time.NewTicker(lockCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var now unix.Stat_t
		err := unix.Stat(path, &now)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || (err == nil && (now.Ino != held.Ino || now.Dev != held.Dev)) {
			close(orphaned)
			return
		}
	}
}

// removeOwn notes which file path names now and returns a func that
// removes path only if it still names that file: a daemon whose state
// directory was removed and made again (watchLock) leaves the socket and
// PID file of the daemon that came after it alone. The file is known by
// its inode and its change time: a removed file's inode number is handed
// to the next file made (ext4 does so at once), so the number alone took
// the next daemon's file for this one's. Call it once the file is in its
// final state (a chmod changes the change time).
func removeOwn(path string) func() {
	var own unix.Stat_t
	if unix.Lstat(path, &own) != nil {
		return func() {}
	}
	return func() {
		var now unix.Stat_t
		if unix.Lstat(path, &now) == nil && now.Ino == own.Ino && now.Dev == own.Dev && now.Ctim == own.Ctim {
			os.Remove(path)
		}
	}
}

// readyPipe takes the descriptor named by api.ReadyFDEnv, if any, out of
// the environment and out of reach of the services (close-on-exec), before
// CloseInherited would close it. Nil (no pipe) is safe to write and close.
func readyPipe() *os.File {
	s, ok := os.LookupEnv(api.ReadyFDEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(api.ReadyFDEnv)
	fd, err := strconv.Atoi(s)
	if err != nil || fd <= 2 {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "ready")
}

// scrubEnv leaves the daemon only paths.DaemonEnv of its environment,
// also when it was started by hand (`tsm daemon run`) rather than by a CLI
// that already scrubbed it: no process's launch may ever be built from the
// secrets of whoever started the daemon.
func scrubEnv(root string) {
	env := paths.DaemonEnv(os.Environ(), root)
	os.Clearenv()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
}

// drainLimit bounds how long a stopping daemon waits for operations in
// flight: a stop's grace period is the longest of them in practice.
const drainLimit = 5 * time.Minute

// inFlight counts the requests being served, so a stopping daemon can
// wait for them, and turns new ones away once it is draining.
type inFlight struct {
	mu       sync.Mutex
	ops      map[*http.Request]string
	draining bool
}

func (f *inFlight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.RoutePing {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		if f.draining {
			left := len(f.ops)
			f.mu.Unlock()
			writeJSON(w, http.StatusServiceUnavailable, api.ErrorBody{Error: api.Error{Code: api.CodeFailure,
				Message: fmt.Sprintf("the tsm daemon is stopping (finishing %d operations in flight); run the command again in a moment", left)}})
			return
		}
		f.ops[r] = strings.TrimPrefix(r.URL.Path, "/v1/")
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.ops, r)
			f.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

func (f *inFlight) close() {
	f.mu.Lock()
	f.draining = true
	f.mu.Unlock()
}

func (f *inFlight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

// list names the operations in flight, sorted ("stop", "start", ...).
func (f *inFlight) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.ops))
	for _, op := range f.ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// startupDrop is how long after it begins to listen the daemon unmaps the
// code pages of its start-up.
const startupDrop = 200 * time.Millisecond

// idleTrim is how long the daemon must have answered no request before it
// hands freed memory back to the kernel.
const idleTrim = 2 * time.Second

// After a burst of changes (at least burstChanges POST requests answered,
// none more than burstTrim after the one before: a hundred starts, a stop
// of each process) the trim follows burstTrim of quiet instead: such a burst leaves megabytes of
// garbage and of code faulted in (at 1000 processes, 1 s after the last of
// 1000 starts, RSS was 19.4 MiB of which 7.6 MiB code pages; 12.1 MiB once
// trimmed), and what runs it has finished. Listings do not count: a
// script or benchmark that lists every few tenths of a second would pay
// for faulting the code back in at every call; nor does a user's
// occasional command, or a script's series of them a second apart, which
// still wait idleTrim.
const (
	burstChanges = 32
	burstTrim    = 400 * time.Millisecond
)

// idleRetrim is how often an idle daemon looks whether a collection ran
// since its last trim, and then, if supervision was quiet all along (no
// exit, restart or check: their code must stay mapped, or a respawn would
// fault it back in first), unmaps its code pages again: a collection walks
// stacks and type data, which maps back 1.5-2 MB of read-only data that
// nothing else of an idle daemon uses (at 100 processes, RSS went from 7.8
// to 10.4 MiB at the first collection after the trim, for good).
const idleRetrim = 5 * time.Second

// trimWhenIdle returns the heap left over by a burst of requests (a hundred
// starts, a big listing) to the kernel once the daemon is idle again
// (idleTrim; burstTrim after a burst of changes): the Go runtime would
// otherwise keep it for minutes, and a supervisor lives for weeks beside
// the services it watches. While it stays idle, the code pages a
// collection touched are unmapped again (idleRetrim); activity counts what
// supervision does (Supervisor.Handled).
func trimWhenIdle(next http.Handler, activity func() uint64) http.Handler {
	var (
		served  atomic.Bool  // a request was answered since the last trim
		changes atomic.Int64 // POST requests answered in a row (see burstChanges)
		changed atomic.Int64 // when the last one was answered (Unix ns)
		mu      sync.Mutex   // one trim at a time; guards gcs and acts
		gcs     uint64       // collections at the last trim
		// mapped: what ran after the last trim (the tail of a burst: the
		// rotation loop's first look at new processes, their settling)
		// may have mapped code back that nothing runs again.
		mapped bool
		acts   uint64 // activity at the last look
		t      *time.Timer
	)
	served.Store(true) // the first trim follows start-up and re-adoption
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(idleTrim, func() {
		mu.Lock()
		defer mu.Unlock()
		quiet := activity() == acts
		switch {
		case served.Swap(false):
			changes.Store(0)
			trimNow()
			mapped = true
		case quiet && (mapped || collections() != gcs):
			dropCode()
			mapped = false
		case !quiet:
			acts = activity()
			t.Reset(idleRetrim)
			return // what ran may run again: keep what it touched
		}
		gcs, acts = collections(), activity()
		// A request answered meanwhile set idleTrim; this may push its
		// trim back to idleRetrim, no further.
		t.Reset(idleRetrim)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		served.Store(true)
		if r.Method == http.MethodPost && inBurst(&changes, &changed) {
			t.Reset(burstTrim)
		} else {
			t.Reset(idleTrim)
		}
	})
}

// inBurst counts a change answered now into the burst that changes and
// changed (the time of the last, Unix ns) keep, or begins a new one after
// more than burstTrim without a change, and tells whether the burst has
// reached burstChanges.
func inBurst(changes, changed *atomic.Int64) bool {
	now := time.Now().UnixNano()
	if now-changed.Swap(now) > int64(burstTrim) {
		changes.Store(0)
	}
	return changes.Add(1) >= burstChanges
}

// What trimWhenIdle calls (tests count them instead).
var (
	trimNow     = trim
	dropCode    = func() { proc.DropCodePages() }
	collections = gcCycles
)

// gcCycles is the number of garbage collections the program has completed.
// (runtime/metrics would say the same, but its package initialisation cost
// every tsm command 0.1 ms.)
func gcCycles() uint64 {
	var s debug.GCStats // ~10 KB of pause history, read every 5 s at most
	debug.ReadGCStats(&s)
	return uint64(s.NumGC)
}

// trim returns the free heap to the kernel and unmaps the program's code
// pages (proc.DropCodePages): of a 14 MB resident daemon at 100 processes,
// 8 MB were the executable's text and read-only data, mostly of code that
// ran once (package initialisation, start-up, the CLI's half of the
// binary); what the daemon runs comes back on its next use.
func trim() {
	debug.FreeOSMemory()
	proc.DropCodePages()
}

// sameUser accepts only connections from processes of the daemon's own UID.
type sameUser struct {
	*net.UnixListener
	log *slog.Logger
}

func (l sameUser) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, err := peer.UID(c)
		if err == nil && uid == os.Getuid() {
			return c, nil
		}
		l.log.Warn("rejected connection from another user", "uid", uid, "err", err)
		c.Close()
	}
}

// openedCgroups is what openCgroups found: the subtree, or why there is none
// (for `tsm doctor`).
type openedCgroups struct {
	cgroups *proc.Cgroups
	why     string
}

// openCgroups opens the cgroup subtree of the state directory root: one per
// directory, stable across daemon restarts so that re-adopted services keep
// theirs.
func openCgroups(root string, log *slog.Logger) openedCgroups {
	if os.Getenv(NoCgroupsEnv) != "" {
		// The path of every unprivileged user and every macOS user, which
		// tests and benchmarks must be able to take on a machine that has
		// a delegated subtree.
		log.Info("running without cgroups: " + NoCgroupsEnv + " is set")
		return openedCgroups{why: NoCgroupsEnv + " is set"}
	}
	sum := sha256.Sum256([]byte(root))
	cgroups, err := proc.OpenCgroups("tsm-" + hex.EncodeToString(sum[:6]))
	switch {
	case err != nil:
		log.Info("running without cgroups; stop finds descendants by walking the process table", "reason", err)
		return openedCgroups{why: err.Error()}
	case cgroups == nil:
		return openedCgroups{why: "not available on this system"}
	}
	return openedCgroups{cgroups: cgroups}
}
