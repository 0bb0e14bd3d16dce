package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/execctx"
	"github.com/tetra/tsm/internal/health"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/target"
	"github.com/tetra/tsm/internal/watch"
)

// StartRequest is a resolved-later start: the spec request plus supervision
// settings.
type StartRequest struct {
	spec.Request
	Restart string
	// MaxRestarts (nil: the default) and MinUptime (0: the default) tune
	// crash-loop detection for this process.
	MaxRestarts *int
	MinUptime   time.Duration
	// Wait bounds how long Start waits for the port to accept connections.
	Wait time.Duration
	// NoWait: Start returns once the process is spawned (Ready "spawned");
	// it becomes online when ready, as after any start.
	NoWait bool
	// StopSignal (default SIGTERM) ends the process gracefully; KillSignal
	// (default SIGKILL) ends what is left after KillTimeout (default 10 s).
	StopSignal, KillSignal string
	KillTimeout            time.Duration
	// Context is the caller's limits, umask and priority (nil: inherited
	// from the daemon); Stdin "null" gives the process /dev/null.
	Context *execctx.Context
	Stdin   string
	// ReloadSignal is what `tsm reload` sends (e.g. SIGHUP); "" means
	// reload restarts.
	ReloadSignal string
	// Health is the health check (Spec "" for none).
	Health health.Settings
	// Ready is the readiness check (see store.Meta.ReadyCheck).
	Ready string
	// MaxMemory (bytes, 0: none) restarts the process when its whole tree
	// uses more; CronRestart restarts it on a cron schedule ("" : none).
	MaxMemory   int64
	CronRestart string
	// Watch (paths, relative to the process's directory) restarts the
	// process when files under them change; WatchIgnore adds patterns to
	// watch.DefaultIgnore (one with a separator is a path, relative to the
	// process's directory: see watch.AbsPattern).
	Watch, WatchIgnore []string
	// LogMaxSize and LogKeep override the state directory's log rotation
	// limits for this process (nil: those).
	LogMaxSize *int64
	LogKeep    *int
	// LogTime puts each line's arrival time before it in the log files.
	LogTime bool
}

// Settle is how long a port-less process must stay alive for start to call
// it up (the seed's 0.5 s).
const Settle = 500 * time.Millisecond

// DefaultWait bounds the wait for a port to accept connections.
const DefaultWait = 10 * time.Second

// StartFailedError is a process that died inside start's settle window.
type StartFailedError struct {
	Name   string
	Exit   proc.Exit
	Tail   []string // last lines of stderr (or stdout when stderr is empty)
	Stream string   // which stream Tail comes from
	Holder string   // who holds the port, when a port clash is the likely cause
}

func (e *StartFailedError) Error() string {
	how := "with an unknown status"
	switch {
	case e.Exit.Signal != 0:
		how = "killed by " + signalName(e.Exit.Signal)
	case e.Exit.Known:
		how = "with exit code " + strconv.Itoa(e.Exit.Code)
	}
	msg := fmt.Sprintf("%s exited during startup %s", e.Name, how)
	if e.Holder != "" {
		msg += "; " + e.Holder
	}
	if len(e.Tail) == 0 {
		msg += " and printed nothing"
	} else {
		msg += fmt.Sprintf("; last lines of %s:", e.Stream)
	}
	return msg
}

// Outcome is what an operation did to one process.
type Outcome struct {
	Meta        store.Meta
	Action      string // started, stopped, killed, restarted, deleted, not-running
	Descendants int
	Forced      bool
	// Ready, for start and restart: port, check (--ready passed), settled,
	// timeout, exited (the command finished with exit code 0 inside the
	// settle window), elsewhere, or spawned (StartRequest.NoWait).
	Ready string
	// Restarting: after Ready "exited", the policy starts it again.
	Restarting bool
	// Listening, after Ready "elsewhere": the ports the run listens on
	// instead of its own.
	Listening  []int
	EnvChanges []string
	// Notes, after restart --update-env: what was derived again and
	// changed (the port) or what stays fixed although its inputs changed
	// (the name); after a restart whose run was not ready within the
	// wait, that it is not. In words for the user.
	Notes []string
}

type opKind int

const (
	opStart opKind = iota
	opStop
	opKill
	opRestart
	opDelete
	opSignal
)

