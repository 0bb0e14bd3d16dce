package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
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
	Ready       string // for start/restart: port, settled, timeout
	EnvChanges  []string
}

// Start resolves and starts a new process and waits until it is up.
func (s *Supervisor) Start(req StartRequest) (Outcome, error) {
	policy, err := ParsePolicy(req.Restart)
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %v", spec.ErrUsage, err)
	}
	reqJSON := requestRecord(req.Request)

	s.mu.Lock()
	sp, err := spec.Resolve(req.Request, s.sys)
	if err != nil {
		var busy *spec.PortBusyError
		if errors.As(err, &busy) {
			err = fmt.Errorf("%w; %s", err, s.describeHolderLocked(busy.Port))
		}
		s.mu.Unlock()
		return Outcome{}, err
	}
	e, isNew, err := s.claimLocked(sp.Name)
	if err != nil {
		s.mu.Unlock()
		return Outcome{}, err
	}
	defer e.opMu.Unlock()
	s.cancelRestartLocked(e)
	e.runState = RunState{}
	m := &e.meta
	m.Name = sp.Name
	m.Command = sp.Command
	m.Port = store.Port(sp.Port)
	m.Cwd = sp.Cwd
	m.Interpreter = sp.Interpreter
	m.ProcessType = sp.ProcessType
	m.EnvFile = sp.EnvFile
	m.Prehook = sp.PreHook
	m.RestartPolicy = string(policy)
	m.MaxRestarts = req.MaxRestarts
	m.MinUptimeMS = req.MinUptime.Milliseconds()
	e.launch = store.Launch{Argv: sp.Argv, Env: sp.Env, Cwd: sp.Cwd, Request: reqJSON}
	err = s.store.WriteLaunch(sp.Name, e.launch)
	if err == nil {
		err = s.spawnLocked(e)
	}
	if err != nil {
		if isNew {
			s.removeLocked(e)
		} else {
			m.Status = store.StatusErrored
			s.saveLocked(e)
		}
		s.mu.Unlock()
		return Outcome{}, fmt.Errorf("start %s: %w", sp.Name, err)
	}
	s.event(events.Start, *m, events.Event{Message: m.Command})
	e.starting = true
	exited := e.exited
	s.mu.Unlock()
	s.savePorts()

	return s.awaitStart(e, exited, "started", req.Wait)
}

// claimLocked returns the entry a start of name will use, with its opMu
// held: a new one with the lowest free ID, or the existing entry of a
// process that is not running (it keeps its ID and counters).
func (s *Supervisor) claimLocked(name string) (*entry, bool, error) {
	if e, ok := s.procs[name]; ok {
		if e.active() {
			return nil, false, fmt.Errorf("%s is already running (id %d, pid %d); use `tsm restart %s` or choose another --name",
				name, e.meta.TsmID, e.meta.PID, name)
		}
		if !e.opMu.TryLock() {
			return nil, false, fmt.Errorf("%s is busy with another command; try again", name)
		}
		return e, false, nil
	}
	e := &entry{meta: store.Meta{TsmID: s.lowestFreeIDLocked(), Name: name, Status: store.StatusOnline}}
	e.opMu.Lock()
	s.procs[name] = e
	return e, true, nil
}

// awaitStart waits for the run just spawned to come up. The caller holds
// e.opMu and set e.starting under s.mu when it spawned, so that an exit
// inside the settle window is a failed start, not a restart.
func (s *Supervisor) awaitStart(e *entry, exited <-chan struct{}, action string, wait time.Duration) (Outcome, error) {
	s.mu.Lock()
	port := int(e.meta.Port)
	s.mu.Unlock()

	ready := awaitReady(exited, port, wait)

	s.mu.Lock()
	defer s.mu.Unlock()
	e.starting = false
	if ready != "" {
		msg := map[string]string{"port": fmt.Sprintf("port %d accepts connections", port), "settled": "alive after " + Settle.String(),
			"timeout": fmt.Sprintf("alive, but nothing accepts connections on port %d yet", port)}[ready]
		s.event(events.Ready, e.meta, events.Event{Message: msg})
		return Outcome{Meta: e.meta, Action: action, Ready: ready}, nil
	}
	e.meta.Status = store.StatusCrashed
	s.saveLocked(e)
	fail := &StartFailedError{Name: e.meta.Name, Exit: e.lastExit, Stream: "stderr"}
	fail.Tail, _ = logs.Tail(s.store.ErrLog(e.meta.Name), 10)
	if len(fail.Tail) == 0 {
		fail.Stream = "stdout"
		fail.Tail, _ = logs.Tail(s.store.OutLog(e.meta.Name), 5)
	}
	if port > 0 && !s.sys.PortFree(port) {
		fail.Holder = s.describeHolderLocked(port)
	}
	return Outcome{Meta: e.meta}, fail
}

