// Package supervisor owns the managed processes: their table, their
// lifecycle (an explicit State per process with a transition table), the
// restart policy with backoff, ending a run with every process it started,
// and recovery of live services when a new daemon starts. It is the only
// writer of runtime state on disk (through store). It must not import cli,
// client or daemon.
//
// Ownership: each process has one owner (process.loop, a goroutine that
// runs while its mailbox has messages) that alone reads and changes its
// state, metadata and run; everything else talks to it through its
// mailbox. The table (Supervisor.mu) only maps names, IDs and PIDs to
// processes and holds a published copy of each one's metadata for
// listings; nothing slow (disk, fork/exec, /proc scans, port probes)
// happens under it.
package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/health"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/target"
	"github.com/tetra/tsm/internal/watch"
)

// Supervisor runs processes and keeps their state on disk.
type Supervisor struct {
	store   *store.Store
	runner  Runner
	sampler *proc.Sampler
	ports   *proc.PortCache
	trees   treePortCache // ports of runs whose server is a descendant
	backoff Backoff
	sys     spec.System // base, plus the ports of tsm's own processes
	base    spec.System // the OS, or a test's fake
	events  *events.Log
	log     *slog.Logger

	// mu guards the table: procs, pids, early, probes, problems and every
	// process's pub. It is held only for map operations and copies.
	mu       sync.Mutex
	procs    map[string]*process
	pids     map[int]*process       // main PID of every run → its process, for exits
	early    map[int]earlyExit      // exits that arrived before their run was registered
	probes   map[int]chan proc.Exit // exec health checks being run, by PID
	problems []string
	// unreadable names the process directories whose records could not be
	// read: a start may not take such a name (its process may run).
	unreadable map[string]bool
	files      *watch.Watcher // the one file watcher of --watch
	shared     launchShare    // environments and contexts processes share
	// newProbe makes a health check's probe (tests give a fake).
	newProbe   func(spec string, port int, launch store.Launch) (health.Probe, error)
	portsMu    sync.Mutex    // orders writes of the ports file
	portsLast  string        // guarded by portsMu: the content written last
	portsSaved bool          // guarded by portsMu: portsLast is on disk
	done       chan struct{} // closed by Close: background waits give up
	handled    atomic.Uint64 // messages the processes' owners handled
	closing    sync.Once
	stops      journal // the stop journal (journal.go)
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
		ports:   proc.NewPortCache(),
		backoff: cfg.Backoff,
		events:  cfg.Events,
		log:     cfg.Log,
		procs:   make(map[string]*process),
		pids:    make(map[int]*process),
		early:   make(map[int]earlyExit),
		probes:  make(map[int]chan proc.Exit),
		done:    make(chan struct{}),
		stops:   journal{j: cfg.Store.Journal(), unsynced: map[string]bool{}},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.newProbe = s.realProbe
	s.files = watch.New(watchDebounce, s.log)
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

func (r reservingSystem) PortFree(port int) bool {
	r.s.mu.Lock()
	held := r.s.portHolderLocked(port) != nil
	r.s.mu.Unlock()
	return !held && r.System.PortFree(port)
}

// portHolderLocked returns the active process that holds port, if any.
func (s *Supervisor) portHolderLocked(port int) *process {
	for _, p := range s.procs {
		if int(p.pub.Port) == port && p.pubSt.active() {
			return p
		}
	}
	return nil
}

// Adopt loads the table from disk and hands each process its record to
// recover from: a new daemon finishes what the last one was doing (a stop,
// a spawn), re-adopts live runs (checked by PID, start time and boot ID;
// a run spawned just before a crash is found by its marker), ends what a
// dead run left behind, and applies the restart policy to runs that died
// while no daemon watched them. Processes start recovering in the
// background; commands sent meanwhile queue behind the recovery.
func (s *Supervisor) Adopt() error {
	metas, problems, err := s.store.LoadAll()
	if err != nil {
		return err
	}
	s.repairStops(metas)
	go s.store.PurgeTombstones()
	recs := make([]recovery, len(metas))
	var markers []string
	var unverified []string
	for i, m := range metas {
		// The marker that finds a run's processes is the daemon's own
		// derivation, never the marker field of a file: a planted one
		// (PATH=/usr/bin) would match every process of the user.
		if !ownRunBase(m) {
			m.RunBase, m.Run = "", 0
		}
		m.Marker, m.Unverified = runMarker(m), ""
		r := recovery{meta: m}
		if st := stateOf(m); st == Starting || st.up() || st == Stopping {
			var stranger error
			r.alive, stranger, r.unsure = s.verify(&r.meta)
			if stranger != nil {
				// Never adopted, never signalled, never restarted over.
				r.meta.PID, r.meta.State, r.meta.Status, r.meta.Pending = 0, Stopped.String(), store.StatusStopped, ""
				r.meta.Unverified = stranger.Error()
				unverified = append(unverified, fmt.Sprintf("%s: not verified: %v; tsm neither adopts nor signals it. Check that process yourself, then `tsm start %s` or `tsm delete %s`",
					m.Name, stranger, m.Name, m.Name))
			}
			m = r.meta
			if !r.alive && r.unsure == nil && m.Marker != "" {
				markers = append(markers, m.Marker)
			}
			if !r.alive && r.unsure == nil && m.RunBase != "" {
				markers = append(markers, nextMarker(m))
			}
		}
		r.launch, r.launchErr = s.store.ReadLaunch(m.Name)
		if errors.Is(r.launchErr, fs.ErrNotExist) {
			// The bash TSM kept none: a restart rebuilds it from the
			// command line, as documented.
			r.launchErr = nil
		}
		if r.launchErr != nil {
			problems = append(problems, store.Problem{Name: m.Name, Err: r.launchErr, Loaded: true})
		}
		recs[i] = r
	}
	var found map[string][]proc.Member
	if len(markers) > 0 {
		if found, err = s.runner.FindMarked(markers); err != nil {
			s.log.Warn("cannot scan for processes of runs whose main process is gone", "err", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unreadable = make(map[string]bool, len(problems))
	mended := map[string]string{}
	for _, p := range problems {
		if p.Mended {
			// Written back by its recovery, and said once in the events
			// and the daemon's log, not in every listing from now on.
			mended[p.Name] = p.Err.Error()
			s.log.Warn("mended a process record", "name", p.Name, "what", p.Err)
			continue
		}
		if p.Loaded {
			s.problems = append(s.problems, p.Error())
			continue
		}
		s.problems = append(s.problems, "skipped "+p.Error())
		s.unreadable[p.Name] = true
	}
	s.problems = append(s.problems, unverified...)
	for _, r := range recs {
		r.mended = mended[r.meta.Name]
		r.carriers = found[r.meta.Marker]
		if r.meta.RunBase != "" {
			r.successors = found[nextMarker(r.meta)]
		}
		p := newProcess(s, r.meta, stateOf(r.meta))
		if !r.alive && r.unsure == nil && stateOf(r.meta).up() {
			// Recorded as running, but the PID is not the run's (gone,
			// or another process's now): until the recovery below has
			// moved it on (and published that), a listing must not show
			// that PID online (`tsm list` showed an impostor's). Only
			// then: a run in backoff stays in backoff, published as is,
			// and must go on agreeing with its meta.json.
			p.pub.PID = 0
		}
		p.launch, p.launchErr = s.shared.share(r.launch), r.launchErr
		s.procs[r.meta.Name] = p
		p.inbox.post(r)
	}
	return nil
}

// Close ends every process's goroutine, leaving the processes themselves
// and their records as they are (for a daemon that exits, and for tests).
func (s *Supervisor) Close() {
	s.closing.Do(func() { close(s.done); s.files.Close(); s.stops.close() })
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		p.inbox.post(quitMsg{})
	}
}

// verify checks the main process a record names: alive (the very process),
// gone, or cannot tell (err). A record without an identity (the bash TSM's)
// proves nothing by its PID: its process must have started when the record
// says and run what it says (proc.VerifyLegacy), and is then pinned by its
// identity in m. One that lives but fails or escapes that check is a
// stranger (unverified): not ours to adopt or signal.
func (s *Supervisor) verify(m *store.Meta) (alive bool, unverified, err error) {
	if m.PID <= 1 {
		return false, nil, nil
	}
	if m.PIDStartTicks != 0 {
		alive, err = s.runner.Check(proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID})
		return alive, nil, err
	}
	id, err := s.runner.VerifyLegacy(m.PID, time.Unix(m.StartTime, 0), m.Command)
	switch {
	case err == nil:
		m.PIDStartTicks, m.BootID = id.StartTime, id.BootID
		return true, nil, nil
	case errors.Is(err, proc.ErrNoProcess):
		return false, nil, nil
	case errors.Is(err, proc.ErrNotVerified):
		return false, err, nil
	}
	// Cannot tell now. A record with an identity would be watched as
	// alive; this one has nothing to watch it by.
	return false, fmt.Errorf("pid %d could not be checked (%v): %w", m.PID, err, proc.ErrNotVerified), nil
}

// ownRunBase reports whether m's run_base has the shape the daemon gives
// it (<name>/<tsm_id>/<nanoseconds>, made at the entry's first spawn), so
// that the markers derived from it are this entry's.
func ownRunBase(m store.Meta) bool {
	rest, ok := strings.CutPrefix(m.RunBase, m.Name+"/")
	if !ok || m.Run < 0 {
		return false
	}
	id, nanos, ok := strings.Cut(rest, "/")
	return ok && allDigits(id) && allDigits(nanos)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// handleExit hands a main process's exit to its process. The reaper and
// the watcher call it; it never waits for anything but the table lock.
func (s *Supervisor) handleExit(x proc.Exit) {
	s.mu.Lock()
	if s.probeExitLocked(x) {
		s.mu.Unlock()
		return
	}
	p, ok := s.pids[x.PID]
	if !ok {
		// The run's process may not have registered its PID yet (it
		// exited before Spawn returned): keep the exit for it, briefly.
		now := time.Now()
		for pid, e := range s.early {
			if now.Sub(e.at) > earlyFor {
				delete(s.early, pid)
			}
		}
		s.early[x.PID] = earlyExit{x, now}
		s.mu.Unlock()
		return
	}
	delete(s.pids, x.PID)
	s.mu.Unlock()
	s.sampler.Forget(x.PID)
	p.inbox.post(exitMsg{x})
}

// track registers the main PID of p's new run for exit dispatch, and
// delivers an exit that came first.
func (s *Supervisor) track(pid int, p *process) {
	s.mu.Lock()
	e, early := s.early[pid]
	delete(s.early, pid)
	// An old exit of the same PID (a process given up on, its PID since
	// recycled) is not this run's.
	early = early && time.Since(e.at) <= earlyFor
	if !early {
		s.pids[pid] = p
	}
	s.mu.Unlock()
	if early {
		p.inbox.post(exitMsg{e.x})
	}
}

// earlyExit is an exit that came before its run registered its PID.
type earlyExit struct {
	x  proc.Exit
	at time.Time
}

// earlyFor is how long an exit waits for its run to register: the time
// between a fork and the registration, with a wide margin.
const earlyFor = 5 * time.Second

// untrack forgets pid (a run rolled back or given up on).
func (s *Supervisor) untrack(pid int) {
	s.mu.Lock()
	delete(s.pids, pid)
	s.mu.Unlock()
}

// isMain reports whether pid is the main process of a run.
func (s *Supervisor) isMain(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pids[pid]
	return ok
}

// Snapshot returns the metadata of every process, in ID order, and the
// problems met reading the state.
func (s *Supervisor) Snapshot() ([]store.Meta, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	metas := make([]store.Meta, 0, len(s.procs))
	for _, p := range s.procs {
		metas = append(metas, p.pub)
	}
	sort.Slice(metas, func(i, j int) bool { return metas[i].TsmID < metas[j].TsmID })
	return metas, append([]string(nil), s.problems...)
}

// Count returns the number of managed processes.
// Handled counts the messages (requests, exits, timers, checks) the
// processes' owners have handled: it stands still while supervision is
// quiet, which the daemon's idle trim waits for.
func (s *Supervisor) Handled() uint64 { return s.handled.Load() }

func (s *Supervisor) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.procs)
}

// Resolve finds the process a target names.
func (s *Supervisor) Resolve(t string) (store.Meta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.resolveLocked(t)
	if err != nil {
		return store.Meta{}, err
	}
	return p.pub, nil
}

func (s *Supervisor) resolveLocked(t string) (*process, error) {
	cands := make([]target.Candidate, 0, len(s.procs))
	for _, p := range s.procs {
		cands = append(cands, target.Candidate{ID: p.pub.TsmID, Name: p.pub.Name})
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
			all := make([]store.Meta, 0, len(s.procs))
			for _, p := range s.procs {
				all = append(all, p.pub)
			}
			sort.Slice(all, func(i, j int) bool { return all[i].TsmID < all[j].TsmID })
			for _, m := range all {
				add(m.Name)
			}
			continue
		}
		p, err := s.resolveLocked(t)
		if err != nil {
			return nil, err
		}
		add(p.pub.Name)
	}
	return names, nil
}