// request is an operation a user asked for, sent to a process's goroutine;
// reply receives exactly one result.
type request struct {
	kind  opKind
	grace time.Duration // stop, restart, delete: 0 means the process's kill timeout
	wait  time.Duration // start, restart: readiness bound
	start *startSpec    // start
	// restart: the caller's environment, and whether to adopt it.
	env       []string
	updateEnv bool
	context   *execctx.Context // with updateEnv: replaces the stored context
	changes   []string         // restart --update-env: the variables that changed
	notes     []string         // restart --update-env: see Outcome.Notes
	reply     chan result
	detached  bool // nobody waits for the answer (a stop a previous daemon began)
	// restart asked by tsm itself (health, memory, schedule, files): why,
	// for the restart event
	reason string
	// signal: what to send, and whether to the whole run
	sig   syscall.Signal
	group bool
	// stop, kill: the run the stop journal names for this process (nil:
	// not journaled); the record that it ended is then written unsynced.
	journaled *store.StopRun
}

type result struct {
	out Outcome
	err error
}

// done and fail answer r; only the first answer counts (reply holds one).
func (r *request) done(o Outcome) { r.answer(result{out: o}) }
func (r *request) fail(err error) { r.answer(result{err: err}) }

func (r *request) answer(res result) {
	select {
	case r.reply <- res:
	default:
	}
}

func (r *request) action() string {
	if r.kind == opRestart {
		return "restarted"
	}
	return "started"
}

// call sends r to p and waits for its answer.
func (p *process) call(r *request) (Outcome, error) {
	r.reply = make(chan result, 1)
	if !p.inbox.post(r) {
		return Outcome{}, &target.NotFoundError{Target: p.pub.Name}
	}
	res := <-r.reply
	return res.out, res.err
}

// startSpec is a resolved start.
type startSpec struct {
	sp     spec.Spec
	req    StartRequest
	policy Policy
	isNew  bool // the entry was made for this start, and goes if it fails
}

// Start resolves and starts a new process and waits until it is up.
func (s *Supervisor) Start(req StartRequest) (Outcome, error) {
	sp, req, policy, err := s.plan(req)
	if err != nil {
		return Outcome{}, err
	}
	p, isNew, err := s.claim(sp)
	var deleting *deletingError
	if errors.As(err, &deleting) {
		// A delete of the same name is finishing: its directory is gone
		// before its name is free, so wait for it rather than fail.
		select {
		case <-deleting.p.gone:
		case <-time.After(time.Minute):
		}
		p, isNew, err = s.claim(sp)
	}
	if err != nil {
		return Outcome{}, err
	}
	out, err := p.call(&request{kind: opStart, wait: req.Wait, start: &startSpec{sp: sp, req: req, policy: policy, isNew: isNew}})
	if isNew && err == nil {
		s.savePorts()
	}
	return out, err
}