// awaitReady returns "port" once the port accepts a connection, "settled"
// when a port-less process survived Settle, "timeout" when the port never
// opened within wait but the process lives, and "" when it died first.
func awaitReady(exited <-chan struct{}, port int, wait time.Duration) string {
	if port == 0 {
		select {
		case <-exited:
			return ""
		case <-time.After(Settle):
			return "settled"
		}
	}
	if wait <= 0 {
		wait = DefaultWait
	}
	deadline := time.After(wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if accepts(port) {
			return "port"
		}
		select {
		case <-exited:
			return ""
		case <-deadline:
			return "timeout"
		case <-tick.C:
		}
	}
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

// describeHolderLocked names who holds a port: a tsm process or an outside
// PID with its command, and how to free it.
func (s *Supervisor) describeHolderLocked(port int) string {
	if e := s.portHolderLocked(port); e != nil {
		return fmt.Sprintf("it belongs to tsm process %s (id %d, pid %d): stop it with `tsm stop %d`, or use --port %d+ to take the next free port",
			e.meta.Name, e.meta.TsmID, e.meta.PID, e.meta.TsmID, port)
	}
	ls, err := proc.Listeners(port)
	if err != nil || len(ls) == 0 {
		return fmt.Sprintf("no visible process listens on it (another user's?); use --port %d+ to take the next free port", port)
	}
	var who []string
	for _, l := range ls {
		who = append(who, fmt.Sprintf("PID %d (%s)", l.PID, l.Command))
	}
	return fmt.Sprintf("held by %s: stop it (kill %d), or use --port %d+ to take the next free port",
		strings.Join(who, ", "), ls[0].PID, port)
}

// Stop ends a process gracefully: SIGTERM to its group and descendants, then
// SIGKILL after grace.
func (s *Supervisor) Stop(name string, grace time.Duration) (Outcome, error) {
	return s.end(name, grace, "stopped")
}

// Kill ends a process at once with SIGKILL.
func (s *Supervisor) Kill(name string) (Outcome, error) {
	return s.end(name, 0, "killed")
}

func (s *Supervisor) end(name string, grace time.Duration, action string) (Outcome, error) {
	e, err := s.lookup(name)
	if err != nil {
		return Outcome{}, err
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	desc, forced, was := s.stopRun(e, grace)
	s.mu.Lock()
	e.meta.Status = store.StatusStopped
	if !was {
		action = "not-running"
	} else {
		s.event(events.Stop, e.meta, events.Event{Message: stopMessage(action, desc, forced)})
	}
	m := e.meta
	s.mu.Unlock()
	// Written outside s.mu so that stopping many processes at once does not
	// queue every fsync behind one lock. Nothing else writes e's files now:
	// we hold e.opMu and e has no run whose exit could be handled.
	if err := s.store.WriteMeta(m); err != nil {
		return Outcome{}, fmt.Errorf("%s %s (id %d), but could not record it on disk (%w); free some space, then run `tsm list` to check", action, m.Name, m.TsmID, err)
	}
	return Outcome{Meta: m, Action: action, Descendants: desc, Forced: forced}, nil
}

// Restart stops the process if it runs and starts it again with the same ID,
// name, port, cwd, argv and environment. env is the caller's environment.
// With updateEnv (restart --update-env) the command is resolved again
// against env first, so a bad env file leaves the running process alone;
// Outcome.EnvChanges says which variables changed. A process the bash TSM
// started has no launch record: it is rebuilt from its command line, with
// env.
func (s *Supervisor) Restart(name string, grace, wait time.Duration, env []string, updateEnv bool) (Outcome, error) {
	e, err := s.lookup(name)
	if err != nil {
		return Outcome{}, err
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()

	var changes []string
	s.mu.Lock()
	switch {
	case updateEnv && len(e.launch.Request) > 0:
		changes, err = s.updateEnvLocked(e, env)
	case updateEnv:
		old := e.launch.Env
		err = s.commandLaunchLocked(e, env)
		changes = envChanges(old, e.launch.Env)
	case len(e.launch.Argv) == 0:
		err = s.commandLaunchLocked(e, env)
	}
	s.mu.Unlock()
	if err != nil {
		return Outcome{}, err
	}
	s.stopRun(e, grace)

	s.mu.Lock()
	if e.removed {
		s.mu.Unlock()
		return Outcome{}, fmt.Errorf("%s was deleted", name)
	}
	if port := int(e.meta.Port); port > 0 && !s.waitPortFreeLocked(port) {
		err := fmt.Errorf("port %d is still in use; %s", port, s.describeHolderLocked(port))
		e.meta.Status = store.StatusStopped
		s.saveLocked(e)
		s.mu.Unlock()
		return Outcome{}, err
	}
	e.meta.Restarts++ // before the spawn, which saves meta.json
	e.runState = RunState{}
	if err := s.spawnLocked(e); err != nil {
		e.meta.Restarts-- // nothing was restarted
		e.meta.Status = store.StatusErrored
		s.saveLocked(e)
		s.mu.Unlock()
		return Outcome{}, fmt.Errorf("restart %s: %w", name, err)
	}
	msg := "on request"
	if updateEnv {
		msg += fmt.Sprintf(", with the caller's environment (%d variables changed)", len(changes))
	}
	s.event(events.Restart, e.meta, events.Event{Restarts: e.meta.Restarts, Message: msg})
	e.starting = true
	exited := e.exited
	s.mu.Unlock()
	out, err := s.awaitStart(e, exited, "restarted", wait)
	out.EnvChanges = changes
	return out, err
}

// updateEnvLocked resolves e's original request again with env as the
// caller's environment, keeping its name and port, and makes the result
// its launch record. It returns the changed variable names.
func (s *Supervisor) updateEnvLocked(e *entry, env []string) ([]string, error) {
	var req spec.Request
	if err := json.Unmarshal(e.launch.Request, &req); err != nil || len(req.Argv) == 0 {
		return nil, fmt.Errorf("%s has no stored start request to resolve again; delete it and start it anew", e.meta.Name)
	}
	req.Env = env
	req.Port = "none"
	if e.meta.Port > 0 {
		req.Port = strconv.Itoa(int(e.meta.Port))
	}
	sp, err := spec.Resolve(req, ownPort{s.sys, int(e.meta.Port)})
	if err != nil {
		return nil, fmt.Errorf("restart %s with the current environment: %w", e.meta.Name, err)
	}
	changes := envChanges(e.launch.Env, sp.Env)
	reqJSON := requestRecord(req)
	launch := store.Launch{Argv: sp.Argv, Env: sp.Env, Cwd: sp.Cwd, Request: reqJSON}
	if err := s.store.WriteLaunch(e.meta.Name, launch); err != nil {
		return nil, err
	}
	e.launch = launch
	e.meta.Command, e.meta.Interpreter, e.meta.ProcessType, e.meta.EnvFile = sp.Command, sp.Interpreter, sp.ProcessType, sp.EnvFile
	return changes, nil
}

// commandLaunchLocked makes a launch record for a process that has none:
// one started by the bash TSM, which kept only the command line. The line
// runs under bash, as it did there, in the recorded cwd, with env and the
// recorded port.
func (s *Supervisor) commandLaunchLocked(e *entry, env []string) error {
	m := &e.meta
	if strings.TrimSpace(m.Command) == "" {
		return fmt.Errorf("%s has neither a launch record nor a command in meta.json; start it again with `tsm start`", m.Name)
	}
	bash, err := s.sys.LookPath("bash", envMap(env)["PATH"])
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
	launch := store.Launch{Argv: []string{bash, "-c", "exec " + m.Command}, Env: env, Cwd: cwd}
	if err := s.store.WriteLaunch(m.Name, launch); err != nil {
		return err
	}
	e.launch = launch
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

// waitPortFreeLocked gives a just-stopped process's port a moment to be
// released by the kernel.
func (s *Supervisor) waitPortFreeLocked(port int) bool {
	for i := 0; i < 50; i++ {
		if s.base.PortFree(port) {
			return true
		}
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		s.mu.Lock()
	}
	return false
}

// Delete stops the process if it runs and removes its directory; its ID
// becomes free.
func (s *Supervisor) Delete(name string, grace time.Duration) (Outcome, error) {
	e, err := s.lookup(name)
	if err != nil {
		return Outcome{}, err
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	desc, forced, _ := s.stopRun(e, grace)
	s.mu.Lock()
	s.unlistLocked(e)
	s.event(events.Delete, e.meta, events.Event{Message: stopMessage("deleted", desc, forced)})
	m := e.meta
	s.mu.Unlock()
	// Outside s.mu, as in end: deleting many processes must not serialise
	// on one lock while the disk works.
	if err := s.store.Remove(m.Name); err != nil {
		return Outcome{}, fmt.Errorf("delete %s: %w", name, err)
	}
	s.savePorts()
	return Outcome{Meta: m, Action: "deleted", Descendants: desc, Forced: forced}, nil
}

// unlistLocked forgets e; its ID and name are free from now on.
func (s *Supervisor) unlistLocked(e *entry) {
	e.removed = true
	delete(s.procs, e.meta.Name)
}

func (s *Supervisor) removeLocked(e *entry) error {
	s.unlistLocked(e)
	return s.store.Remove(e.meta.Name)
}

// stopRun ends the current run of e and every process it started: SIGTERM
// to the process group and to descendants outside it, SIGKILL to whatever
// remains after grace (at once when grace is 0). It reports how many
// descendants there were, whether SIGKILL was needed, and whether anything
// ran. The caller holds e.opMu.
func (s *Supervisor) stopRun(e *entry, grace time.Duration) (descendants int, forced bool, wasRunning bool) {
	s.mu.Lock()
	s.cancelRestartLocked(e)
	exited := e.exited
	if exited == nil {
		s.mu.Unlock()
		return 0, false, false
	}
	e.stopping = true
	pid, marker, since, cgroup := e.meta.PID, e.meta.Marker, e.meta.PIDStartTicks, e.meta.Cgroup
	s.mu.Unlock()

	// Walk the tree before signalling: once pid dies its children are
	// re-parented and no longer look like descendants. The cgroup, when
	// there is one, holds every descendant whatever it did.
	tree := s.family(pid, marker, since, cgroup)
	sig := syscall.SIGTERM
	if grace <= 0 {
		sig = syscall.SIGKILL
		forced = true
	}
	// The process itself too: one adopted from the bash TSM may not lead
	// its group, and then the group signal reaches nobody.
	s.runner.SignalGroup(pid, sig)
	s.runner.Signal(pid, sig)
	for _, p := range tree {
		s.runner.Signal(p, sig)
	}
	// Pin what was found: a PID that dies during the grace period may be
	// recycled by then, and a stranger must never get the SIGKILL.
	pinned := s.pin(tree)
	deadline := time.Now().Add(grace)
	select {
	case <-exited:
	case <-time.After(grace):
	}
	for time.Now().Before(deadline) && len(s.stillAlive(pinned)) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	// Late arrivals (forked during the grace period) are found by group,
	// session, marker and cgroup even though pid may be gone.
	late := s.family(pid, marker, since, cgroup)
	all := union(tree, late)
	survivors := s.stillAlive(append(pinned, s.pin(late)...))
	mainAlive := true
	select {
	case <-exited:
		mainAlive = false
	default:
	}
	if mainAlive || len(survivors) > 0 {
		forced = true
		if mainAlive {
			// Only while pid is ours: once it is gone the group is reached
			// through the survivors found by pgid.
			s.runner.SignalGroup(pid, syscall.SIGKILL)
			s.runner.Signal(pid, syscall.SIGKILL)
		}
		for _, p := range survivors {
			s.runner.Signal(p, syscall.SIGKILL)
		}
		s.runner.KillCgroup(cgroup)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		// Unkillable (D state) or a lost exit event: do not hang the CLI.
	}
	s.runner.RemoveCgroup(cgroup)
	return len(all), forced, true
}

// family is everything that belongs to a run besides its root: the
// process tree (parents, group, session, marker) and its cgroup's members.
func (s *Supervisor) family(pid int, marker string, since uint64, cgroup string) []int {
	tree, _ := s.runner.Tree(pid, marker, since)
	var members []int
	for _, p := range s.runner.CgroupMembers(cgroup) {
		if p != pid {
			members = append(members, p)
		}
	}
	return union(tree, members)
}

func stopMessage(action string, descendants int, forced bool) string {
	msg := action
	if descendants > 0 {
		msg += fmt.Sprintf(", %d descendants ended", descendants)
	}
	if forced && action != "killed" {
		msg += ", SIGKILL needed"
	}
	return msg
}

// pin records the identity of each PID that still exists.
func (s *Supervisor) pin(pids []int) []proc.Identity {
	ids := make([]proc.Identity, 0, len(pids))
	for _, p := range pids {
		if id, err := s.runner.Identify(p); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// stillAlive returns the PIDs whose pinned process still runs (not a
// zombie, not a newcomer that reused the PID).
func (s *Supervisor) stillAlive(ids []proc.Identity) []int {
	var out []int
	for _, id := range ids {
		if cur, err := s.runner.Identify(id.PID); err == nil && cur == id {
			out = append(out, id.PID)
		}
	}
	return out
}

func union(a, b []int) []int {
	seen := make(map[int]bool, len(a)+len(b))
	var out []int
	for _, l := range [][]int{a, b} {
		for _, p := range l {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// Live returns live stats of a running process.
func (s *Supervisor) Live(m store.Meta) (proc.Stats, []int, bool) {
	if m.Status != store.StatusOnline || m.PID <= 1 {
		return proc.Stats{}, nil, false
	}
	id := proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID}
	st, err := s.sampler.Sample(id)
	if err != nil {
		return proc.Stats{}, nil, false
	}
	ports, _ := proc.ListeningPorts(m.PID)
	return st, ports, true
}
