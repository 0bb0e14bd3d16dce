// Package supervisor owns the managed processes: their table, their
// lifecycle (start, readiness, stop with tree kill, restart, delete), the
// restart policy with backoff, and re-adoption of live services when a new
// daemon starts. It is the only writer of runtime state on disk (through
// store). It must not import cli, client or daemon.
package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/target"
)

// Supervisor runs processes and keeps their state on disk.
type Supervisor struct {
	store   *store.Store
	runner  Runner
	sampler *proc.Sampler
	backoff Backoff
	sys     spec.System // base, plus the ports of tsm's own processes
	base    spec.System // the OS, or a test's fake
	events  *events.Log
	log     *slog.Logger

	// mu guards procs, byPID and every field of every entry except opMu.
	// It is never held while waiting for a process: long operations hold the
	// entry's opMu instead.
	mu       sync.Mutex
	portsMu  sync.Mutex // orders writes of the ports file made without mu
	procs    map[string]*entry
	byPID    map[int]*entry
	problems []string
}

// entry is one managed process.
type entry struct {
	// opMu serialises start, stop, restart, delete and automatic restarts of
	// this process; it is held for the whole operation, including waits.
	opMu sync.Mutex

	meta   store.Meta
	launch store.Launch

	exited   chan struct{} // closed when the current run ends; nil when not running
	lastExit proc.Exit
	stopping bool      // the current run's exit was asked for
	starting bool      // inside start's settle window: an exit is a failed start
	runStart time.Time // when the current run was spawned
	runState RunState
	gen      int // bumped by every operation; stale restart timers compare it
	timer    *time.Timer
	removed  bool
}

// Config wires a Supervisor.
type Config struct {
	Store   *store.Store
	Backoff Backoff
	System  spec.System  // nil: the real OS
	Events  *events.Log  // nil: no event log
	Log     *slog.Logger // nil: discard
	// Runner runs the processes (nil: the real OS). A fake must report
	// exits by calling the supervisor's exit handler (tests only).
	Runner Runner
	// Cgroups, when not nil, gives each run of the real OS runner a cgroup
	// of its own, so that stop finds every descendant.
	Cgroups *proc.Cgroups
}

// New creates a supervisor and starts watching for exits. Call Adopt once.
func New(cfg Config) *Supervisor {
	s := &Supervisor{
		store:   cfg.Store,
		sampler: proc.NewSampler(),
		backoff: cfg.Backoff,
		events:  cfg.Events,
		log:     cfg.Log,
		procs:   make(map[string]*entry),
		byPID:   make(map[int]*entry),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.backoff == (Backoff{}) {
		s.backoff = DefaultBackoff
	}
	s.base = cfg.System
	if s.base == nil {
		s.base = spec.OS()
	}
	s.sys = reservingSystem{System: s.base, s: s}
	s.runner = cfg.Runner
	if s.runner == nil {
		s.runner = newOSRunner(s.handleExit, cfg.Cgroups, s.log)
	}
	return s
}

// reservingSystem treats ports held by other tsm processes as busy even
// before those processes listen, so two starts never pick the same port.
type reservingSystem struct {
	spec.System
	s *Supervisor
}

// PortFree is called with s.mu held (from Start).
func (r reservingSystem) PortFree(port int) bool {
	return r.s.portHolderLocked(port) == nil && r.System.PortFree(port)
}

// portHolderLocked returns the process that holds port, if any.
func (s *Supervisor) portHolderLocked(port int) *entry {
	for _, e := range s.procs {
		if int(e.meta.Port) == port && e.active() {
			return e
		}
	}
	return nil
}

// active reports whether the process runs or waits for an automatic
// restart: it keeps its name and port, and a new start may not take them.
func (e *entry) active() bool { return e.exited != nil || e.meta.NextRestart != 0 }

// Adopt loads the table from disk. Processes recorded as online that are
// still alive (same PID, start time and boot) are watched again; those that
// died while no daemon watched them get their restart policy applied.
func (s *Supervisor) Adopt() error {
	metas, problems, err := s.store.LoadAll()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range problems {
		s.problems = append(s.problems, p.Error())
	}
	for _, m := range metas {
		e := &entry{meta: m}
		if l, err := s.store.ReadLaunch(m.Name); err == nil {
			e.launch = l
		}
		s.procs[m.Name] = e
		switch m.Status {
		case store.StatusOnline:
			if s.adoptLocked(e) {
				s.event(events.Adopt, e.meta, events.Event{})
				continue
			}
			// Died unobserved: its status is unknown, so on-failure restarts it.
			s.event(events.Lost, e.meta, events.Event{Message: "died while no daemon was watching; exit status unknown"})
			e.lastExit = proc.Exit{PID: m.PID}
			s.afterExitLocked(e, true)
		case store.StatusCrashed:
			if m.NextRestart != 0 {
				// A restart was pending when the previous daemon went away.
				s.scheduleRestartLocked(e, s.backoff.Initial, false)
			}
		}
	}
	return nil
}

// adoptLocked watches a live process recorded on disk; false if it is gone.
func (s *Supervisor) adoptLocked(e *entry) bool {
	m := e.meta
	if m.PID <= 1 {
		return false
	}
	id := proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID}
	same := id.Alive
	if m.PIDStartTicks == 0 {
		// Written by bash TSM: no start time to check, the PID is all we have.
		same = func() bool {
			_, err := s.runner.Identify(m.PID)
			return err == nil
		}
	}
	if err := s.runner.Watch(m.PID, same); err != nil {
		return false
	}
	e.exited = make(chan struct{})
	e.runStart = time.Unix(m.StartTime, 0)
	s.byPID[m.PID] = e
	return true
}