// Plan resolves a start as Start would — name, port, command, working
// directory, environment — and checks its settings, without starting
// anything or claiming the name or port (a start right after may resolve
// differently if another takes them meanwhile). Errors are Start's, a
// name that is running included.
func (s *Supervisor) Plan(req StartRequest) (spec.Spec, error) {
	sp, _, _, err := s.plan(req)
	if err != nil {
		return sp, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.claimableLocked(sp); err != nil {
		var deleting *deletingError
		if !errors.As(err, &deleting) { // a start waits for that delete
			return sp, err
		}
	}
	return sp, nil
}

// plan is Start's resolution and checks; it returns req with its watch
// roots made absolute, and the restart policy.
func (s *Supervisor) plan(req StartRequest) (spec.Spec, StartRequest, Policy, error) {
	var sp spec.Spec
	policy, err := ParsePolicy(req.Restart)
	if err != nil {
		return sp, req, "", fmt.Errorf("%w: %v", spec.ErrUsage, err)
	}
	for _, sig := range []string{req.StopSignal, req.KillSignal, req.ReloadSignal} {
		if _, ok := ParseSignal(sig); sig != "" && !ok {
			return sp, req, "", fmt.Errorf("%w: unknown signal %q: use a name such as SIGTERM, SIGINT, SIGQUIT, SIGHUP or SIGKILL", spec.ErrUsage, sig)
		}
	}
	// Resolved without the table lock: this reads env files and probes
	// ports. The port it picks is claimed by Start (claim), under the lock.
	sp, err = spec.Resolve(req.Request, s.sys)
	if err != nil {
		var busy *spec.PortBusyError
		if errors.As(err, &busy) {
			err = fmt.Errorf("%w; %s", err, s.describeHolder(busy.Port))
		}
		return sp, req, "", err
	}
	// Checked with the resolved port: a bare "tcp" needs one.
	if req.Health.Spec != "" {
		if _, err := health.Parse(req.Health.Spec, sp.Port, noExec); err != nil {
			return sp, req, "", fmt.Errorf("%w: %v", spec.ErrUsage, err)
		}
	}
	if req.CronRestart != "" {
		if err := parseCron(req.CronRestart); err != nil {
			return sp, req, "", fmt.Errorf("%w: %v", spec.ErrUsage, err)
		}
	}
	req.WatchIgnore = slices.Clone(req.WatchIgnore)
	for i, p := range req.WatchIgnore {
		if err := watch.CheckPattern(p); err != nil {
			return sp, req, "", fmt.Errorf("%w: --watch-ignore %v", spec.ErrUsage, err)
		}
		req.WatchIgnore[i] = watch.AbsPattern(p, sp.Cwd)
	}
	if len(req.Watch) > 0 {
		abs, err := watchRoots(req.Watch, sp.Cwd)
		if err != nil {
			return sp, req, "", err
		}
		req.Watch = abs
	}
	if req.Ready != "" {
		if _, err := health.ParseReady(req.Ready, sp.Port, noExec, nil, nil); err != nil {
			return sp, req, "", fmt.Errorf("%w: %v", spec.ErrUsage, err)
		}
	}
	return sp, req, policy, nil
}

// claim returns the process a start of sp will use: a new one with the
// lowest free ID, which holds its name and port from now on, or the
// existing entry of a process that is not running (it keeps its ID and
// counters).
func (s *Supervisor) claim(sp spec.Spec) (*process, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, err := s.claimableLocked(sp); p != nil || err != nil {
		return p, false, err
	}
	m := store.Meta{TsmID: s.lowestFreeIDLocked(), Name: sp.Name, Port: store.Port(sp.Port)}
	p := newProcess(s, m, Stopped)
	// Shown as starting at once: the name and port are taken.
	p.pubSt = Starting
	s.procs[sp.Name] = p
	return p, true, nil
}

// claimableLocked checks that a start of sp may take its name and port:
// it returns the stopped process of that name to reuse, nil for a new
// name, or why not (a *deletingError while a delete of it finishes).
func (s *Supervisor) claimableLocked(sp spec.Spec) (*process, error) {
	if p, ok := s.procs[sp.Name]; ok {
		if p.pubSt == Stopping && p.pub.Pending == "delete" {
			return nil, &deletingError{p}
		}
		if p.pubSt.active() {
			return nil, alreadyRunning(p.pub)
		}
		return p, nil
	}
	if other := s.lookAlikeLocked(sp.Name); other != nil {
		return nil, fmt.Errorf("%s is written with other Unicode code points than process %s (id %d), which looks the same (é composed, or e and a combining accent); a second name that looks the same would confuse every command: use %s, or choose another --name",
			sp.Name, other.pub.Name, other.pub.TsmID, other.pub.Name)
	}
	if s.unreadable[sp.Name] {
		return nil, fmt.Errorf("%s: its directory %s holds a record tsm cannot read (see `tsm list`), and its process may still run; fix or remove that directory first, or choose another --name",
			sp.Name, s.store.Dir(sp.Name))
	}
	if sp.Port > 0 {
		if h := s.portHolderLocked(sp.Port); h != nil {
			// Another start claimed the port since it was resolved.
			return nil, fmt.Errorf("port %d was just taken by tsm process %s (id %d); try again, or use --port %d+", sp.Port, h.pub.Name, h.pub.TsmID, sp.Port)
		}
	}
	return nil, nil
}

// lookAlikeLocked returns the process whose name is another spelling of
// name in Unicode (canonically equivalent: "café" composed, or with e and a
// combining accent, as macOS writes file names), nil if none.
func (s *Supervisor) lookAlikeLocked(name string) *process {
	n := norm.NFC.String(name) // name itself, without a copy, when already NFC
	for other, p := range s.procs {
		if other != name && (other == n || norm.NFC.String(other) == n) {
			return p
		}
	}
	return nil
}

// alreadyRunning refuses a start of a name whose process is active: with
// its PID, or, while another start of it has not forked yet, saying so.
func alreadyRunning(m store.Meta) error {
	if m.PID <= 0 {
		return fmt.Errorf("%s is already being started (id %d) by another command; see `tsm list`, or choose another --name", m.Name, m.TsmID)
	}
	return fmt.Errorf("%s is already running (id %d, pid %d); use `tsm restart %s` or choose another --name",
		m.Name, m.TsmID, m.PID, m.Name)
}

// deletingError: the name belongs to a process being deleted.
type deletingError struct{ p *process }

func (e *deletingError) Error() string {
	return fmt.Sprintf("%s is being deleted; try again in a moment", e.p.pub.Name)
}

// startOp starts a run from a resolved spec.
func (p *process) startOp(r *request) {
	st := r.start
	if p.state.active() {
		r.fail(alreadyRunning(p.meta))
		return
	}
	p.cancelRestart()
	p.history = RunState{}
	sp, req := st.sp, st.req
	m := &p.meta
	m.Name, m.Command, m.Port, m.Cwd = sp.Name, sp.Command, store.Port(sp.Port), sp.Cwd
	m.Interpreter, m.ProcessType, m.EnvFile, m.Prehook = sp.Interpreter, sp.ProcessType, sp.EnvFile, sp.PreHook
	m.RestartPolicy = string(st.policy)
	m.MaxRestarts, m.MinUptimeMS = req.MaxRestarts, req.MinUptime.Milliseconds()
	m.StopSignal, m.KillSignal, m.KillTimeoutMS = req.StopSignal, req.KillSignal, req.KillTimeout.Milliseconds()
	m.ReloadSignal, m.ReadyCheck = req.ReloadSignal, req.Ready
	m.MaxMemory, m.CronRestart = req.MaxMemory, req.CronRestart
	m.Watch, m.WatchIgnore = req.Watch, req.WatchIgnore
	h := req.Health
	m.HealthCheck, m.HealthIntervalMS, m.HealthTimeoutMS, m.HealthRetries = h.Spec, h.Interval.Milliseconds(), h.Timeout.Milliseconds(), h.Retries
	m.LogMaxSize, m.LogKeep, m.LogTime = req.LogMaxSize, req.LogKeep, req.LogTime
	p.launch, p.launchErr = p.s.shared.share(store.Launch{Argv: sp.Argv, Env: sp.Env, Cwd: sp.Cwd, Request: requestRecord(req.Request), Context: req.Context, Stdin: req.Stdin}), nil
	// meta.json first: a directory is never without one, whenever the
	// daemon dies (the next one drops a start that got no further).
	err := p.move(Starting)
	if err == nil {
		m.PID = 0
		err = p.intend()
	}
	if err == nil {
		err = p.s.store.WriteLaunch(sp.Name, p.launch)
	}
	if err == nil {
		_, err = p.spawn(true, r.wait)
	}
	if err != nil {
		if st.isNew {
			// Nothing runs: the entry and its files go, the name is free.
			p.s.store.Tombstone(m.Name)
			p.move(Deleted)
			p.s.unlist(p)
		} else {
			p.move(Errored)
			p.save()
		}
		r.fail(fmt.Errorf("start %s: %w", sp.Name, err))
		return
	}
	p.event(events.Start, events.Event{Message: m.Command})
	if req.NoWait {
		r.done(Outcome{Meta: p.meta, Action: r.action(), Ready: "spawned"})
		return
	}
	p.starter = r
	p.armTriggers()
}

// prepareRestart brings a restart's launch record up to date before the
// running process is touched, so that a bad env file leaves it running.
// With updateEnv (restart --update-env) the command is resolved again
// against the caller's environment; a process the bash TSM started has no
// launch record and is rebuilt from its command line.
func (p *process) prepareRestart(r *request) error {
	if err := p.prepareLaunch(r); err != nil {
		return err
	}
	// What would make the new run fail at once is found while the old
	// one still runs.
	if fi, err := os.Stat(p.launch.Cwd); err != nil || !fi.IsDir() {
		return fmt.Errorf("cannot restart %s: its working directory %s is gone (recreate it, or delete %s and start it again from another directory); it keeps running", p.meta.Name, p.launch.Cwd, p.meta.Name)
	}
	return nil
}

func (p *process) prepareLaunch(r *request) error {
	switch {
	case r.updateEnv && len(p.launch.Request) > 0:
		changes, notes, err := p.updateEnv(r.env, r.context)
		r.changes, r.notes = changes, notes
		return err
	case r.updateEnv:
		old := p.launch.Env
		err := p.commandLaunch(r.env, r.context)
		r.changes = envChanges(old, p.launch.Env)
		return err
	case len(p.launch.Argv) == 0:
		return p.commandLaunch(r.env, nil)
	}
	return nil
}

// NoGrace, as the grace of Stop, Restart or Delete, sends the kill signal
// right after the stop signal.
const NoGrace time.Duration = -1

// Stop ends a process gracefully: the stop signal to its group and
// descendants, then the kill signal after grace (0: the process's own kill
// timeout, 10 s unless set; NoGrace: at once).
func (s *Supervisor) Stop(name string, grace time.Duration) (Outcome, error) {
	return s.send(name, &request{kind: opStop, grace: grace})
}

// Kill ends a process at once with SIGKILL.
func (s *Supervisor) Kill(name string) (Outcome, error) {
	return s.send(name, &request{kind: opKill})
}

// Restart stops the process if it runs and starts it again with the same ID,
// name, port, cwd, argv and environment. env is the caller's environment.
// With updateEnv (restart --update-env) the command is resolved again
// against env first, so a bad env file leaves the running process alone;
// Outcome.EnvChanges says which variables changed. A process the bash TSM
// started has no launch record: it is rebuilt from its command line, with
// env.
func (s *Supervisor) Restart(name string, grace, wait time.Duration, env []string, updateEnv bool, ctx *execctx.Context) (Outcome, error) {
	return s.send(name, &request{kind: opRestart, grace: grace, wait: wait, env: env, updateEnv: updateEnv, context: ctx})
}

// Delete stops the process if it runs and removes its directory; its ID
// becomes free.
func (s *Supervisor) Delete(name string, grace time.Duration) (Outcome, error) {
	out, err := s.send(name, &request{kind: opDelete, grace: grace})
	if err == nil {
		s.savePorts()
	}
	return out, err
}

func (s *Supervisor) send(name string, r *request) (Outcome, error) {
	p, err := s.lookup(name)
	if err != nil {
		return Outcome{}, err
	}
	return p.call(r)
}

// readiness returns "port" once the port accepts a connection, "settled"
// when a port-less process survived Settle, "elsewhere" as soon as the
// run listens (listens: the ports its process tree listens on) but not on
// its port — a program that ignores $PORT — "timeout" when the port never
// opened within wait but the process lives, and "" when it died first (or
// quit closed).
func readiness(exited, quit <-chan struct{}, port int, wait time.Duration, listens func() []int) string {
	if port == 0 {
		select {
		case <-exited:
			return ""
		case <-quit:
			return ""
		case <-time.After(Settle):
			return "settled"
		}
	}
	if wait <= 0 {
		wait = DefaultWait
	}
	begun := time.Now()
	scanned := begun
	deadline := time.After(wait)
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		if accepts(port) {
			return "port"
		}
		// A socket table scan per process of the tree: not at every poll
		// (those come every millisecond at first), five times a second.
		if listens != nil && time.Since(scanned) >= 200*time.Millisecond {
			scanned = time.Now()
			if ls := listens(); len(ls) > 0 && !slices.Contains(ls, port) {
				return "elsewhere"
			}
		}
		tick.Reset(pollInterval(time.Since(begun)))
		select {
		case <-exited:
			return ""
		case <-quit:
			return ""
		case <-deadline:
			return "timeout"
		case <-tick.C:
		}
	}
}