// lookup returns the process called name, or a not-found error.
func (s *Supervisor) lookup(name string) (*process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.procs[name]
	if !ok {
		return nil, &target.NotFoundError{Target: name}
	}
	return p, nil
}

// lowestFreeIDLocked returns the smallest ID no process uses.
func (s *Supervisor) lowestFreeIDLocked() int {
	used := make(map[int]bool, len(s.procs))
	for _, p := range s.procs {
		used[p.pub.TsmID] = true
	}
	id := 0
	for used[id] {
		id++
	}
	return id
}

// unlist removes p from the table: its name and ID are free from now on.
func (s *Supervisor) unlist(p *process) {
	s.mu.Lock()
	if s.procs[p.pub.Name] == p {
		delete(s.procs, p.pub.Name)
	}
	s.mu.Unlock()
}

// savePorts rewrites the ports registry from the table, unless it would
// write what it wrote last (a port-less start or stop changes nothing
// there, and the durable write is a millisecond of its answer). The
// snapshot is taken under portsMu, so the last write is always of the
// latest table.
func (s *Supervisor) savePorts() {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	metas, _ := s.Snapshot()
	content := store.PortsContent(metas)
	if s.portsSaved && content == s.portsLast {
		return
	}
	if err := s.store.WritePorts(content); err != nil {
		s.log.Error("cannot write the ports file", "err", err)
		s.portsSaved = false
		return
	}
	s.portsLast, s.portsSaved = content, true
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

// Live is what a running process looks like now.
type Live struct {
	Stats proc.Stats
	Ports []int // the TCP ports it listens on
	OK    bool  // false: not running, or gone since its metadata was read
}

// Live returns the live stats of each of ms, in order; the listening ports
// of all of them come from one look at the socket table (proc.PortCache).
func (s *Supervisor) Live(ms []store.Meta) []Live {
	out := make([]Live, len(ms))
	var ids []proc.Identity
	var at []int
	for i, m := range ms {
		if m.Status != store.StatusOnline || m.PID <= 1 {
			continue
		}
		id := proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID}
		st, err := s.sampler.Sample(id)
		if err != nil {
			continue
		}
		out[i] = Live{Stats: st, OK: true}
		ids = append(ids, id)
		at = append(at, i)
	}
	for k, ports := range s.ports.Ports(ids) {
		out[at[k]].Ports = ports
	}
	for k, i := range at {
		if m := ms[i]; len(out[i].Ports) == 0 && m.Port > 0 {
			// npm start, a shell script: the server is a descendant. Walked
			// only when the main process itself does not listen.
			out[i].Ports = s.trees.ports(ids[k], m.Marker)
		}
	}
	return out
}