// Snapshot returns the metadata of every process, in ID order, and the
// problems met reading the state.
func (s *Supervisor) Snapshot() ([]store.Meta, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	metas := make([]store.Meta, 0, len(s.procs))
	for _, e := range s.procs {
		metas = append(metas, e.meta)
	}
	sort.Slice(metas, func(i, j int) bool { return metas[i].TsmID < metas[j].TsmID })
	return metas, append([]string(nil), s.problems...)
}

// Count returns the number of managed processes.
func (s *Supervisor) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.procs)
}

// Resolve finds the process a target names.
func (s *Supervisor) Resolve(t string) (store.Meta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.resolveLocked(t)
	if err != nil {
		return store.Meta{}, err
	}
	return e.meta, nil
}

func (s *Supervisor) resolveLocked(t string) (*entry, error) {
	cands := make([]target.Candidate, 0, len(s.procs))
	for _, e := range s.procs {
		cands = append(cands, target.Candidate{ID: e.meta.TsmID, Name: e.meta.Name})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].ID < cands[j].ID })
	c, err := target.Resolve(cands, t)
	if err != nil {
		return nil, err
	}
	return s.procs[c.Name], nil
}

// ResolveAll resolves every target before anything is touched, so that one
// ambiguous or unknown target aborts the whole command. "all" means every
// process.
func (s *Supervisor) ResolveAll(targets []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, t := range targets {
		if t == "all" || t == "*" {
			all := make([]*entry, 0, len(s.procs))
			for _, e := range s.procs {
				all = append(all, e)
			}
			sort.Slice(all, func(i, j int) bool { return all[i].meta.TsmID < all[j].meta.TsmID })
			for _, e := range all {
				add(e.meta.Name)
			}
			continue
		}
		e, err := s.resolveLocked(t)
		if err != nil {
			return nil, err
		}
		add(e.meta.Name)
	}
	return names, nil
}

// lookup returns the live entry for name, or a not-found error if it was
// deleted meanwhile.
func (s *Supervisor) lookup(name string) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.procs[name]
	if !ok {
		return nil, &target.NotFoundError{Target: name}
	}
	return e, nil
}

// lowestFreeIDLocked returns the smallest ID no process uses.
func (s *Supervisor) lowestFreeIDLocked() int {
	used := make(map[int]bool, len(s.procs))
	for _, e := range s.procs {
		used[e.meta.TsmID] = true
	}
	id := 0
	for used[id] {
		id++
	}
	return id
}

// saveLocked writes the entry's meta.json and pid file.
func (s *Supervisor) saveLocked(e *entry) error {
	if e.removed {
		return nil
	}
	err := s.store.WriteMeta(e.meta)
	if err != nil {
		// A full or read-only disk must not stop supervision: the table in
		// memory stays right and the next successful write catches up. The
		// old meta.json stays whole (writes are atomic).
		s.log.Error("cannot save process state", "name", e.meta.Name, "err", err)
	}
	return err
}