// pollInterval is how long readiness waits before it tries the port again,
// elapsed after it began: a fiftieth of that, from 1 ms up to 20 ms. Start
// answers on average half an interval after the port opens, so a server
// that opens it within 200 ms is seen within 2 ms, and one that takes
// seconds costs a probe (two refused connections, ~50 µs) per 20 ms, as
// before: 650 probes in the 10 s default wait instead of 500.
func pollInterval(elapsed time.Duration) time.Duration {
	return min(max(elapsed/50, time.Millisecond), 20*time.Millisecond)
}

// accepts reports whether something accepts TCP connections on the port on
// the loopback interface (IPv4 or IPv6).
func accepts(port int) bool {
	for _, host := range []string{"127.0.0.1", "::1"} {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
	}
	return false
}

// describeHolder names who holds a port: a tsm process or an outside PID
// with its command, and how to free it.
func (s *Supervisor) describeHolder(port int) string {
	s.mu.Lock()
	h := s.portHolderLocked(port)
	var m store.Meta
	if h != nil {
		m = h.pub
	}
	s.mu.Unlock()
	if h != nil {
		return fmt.Sprintf("it belongs to tsm process %s (id %d, pid %d): stop it with `tsm stop %d`, or use --port %d+ to take the next free port",
			m.Name, m.TsmID, m.PID, m.TsmID, port)
	}
	ls, err := proc.Listeners(port)
	if err != nil || len(ls) == 0 {
		if n, _ := proc.Lingering(port); n > 0 {
			return fmt.Sprintf("no process listens on it: %s of a server that has exited still hold it (TIME_WAIT and the like; no process owns them). Its server binds without SO_REUSEADDR, so nothing can bind the port until the kernel releases them, within 60 s: run the command again then, or use --port %d+ to take the next free port",
				plural(n, "closed connection", "closed connections"), port)
		}
		if privilegedPort(port) {
			return fmt.Sprintf("binding it needs privileges this user does not have (ports below 1024 usually do): use a port of 1024 or more, e.g. --port %d+", 8000)
		}
		return fmt.Sprintf("no visible process listens on it (another user's?); use --port %d+ to take the next free port", port)
	}
	var who []string
	for _, l := range ls {
		who = append(who, fmt.Sprintf("PID %d (%s)", l.PID, l.Command))
	}
	return fmt.Sprintf("held by %s: stop it (kill %d), or use --port %d+ to take the next free port",
		strings.Join(who, ", "), ls[0].PID, port)
}