// treePortCache keeps what treePorts found for a run for treePortTTL: a
// walk of the process table per such run at every `tsm list` would make
// list cost grow with the machine.
type treePortCache struct {
	mu   sync.Mutex
	runs map[proc.Identity]treePortsAt
}

type treePortsAt struct {
	ports []int
	at    time.Time
}

// treePortTTL bounds how stale the listening ports of a run whose server
// is a descendant may be in a listing (seconds are fine for a display).
const treePortTTL = 2 * time.Second

func (c *treePortCache) ports(id proc.Identity, marker string) []int {
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.runs[id]; ok && now.Sub(e.at) < treePortTTL {
		c.mu.Unlock()
		return e.ports
	}
	c.mu.Unlock()
	ports := treePorts(id.PID, marker)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[proc.Identity]treePortsAt{}
	}
	for k, e := range c.runs {
		if now.Sub(e.at) >= treePortTTL {
			delete(c.runs, k) // ended runs go too
		}
	}
	c.runs[id] = treePortsAt{ports, now}
	return ports
}

// treePorts returns the ports the process tree of pid (the main process
// and its descendants, found by marker too) listens on, sorted.
func treePorts(pid int, marker string) []int {
	descendants, _ := proc.Tree(pid, marker, 0)
	var ports []int
	for _, p := range append([]int{pid}, descendants...) {
		ls, _ := proc.ListeningPorts(p)
		ports = append(ports, ls...)
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func signalName(sig syscall.Signal) string {
	if n := signalNames[sig]; n != "" {
		return n
	}
	return "SIG" + strconv.Itoa(int(sig))
}

// ParseSignal reads a signal name ("SIGTERM", "TERM", "term") or number.
func ParseSignal(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	name := "SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for sig, n := range signalNames {
		if n == name {
			return sig, true
		}
	}
	return 0, false
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGWINCH: "SIGWINCH", syscall.SIGCONT: "SIGCONT", syscall.SIGSTOP: "SIGSTOP",
}