// savePorts rewrites the ports registry from the table. Callers do not hold
// s.mu; the snapshot is taken under portsMu, so the last write is always of
// the latest table.
func (s *Supervisor) savePorts() error {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	s.mu.Lock()
	metas := s.portMetasLocked()
	s.mu.Unlock()
	return s.store.WritePorts(metas)
}

func (s *Supervisor) portMetasLocked() []store.Meta {
	metas := make([]store.Meta, 0, len(s.procs))
	for _, e := range s.procs {
		metas = append(metas, e.meta)
	}
	sort.Slice(metas, func(i, j int) bool { return metas[i].TsmID < metas[j].TsmID })
	return metas
}

// spawnLocked starts one run of e from its launch record.
func (s *Supervisor) spawnLocked(e *entry) error {
	m := &e.meta
	if err := os.MkdirAll(s.store.Dir(m.Name), 0o755); err != nil {
		return err
	}
	if len(e.launch.Argv) == 0 {
		// Adopted from the bash TSM and now restarted by policy: the
		// daemon's environment is the best one there is.
		if err := s.commandLaunchLocked(e, os.Environ()); err != nil {
			return err
		}
	}
	marker := fmt.Sprintf("%s/%d/%d", m.Name, m.TsmID, time.Now().UnixNano())
	env := withEnv(e.launch.Env,
		"TSM_ID="+strconv.Itoa(m.TsmID),
		"TSM_NAME="+m.Name,
		"TSM_PROCESS_DIR="+s.store.Dir(m.Name),
		markerKey+"="+marker,
	)
	pid, cgroup, err := s.runner.Spawn(proc.SpawnSpec{
		Argv:   e.launch.Argv,
		Env:    env,
		Dir:    e.launch.Cwd,
		Stdout: s.store.OutLog(m.Name),
		Stderr: s.store.ErrLog(m.Name),
	}, m.Name)
	if err != nil {
		return err
	}
	m.Cgroup = cgroup
	now := time.Now()
	m.PID = pid
	m.Marker = markerKey + "=" + marker
	m.StartTime = now.Unix()
	m.Status = store.StatusOnline
	// ExitCode and ExitSignal stay: they describe the last run that ended.
	if id, err := s.runner.Identify(pid); err == nil {
		m.PIDStartTicks, m.BootID = id.StartTime, id.BootID
	} else {
		m.PIDStartTicks, m.BootID = 0, ""
	}
	e.exited = make(chan struct{})
	e.runStart = now
	e.stopping = false
	s.byPID[pid] = e
	return s.saveLocked(e)
}

const markerKey = "TSM_MARKER"

// withEnv returns env with the given K=V entries set (replacing old values).
func withEnv(env []string, kvs ...string) []string {
	out := make([]string, 0, len(env)+len(kvs))
	keys := map[string]bool{}
	for _, kv := range kvs {
		keys[envKey(kv)] = true
	}
	for _, kv := range env {
		if !keys[envKey(kv)] {
			out = append(out, kv)
		}
	}
	return append(out, kvs...)
}

func envKey(kv string) string {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i]
		}
	}
	return kv
}

// handleExit records the end of a run and applies the restart policy.
func (s *Supervisor) handleExit(x proc.Exit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byPID[x.PID]
	if !ok {
		return
	}
	delete(s.byPID, x.PID)
	s.sampler.Forget(x.PID)
	e.lastExit = x
	now := time.Now()
	m := &e.meta
	m.StopTime = now.Unix()
	if x.Known {
		code := x.Code
		m.ExitCode = &code
		m.ExitSignal = ""
		if x.Signal != 0 {
			m.ExitSignal = signalName(x.Signal)
		}
	}
	if e.exited != nil {
		close(e.exited)
		e.exited = nil
	}
	ev := events.Event{PID: x.PID, ExitCode: m.ExitCode, Signal: m.ExitSignal}
	switch {
	case e.starting:
		ev.Message = "died during startup: a failed start, not restarted"
	case !x.Known:
		ev.Message = "exit status unknown (adopted process)"
	}
	s.event(events.Exit, *m, ev)
	if e.stopping || e.starting {
		// The operation that caused or is watching this exit sets the status.
		return
	}
	failed := !x.Known || x.Code != 0 || x.Signal != 0
	s.afterExitLocked(e, failed)
}