// privilegedPort reports whether binding port is refused for want of
// privilege (EACCES: a port below the system's unprivileged start, 1024 by
// default), not because someone holds it.
func privilegedPort(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err == nil {
		l.Close()
		return false
	}
	return errors.Is(err, syscall.EACCES)
}

// updateEnv resolves p's original request again with env as the caller's
// environment and makes the result its launch record; ctx, when not nil,
// replaces the stored limits and umask. Everything start derived is derived
// again: a port that came from the env file, the command or a default
// follows them (the current port counts as free); a --port N stays N, and
// --port N+ keeps the current port. The name stays: it names the process
// directory and the user's scripts; a note says so when its inputs (NAME,
// the port suffix) changed. It returns the changed variable names and the
// notes.
func (p *process) updateEnv(env []string, ctx *execctx.Context) ([]string, []string, error) {
	m := &p.meta
	var req spec.Request
	if err := json.Unmarshal(p.launch.Request, &req); err != nil || len(req.Argv) == 0 {
		return nil, nil, fmt.Errorf("%s has no stored start request to resolve again; delete it and start it anew", m.Name)
	}
	req.Env = env
	resolveReq := req
	if strings.HasSuffix(req.Port, "+") && m.Port > 0 {
		resolveReq.Port = strconv.Itoa(int(m.Port))
	}
	sp, err := spec.Resolve(resolveReq, ownPort{p.s.sys, int(m.Port)})
	if err != nil {
		return nil, nil, fmt.Errorf("restart %s with the current environment: %w", m.Name, err)
	}
	var notes []string
	if sp.Port != int(m.Port) {
		notes = append(notes, fmt.Sprintf("port %s → %s (from the %s)", portWord(int(m.Port)), portWord(sp.Port), sp.PortSource))
	}
	if sp.Name != m.Name {
		notes = append(notes, fmt.Sprintf("the name stays %s (it would now be %s): a name is fixed at start because it names the process directory and what you type; to rename, tsm delete %s and start it again", m.Name, sp.Name, m.Name))
	}
	changes := envChanges(p.launch.Env, sp.Env)
	launch := store.Launch{Argv: sp.Argv, Env: sp.Env, Cwd: sp.Cwd, Request: requestRecord(req), Context: p.launch.Context, Stdin: p.launch.Stdin}
	if ctx != nil {
		launch.Context = ctx
	}
	if err := p.s.store.WriteLaunch(m.Name, launch); err != nil {
		return nil, nil, err
	}
	p.launch = p.s.shared.share(launch)
	m.Command, m.Interpreter, m.ProcessType, m.EnvFile = sp.Command, sp.Interpreter, sp.ProcessType, sp.EnvFile
	if sp.Port != int(m.Port) {
		// Published at once, so that no other start takes the new port
		// meanwhile (the ladder treated tsm's ports as busy).
		m.Port = store.Port(sp.Port)
		p.publish()
		p.s.savePorts()
	}
	return changes, notes, nil
}

func portWord(p int) string {
	if p == 0 {
		return "none"
	}
	return strconv.Itoa(p)
}

// commandLaunch makes a launch record for a process that has none: one
// started by the bash TSM, which kept only the command line. The line runs
// under bash, as it did there, in the recorded cwd, with env and the
// recorded port.
func (p *process) commandLaunch(env []string, ctx *execctx.Context) error {
	m := &p.meta
	if p.launchErr != nil {
		// Read again: the user may have mended or removed it since.
		l, err := p.s.store.ReadLaunch(m.Name)
		switch {
		case err == nil:
			p.launch, p.launchErr = p.s.shared.share(l), nil
			return nil
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%v: tsm will not guess how %s was run; mend that file, or remove it to run meta.json's command in your environment (`tsm restart %s`), or `tsm delete %s` and start it anew",
				err, m.Name, m.Name, m.Name)
		}
		p.launchErr = nil
	}
	if strings.TrimSpace(m.Command) == "" {
		return fmt.Errorf("%s has neither a launch record nor a command in meta.json; start it again with `tsm start`", m.Name)
	}
	bash, err := p.s.sys.LookPath("bash", envMap(env)["PATH"])
	if err != nil {
		bash = "/bin/sh"
	}
	if m.Port > 0 {
		env = withEnv(env, "PORT="+strconv.Itoa(int(m.Port)))
	}
	cwd := m.Cwd
	if fi, err := os.Stat(cwd); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s: its directory %q is gone; start it again with `tsm start`", m.Name, cwd)
	}
	launch := store.Launch{Argv: []string{bash, "-c", "exec " + m.Command}, Env: env, Cwd: cwd, Context: ctx}
	if err := p.s.store.WriteLaunch(m.Name, launch); err != nil {
		return err
	}
	p.launch = p.s.shared.share(launch)
	return nil
}