// afterExitLocked applies the restart policy to a run that ended by itself.
func (s *Supervisor) afterExitLocked(e *entry, failed bool) {
	m := &e.meta
	policy, _ := ParsePolicy(m.RestartPolicy)
	uptime := time.Since(e.runStart)
	b := s.backoffFor(m)
	d, st := b.Decide(policy, failed, uptime, e.runState)
	e.runState = st
	switch {
	case d.Errored:
		m.Status = store.StatusErrored
		s.event(events.Errored, *m, events.Event{Message: fmt.Sprintf("%d unstable restarts in a row (runs shorter than %s); run `tsm restart %s` after fixing it", e.runState.ConsecutiveUnstable-1, b.MinUptime, m.Name)})
	case d.Restart && d.Delay == 0 && e.opMu.TryLock():
		// No operation is running on e (an exit during one is handled by
		// it), so respawn right here: every millisecond down counts, and
		// the intermediate "crashed" state need not reach the disk.
		s.cancelRestartLocked(e)
		s.respawnLocked(e, d.Unstable)
		e.opMu.Unlock()
		return
	case d.Restart:
		m.Status = store.StatusCrashed
		s.scheduleRestartLocked(e, d.Delay, d.Unstable)
		if d.Delay > 0 {
			s.event(events.Backoff, *m, events.Event{DelayMS: d.Delay.Milliseconds()})
		}
	case failed:
		m.Status = store.StatusCrashed
	default:
		m.Status = store.StatusStopped
	}
	s.saveLocked(e)
}

// scheduleRestartLocked starts e again after delay unless an operation
// intervenes (which bumps e.gen).
func (s *Supervisor) scheduleRestartLocked(e *entry, delay time.Duration, unstable bool) {
	e.gen++
	gen := e.gen
	e.meta.NextRestart = time.Now().Add(delay).UnixMilli()
	e.timer = time.AfterFunc(delay, func() {
		e.opMu.Lock()
		defer e.opMu.Unlock()
		s.mu.Lock()
		defer s.mu.Unlock()
		if e.gen != gen || e.removed || e.exited != nil {
			return // an operation came first
		}
		e.timer = nil
		e.meta.NextRestart = 0
		s.respawnLocked(e, unstable)
	})
}

// respawnLocked is an automatic restart. The caller holds e.opMu.
func (s *Supervisor) respawnLocked(e *entry, unstable bool) {
	// Counted before the spawn, which saves meta.json; taken back if
	// nothing was restarted.
	e.meta.Restarts++
	if unstable {
		e.meta.UnstableRestarts++
	}
	if err := s.spawnLocked(e); err != nil {
		e.meta.Restarts--
		if unstable {
			e.meta.UnstableRestarts--
		}
		e.meta.Status = store.StatusErrored
		s.saveLocked(e)
		s.event(events.Errored, e.meta, events.Event{Message: "automatic restart failed: " + err.Error()})
		return
	}
	s.event(events.Restart, e.meta, events.Event{Restarts: e.meta.Restarts, Message: "automatic"})
}

// backoffFor applies a process's own limits to the daemon's defaults.
func (s *Supervisor) backoffFor(m *store.Meta) Backoff {
	b := s.backoff
	if m.MaxRestarts != nil {
		b.MaxUnstable = *m.MaxRestarts
	}
	if m.MinUptimeMS > 0 {
		b.MinUptime = time.Duration(m.MinUptimeMS) * time.Millisecond
	}
	return b
}

// event appends a lifecycle event about the process m.
func (s *Supervisor) event(typ string, m store.Meta, ev events.Event) {
	ev.Type = typ
	ev.Name = m.Name
	id := m.TsmID
	ev.ID = &id
	if ev.PID == 0 && typ != events.Delete {
		ev.PID = m.PID
	}
	if err := s.events.Append(ev); err != nil {
		// The event log is a record, not state: supervision goes on.
		s.log.Warn("cannot append to the event log", "err", err)
	}
}

// cancelRestartLocked forgets a pending automatic restart.
func (s *Supervisor) cancelRestartLocked(e *entry) {
	e.gen++
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	e.meta.NextRestart = 0
}

func signalName(sig syscall.Signal) string {
	if n := signalNames[sig]; n != "" {
		return n
	}
	return "SIG" + strconv.Itoa(int(sig))
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
}