// requestRecord keeps a start request for restart --update-env, without its
// environment: Launch.Env already holds what the process runs with, and
// --update-env brings a new one.
func requestRecord(req spec.Request) json.RawMessage {
	req.Env = nil
	b, _ := json.Marshal(req)
	return b
}

// ownPort lets a process being restarted keep the port it holds.
type ownPort struct {
	spec.System
	port int
}

func (o ownPort) PortFree(p int) bool { return p == o.port || o.System.PortFree(p) }

// envChanges names the variables that differ, as +KEY (added), -KEY
// (removed) and ~KEY (changed), sorted by key. Values never appear: they
// may be secrets.
func envChanges(old, cur []string) []string {
	om, cm := envMap(old), envMap(cur)
	var out []string
	for k, v := range cm {
		if ov, ok := om[k]; !ok {
			out = append(out, "+"+k)
		} else if ov != v {
			out = append(out, "~"+k)
		}
	}
	for k := range om {
		if _, ok := cm[k]; !ok {
			out = append(out, "-"+k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1:] < out[j][1:] })
	return out
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

const markerKey = "TSM_MARKER"

// withEnv returns env with the given K=V entries set (replacing old values).
func withEnv(env []string, kvs ...string) []string {
	out := make([]string, 0, len(env)+len(kvs))
	keys := map[string]bool{}
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, kvs...)
}

func stopMessage(action string, descendants int, forced bool) string {
	msg := action
	if descendants > 0 {
		msg += fmt.Sprintf(", %d descendants ended", descendants)
	}
	if forced && action != "killed" {
		msg += ", kill signal needed"
	}
	return msg
}

// plural renders n and the word for n: "1 closed connection", "3 closed
// connections".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
