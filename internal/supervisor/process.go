package supervisor

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/health"
	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/target"
)

// process is one managed process and the goroutine that owns it (loop),
// which runs only while there are messages (see mailbox). Operations,
// exits, readiness, timers and the end of a stop all arrive as messages in
// its mailbox and are handled one at a time, in order.
type process struct {
	s     *Supervisor
	inbox mailbox
	gone  chan struct{} // closed when the process is deleted and its owner returns

	// pub and pubSt are the copy of meta and state that the table shows;
	// guarded by s.mu, written only by publish.
	pub   store.Meta
	pubSt State

	// Everything below is owned by loop: nothing else reads or writes it.
	state  State
	meta   store.Meta
	launch store.Launch
	// launchErr: launch.json is there but unusable; how to run the
	// process is unknown, and no restart guesses it.
	launchErr error
	run       *run          // the current run, nil when there is none
	history   RunState      // restart history the backoff decides on
	timer     *restartTimer // the pending automatic restart, in state BackingOff
	cron      *cronTimer    // the pending --cron-restart, nil without one
	unstable  bool          // the run the timer restarts was unstable
	ending    *ending       // the run being ended, in state Stopping
	endFor    *request      // the request the ending serves (nil: an exit)
	starter   *request      // a start or restart waiting for the run to be ready
	deferred  []*request    // requests that arrived during a stop, in order
	// leftBehind is how many processes the last run's main process left
	// running when it exited (and were ended with it).
	leftBehind int
}

// run is one incarnation of the process: a main process and everything it
// started.
type run struct {
	pid     int
	id      proc.Identity
	cgroup  string
	marker  string
	child   bool // spawned by this daemon: its exit status is known, its orphans come to us
	started time.Time
	manual  bool          // a user's start or restart waits for it to be ready
	port    int           // readiness: the port that must accept connections (0: none)
	wait    time.Duration // readiness: how long to wait for the port (0: DefaultWait)
	exited  chan struct{} // closed when the main process has exited
	exit    *proc.Exit
	health  *healthWatch // the run's health check (nil: none)
	ready   health.Probe // readiness (--ready); nil: the port, or the settle window
	// unready: its --ready check had not passed within --wait; the start
	// was answered, and the run stays starting while the check is asked
	// again (lateReadyEvery) — see process.live.
	unready bool
}

// Messages. A *request is an operation asked by a user.
type (
	exitMsg  struct{ x proc.Exit }
	readyMsg struct {
		r     *run
		how   string // "port", "settled", "timeout" or "elsewhere"
		ports []int  // "elsewhere": the ports the run listens on
	}
	timerMsg struct{ t *restartTimer }
	endedMsg struct {
		e   *ending
		res endResult
	}
	sentMsg  struct{ e *ending } // the stop signal of e went out
	watchMsg struct {
		r   *run
		err error // nil: watched; ErrGone: it is gone
	}
	// recovery is the first message of a process a new daemon loaded.
	recovery struct {
		meta       store.Meta
		launch     store.Launch
		launchErr  error         // launch.json is there but unusable
		alive      bool          // the recorded main process is the very one
		unsure     error         // its identity could not be checked
		carriers   []proc.Member // live processes with the record's marker
		successors []proc.Member // live processes with the next run's marker
		mended     string        // what loading mended in the record (written back at once)
	}
)

func newProcess(s *Supervisor, m store.Meta, st State) *process {
	p := &process{s: s, gone: make(chan struct{}), state: st, meta: m, pub: m, pubSt: st}
	p.inbox.serve = p.loop
	return p
}

// loop is the process's owner while it has messages (see mailbox): it
// returns when the inbox is empty, or when the process is deleted,
// answering whatever was still queued.
func (p *process) loop() {
	for p.state != Deleted {
		msg, ok := p.inbox.next()
		if !ok {
			return
		}
		if quit := p.handle(msg); quit {
			return
		}
	}
	for _, m := range p.inbox.close() {
		if r, ok := m.(*request); ok {
			r.fail(&target.NotFoundError{Target: p.meta.Name})
		}
	}
	for _, r := range p.deferred {
		r.fail(&target.NotFoundError{Target: p.meta.Name})
	}
	close(p.gone)
}

// handle handles one message; true means the goroutine must return. A
// bug that panics here is contained to this process (errored, reported),
// never taking the daemon, and with it every other service's supervision,
// down.
func (p *process) handle(msg any) (quit bool) {
	p.s.handled.Add(1)
	defer func() {
		if v := recover(); v != nil {
			p.s.log.Error("internal error; the process is left as it is", "name", p.meta.Name, "panic", v, "stack", string(debug.Stack()))
			p.event(events.Errored, events.Event{Message: fmt.Sprintf("internal error (%v); please report it. Run `tsm restart %s` to try again", v, p.meta.Name)})
			err := fmt.Errorf("internal error in tsm (%v); see daemon.log", v)
			if r, ok := msg.(*request); ok {
				r.fail(err)
			}
			p.answerStarter(err)
			if p.endFor != nil {
				p.endFor.fail(err)
			}
			p.state, p.ending, p.endFor = Errored, nil, nil
			p.save()
		}
	}()
	switch m := msg.(type) {
	case *request:
		if len(p.deferred) > 0 && m.kind != opSignal && m.kind != opKill {
			// Behind those already waiting; drain serves them in order.
			// (A kill is not kept waiting: request hurries or serves it.)
			p.deferred = append(p.deferred, m)
			break
		}
		p.request(m)
	case exitMsg:
		p.exited(m.x)
	case readyMsg:
		p.ready(m)
	case timerMsg:
		if m.t == p.timer && p.state == BackingOff {
			p.timer = nil
			p.respawn(p.unstable, false)
		}
	case endedMsg:
		if m.e == p.ending {
			p.ended(m.res)
		}
	case sentMsg:
		// Recorded so that a new daemon does not send the stop signal
		// twice; when the ending is already over (a process that quits
		// at once), the record that it ended follows in the inbox and
		// this write would only cost a stop of 100 another 100 writes.
		if m.e == p.ending && p.state == Stopping && !m.e.over.Load() {
			p.meta.StopSent = time.Now().UnixMilli()
			p.intend()
		}
	case watchMsg:
		p.watched(m)
	case healthTick:
		p.healthTick(m)
	case healthResult:
		p.healthResult(m)
	case memTick:
		p.memTick(m)
	case memResult:
		p.memResult(m)
	case cronTick:
		p.cronFired(m)
	case filesChanged:
		p.filesChanged(m)
	case recovery:
		p.recover(m)
		p.armTriggers()
	case quitMsg:
		p.quit()
		return true
	}
	p.drain()
	return false
}

// quitMsg ends the process's goroutine without touching the process:
// the daemon is going away and the next one resumes from disk.
type quitMsg struct{}

func (p *process) quit() {
	err := errors.New("the tsm daemon is stopping; run the command again in a moment")
	for _, m := range p.inbox.close() {
		if r, ok := m.(*request); ok {
			r.fail(err)
		}
	}
	for _, r := range p.deferred {
		r.fail(err)
	}
	p.answerStarter(err)
	if p.endFor != nil {
		p.endFor.fail(err)
	}
}

// move changes the state if the transition table allows it.
func (p *process) move(to State) error {
	if !canMove(p.state, to) {
		err := &IllegalMoveError{Name: p.meta.Name, From: p.state, To: to}
		p.s.log.Error("lifecycle bug", "err", err)
		return err
	}
	p.state = to
	return nil
}

// publish shows meta and state to the table.
func (p *process) publish() {
	p.meta.State = p.state.String()
	live := p.meta.PID
	if p.run == nil || p.run.exit != nil {
		live = 0 // the recorded PID is history: no pid file, not online
	}
	p.meta.Status = p.state.status(live)
	switch p.state {
	case Stopped, Exited, Crashed, Errored:
		// Settled: the run and all it left are over, so its PID names
		// nothing of ours; a reader must not take it for a live process
		// (or signal whatever has the PID now). A stopping or backing-off
		// record keeps it: recovery finds the run's group by it.
		if live == 0 {
			p.meta.PID = 0
		}
	}
	p.s.mu.Lock()
	p.pub, p.pubSt = p.meta, p.state
	p.s.mu.Unlock()
}

// save publishes and durably writes meta.json. A full or read-only disk
// must not stop supervision: the table stays right and the next write
// catches up (the old meta.json stays whole: writes are atomic).
func (p *process) save() error {
	p.publish()
	if p.state == Deleted {
		return nil
	}
	err := p.s.store.WriteMeta(p.meta)
	if err != nil {
		p.s.log.Error("cannot save process state", "name", p.meta.Name, "err", err)
	}
	return err
}

// intend publishes and writes meta.json without fsync: the record of what
// is about to happen, before it happens (store.WriteIntent says why that
// is enough).
func (p *process) intend() error {
	p.publish()
	return p.s.store.WriteIntent(p.meta)
}

func (p *process) event(typ string, ev events.Event) { p.s.event(typ, p.meta, ev) }

// killTimeout is how long a graceful end waits before the kill signal.
func (p *process) killTimeout() time.Duration { return killTimeout(p.meta) }

// killTimeout is how long a graceful end of m's run waits before the kill
// signal.
func killTimeout(m store.Meta) time.Duration {
	if m.KillTimeoutMS > 0 {
		return time.Duration(m.KillTimeoutMS) * time.Millisecond
	}
	return DefaultKillTimeout
}

// DefaultKillTimeout is the grace period between the stop signal and the
// kill signal when neither the command nor the process sets one.
const DefaultKillTimeout = 10 * time.Second

// request handles an operation. Operations are served one at a time, in
// the order they arrived: one that arrives while a run is being ended
// waits for that to finish (a kill also hurries the ending along), a
// restart waits for a start in progress to be ready, and anything but a
// kill or a signal that arrives while others wait queues behind them.
func (p *process) request(r *request) {
	if r.kind == opSignal {
		// A signal is for the run as it is now: never deferred.
		p.signalOp(r)
		return
	}
	// A restart waits for a restart (or start) in progress to be ready,
	// rather than cut it short.
	if p.state == Stopping || (r.kind == opRestart && p.starter != nil) {
		if r.kind == opKill && p.ending != nil {
			p.ending.hurry()
		}
		p.deferred = append(p.deferred, r)
		return
	}
	switch r.kind {
	case opStart:
		p.startOp(r)
	case opStop, opKill:
		if p.run == nil {
			p.cancelRestart()
			if p.state != Stopped {
				p.move(Stopped)
				p.save()
			}
			r.done(Outcome{Meta: p.meta, Action: "not-running"})
			return
		}
		p.beginEnding(r, pendingName[r.kind])
	case opRestart:
		if err := p.prepareRestart(r); err != nil {
			r.fail(err)
			return
		}
		if p.run == nil {
			p.cancelRestart()
			p.restartNow(r)
			return
		}
		p.beginEnding(r, "restart")
	case opDelete:
		if p.run == nil {
			p.cancelRestart()
			p.deleteNow(r, endResult{})
			return
		}
		p.beginEnding(r, "delete")
	}
}

var pendingName = map[opKind]string{opStop: "stop", opKill: "kill"}

// drain serves the requests deferred during a stop, once it is over,
// until one starts another stop. It runs after every message, so no path
// out of stopping can forget it.
func (p *process) drain() {
	for len(p.deferred) > 0 && p.state != Stopping && p.state != Deleted && p.starter == nil {
		r := p.deferred[0]
		p.deferred = p.deferred[1:]
		p.request(r)
	}
}

// endWaiting reports whether a deferred request will end the process.
func (p *process) endWaiting() bool {
	for _, r := range p.deferred {
		if r.kind == opStop || r.kind == opKill || r.kind == opDelete {
			return true
		}
	}
	return false
}

// cancelRestart forgets a pending automatic restart.
func (p *process) cancelRestart() {
	if p.timer != nil {
		p.timer.t.Stop()
		p.timer = nil
	}
	p.meta.NextRestart = 0
}

// answerStarter tells a start or restart still waiting for readiness that
// something else happened first.
func (p *process) answerStarter(err error) {
	if p.starter != nil {
		p.starter.fail(err)
		p.starter = nil
	}
}

// spawn starts a run. Whatever instant the daemon dies at, the record on
// disk lets the next one find the run by its marker: the intent (state
// starting, no PID, the run's marker) is written before the fork — except
// for an immediate automatic respawn (quick), where the record still says
// online with the previous run, whose successor's marker recovery looks
// for too (nextMarker): that keeps a disk write off the path from a crash
// to the new instance. A run whose record cannot be written after the
// fork is ended again.
func (p *process) spawn(manual bool, wait time.Duration) (*run, error) {
	return p.spawnRun(manual, wait, false)
}

// stdinPath is the FIFO the run reads as stdin, or "" for /dev/null.
func (p *process) stdinPath() string {
	if p.launch.Stdin == "null" {
		return ""
	}
	return p.s.store.StdinPath(p.meta.Name)
}

func (p *process) spawnRun(manual bool, wait time.Duration, quick bool) (*run, error) {
	if err := p.move(Starting); err != nil {
		return nil, err
	}
	m := &p.meta
	if len(p.launch.Argv) == 0 {
		// Adopted from the bash TSM and now restarted by policy: the
		// daemon's environment is the best one there is.
		if err := p.commandLaunch(os.Environ(), nil); err != nil {
			return nil, err
		}
	}
	if m.RunBase == "" {
		m.RunBase = fmt.Sprintf("%s/%d/%d", m.Name, m.TsmID, time.Now().UnixNano())
	}
	marker := nextMarker(*m)
	m.Run++
	m.PID, m.PIDStartTicks, m.BootID, m.Cgroup, m.Marker, m.Unverified = 0, 0, "", "", marker, ""
	m.StartTime, m.NextRestart, m.Pending, m.StopDeadline, m.StopSent = time.Now().Unix(), 0, "", 0, 0
	m.HealthError = "" // a new run is checked afresh
	if quick {
		p.publish()
	} else if err := p.intend(); err != nil {
		return nil, fmt.Errorf("record the start of %s: %w", m.Name, err)
	}
	var logSizes []int64
	if m.ReadyCheck != "" {
		logSizes = p.logSizes() // kept off the respawn path of the others
	}
	env := withEnv(p.launch.Env,
		"TSM_ID="+strconv.Itoa(m.TsmID),
		"TSM_NAME="+m.Name,
		"TSM_PROCESS_DIR="+p.s.store.Dir(m.Name),
		marker,
	)
	// Where this run's output begins, for the run markers of `tsm logs`:
	// taken before the fork, written after it, off the respawn's path.
	mark := logs.RunMark{Run: m.Run, Started: time.Now().UnixMilli(), PrevExit: m.ExitCode, PrevSignal: m.ExitSignal,
		Out: logs.End(p.s.store.OutLog(m.Name)), Err: logs.End(p.s.store.ErrLog(m.Name))}
	stdout, stderr := p.s.store.OutLog(m.Name), p.s.store.ErrLog(m.Name)
	if m.LogTime {
		// The daemon's log loop relays the pipes into the log files.
		if err := cmp.Or(logs.MakePipe(stdout), logs.MakePipe(stderr)); err != nil {
			return nil, err
		}
		stdout, stderr = logs.PipePath(stdout), logs.PipePath(stderr)
	}
	pid, cgroup, err := p.s.runner.Spawn(proc.SpawnSpec{
		Argv:    p.launch.Argv,
		Env:     env,
		Dir:     p.launch.Cwd,
		Stdout:  stdout,
		Stderr:  stderr,
		Stdin:   p.stdinPath(),
		Context: p.launch.Context,
	}, m.Name)
	if err != nil {
		return nil, err
	}
	if err := logs.MarkRun(p.s.store.OutLog(m.Name), mark); err != nil {
		p.s.log.Warn("cannot record where the run begins in the logs", "service", m.Name, "err", err)
	}
	r := &run{pid: pid, cgroup: cgroup, marker: marker, child: true, started: time.Now(), manual: manual,
		port: int(m.Port), wait: wait, exited: make(chan struct{})}
	if id, err := p.s.runner.Identify(pid); err == nil {
		r.id = id
	} else {
		r.id = proc.Identity{PID: pid}
	}
	p.run = r
	p.prepareReady(r, logSizes)
	p.s.track(pid, p)
	m.PID, m.PIDStartTicks, m.BootID, m.Cgroup = pid, r.id.StartTime, r.id.BootID, cgroup
	if err := p.save(); err != nil {
		p.rollback(r)
		return nil, fmt.Errorf("could not record the new process of %s (%w), so it was ended again; free some space and try again", m.Name, err)
	}
	go p.awaitReady(r)
	return r, nil
}

// rollback ends a run nothing records: a process tsm cannot find again
// must not run.
func (p *process) rollback(r *run) {
	p.s.runner.SignalGroup(r.pid, sigKill)
	p.s.runner.Signal(r.pid, sigKill)
	p.s.runner.KillCgroup(r.cgroup)
	p.s.untrack(r.pid)
	p.run = nil
	p.meta.PID = 0
}

// awaitReady reports when r is up (see readiness), or nothing if it dies
// first: its exit says so.
func (p *process) awaitReady(r *run) {
	var ports []int // what the tree listened on when last looked at
	listens := func() []int {
		ports = treePorts(r.pid, r.marker)
		return ports
	}
	how := ""
	if r.ready != nil {
		how = probeReadiness(r.exited, p.s.done, r.ready, r.wait)
		if how == "timeout" {
			// The user said what ready means: the run is not online until
			// it passes, however long that takes (Kubernetes' startup
			// probe, without its kill).
			p.inbox.post(readyMsg{r: r, how: how})
			how = probeLate(r.exited, p.s.done, r.ready)
		}
	} else {
		how = readiness(r.exited, p.s.done, r.port, r.wait, listens)
	}
	if how != "" {
		p.inbox.post(readyMsg{r: r, how: how, ports: ports})
	}
}

func (p *process) ready(m readyMsg) {
	if m.r != p.run || p.state != Starting {
		return
	}
	msg := readyMessage(p.meta, m.how, time.Since(m.r.started), m.ports)
	if m.how == "timeout" && m.r.ready != nil {
		// Not ready within --wait: the start is answered, the run stays
		// starting and its check is asked again; --max-memory, --watch
		// and --cron-restart cover it meanwhile (health checks begin once
		// it is ready).
		m.r.unready = true
		p.watchMemory(m.r)
		p.event(events.Ready, events.Event{Message: msg})
		if p.starter != nil {
			p.starter.done(Outcome{Meta: p.meta, Action: p.starter.action(), Ready: m.how, EnvChanges: p.starter.changes, Notes: p.starterNotes(m)})
			p.starter = nil
		}
		return
	}
	p.move(Online)
	p.save()
	if m.r.unready {
		p.watchHealth(m.r) // its memory is watched already
	} else {
		p.watchRun(m.r)
	}
	p.event(events.Ready, events.Event{Message: msg})
	if p.starter != nil {
		p.starter.done(Outcome{Meta: p.meta, Action: p.starter.action(), Ready: m.how, Listening: m.ports, EnvChanges: p.starter.changes, Notes: p.starterNotes(m)})
		p.starter = nil
	}
}

// starterNotes are the notes of the answer to the start or restart waiting
// for m: those of restart --update-env, and for a restart whose run was
// not ready within the wait, that it is not (start's CLI says so itself,
// from the Ready of its answer).
func (p *process) starterNotes(m readyMsg) []string {
	notes := p.starter.notes
	if m.how != "timeout" || p.starter.kind != opRestart {
		return notes
	}
	wait := cmp.Or(m.r.wait, DefaultWait)
	note := fmt.Sprintf("nothing accepts connections on port %d yet (waited %s); see `tsm logs %d`", p.meta.Port, wait, p.meta.TsmID)
	if m.r.ready != nil {
		note = fmt.Sprintf("--ready %s has not passed yet (waited %s); it stays starting until it does (asked every %s), see `tsm logs %d`", p.meta.ReadyCheck, wait, lateReadyEvery, p.meta.TsmID)
	}
	return append(slices.Clip(notes), note)
}

// live reports whether the process runs as far as restarts on a limit, a
// schedule or a file change are concerned: up, or started and still
// waiting for its --ready check past --wait.
func (p *process) live() bool {
	return p.state.up() || (p.state == Starting && p.run != nil && p.run.unready)
}

// exited handles the end of a run's main process.
func (p *process) exited(x proc.Exit) {
	r := p.run
	if r == nil || r.pid != x.PID || r.exit != nil {
		return
	}
	r.exit = &x
	close(r.exited)
	m := &p.meta
	m.StopTime = time.Now().Unix()
	if x.Known {
		code := x.Code
		m.ExitCode = &code
		m.ExitSignal = ""
		if x.Signal != 0 {
			m.ExitSignal = signalName(x.Signal)
		}
	}
	ev := events.Event{PID: x.PID, ExitCode: m.ExitCode, Signal: m.ExitSignal}
	if !x.Known {
		ev.Message = "exit status unknown (adopted process)"
	}
	if p.state == Stopping {
		// The ending in progress was waiting for this.
		p.event(events.Exit, ev)
		return
	}
	if p.starter != nil && r.manual && failed(x) {
		ev.Message = "died during startup: a failed start, not restarted"
	}
	p.event(events.Exit, ev)
	if p.leftoversPossible(r) {
		// systemd's KillMode=control-group: what the main process leaves
		// behind is ended before anything else happens to the process.
		p.beginEnding(nil, "exit")
		return
	}
	p.afterExit()
}

func failed(x proc.Exit) bool { return !x.Known || x.Code != 0 || x.Signal != 0 }

// leftoversPossible reports whether anything of r may still run now that
// its main process exited (see Supervisor.mayRemain).
func (p *process) leftoversPossible(r *run) bool {
	return p.s.mayRemain(r.pid, r.cgroup, r.child)
}

// afterExit decides what follows a run that ended by itself, once nothing
// of it is left: a failed start is reported, and the restart policy says
// whether to start again, now or after a backoff.
func (p *process) afterExit() {
	r := p.run
	p.run = nil
	defer func() { p.leftBehind = 0 }()
	onDisk := p.state // nothing was written since the run ended
	x := proc.Exit{PID: r.pid}
	if r.exit != nil {
		x = *r.exit
	}
	m := &p.meta
	m.Pending, m.StopDeadline, m.StopSent = "", 0, 0
	if p.starter != nil && r.manual && failed(x) {
		// Died inside start's settle window: a failed start, not a loop.
		p.move(Crashed)
		p.save()
		p.answerStarter(p.startFailed(x))
		return
	}
	policy, _ := ParsePolicy(m.RestartPolicy)
	b := p.s.backoffFor(m)
	d, st := b.Decide(policy, failed(x), time.Since(r.started), p.history)
	p.history = st
	if p.endWaiting() {
		// A stop, kill or delete is waiting: no point in starting a run
		// only to end it.
		d = Decision{}
	}
	if p.starter != nil {
		// A clean exit inside the settle window: the command finished.
		p.starter.done(Outcome{Meta: *m, Action: p.starter.action(), Ready: "exited", Restarting: d.Restart, Descendants: p.leftBehind})
		p.starter = nil
	}
	switch {
	case d.Errored:
		p.move(Errored)
		p.save()
		p.event(events.Errored, events.Event{Message: fmt.Sprintf("%d unstable restarts in a row (runs shorter than %s); run `tsm restart %s` after fixing it", p.history.ConsecutiveUnstable-1, b.MinUptime, m.Name)})
	case d.Restart && d.Delay == 0:
		// Every millisecond down counts: no timer, no intermediate state
		// on disk, and no intent either while the record still says the
		// previous run is up (where recovery can find its successor by
		// its marker: not on macOS).
		p.respawn(d.Unstable, proc.MarkersVisible && (onDisk.up() || onDisk == Starting))
		return
	case d.Restart:
		p.move(BackingOff)
		p.scheduleRestart(d.Delay, d.Unstable)
		p.save()
		p.event(events.Backoff, events.Event{DelayMS: d.Delay.Milliseconds()})
	case failed(x):
		p.move(Crashed)
		p.save()
	default:
		p.move(Exited)
		p.save()
	}
}

// scheduleRestart arms the automatic restart of a process in BackingOff.
func (p *process) scheduleRestart(delay time.Duration, unstable bool) {
	p.meta.NextRestart = time.Now().Add(delay).UnixMilli()
	p.unstable = unstable
	rt := &restartTimer{}
	rt.t = time.AfterFunc(delay, func() { p.inbox.post(timerMsg{rt}) })
	p.timer = rt
}

// restartTimer is a pending automatic restart. A fire that arrives after
// the restart was cancelled carries another pointer than p.timer and is
// dropped.
type restartTimer struct{ t *time.Timer }

// respawn is an automatic restart. quick: at once after a run that ended
// by itself with nothing left behind, while the record on disk still
// describes that run (see spawn).
func (p *process) respawn(unstable, quick bool) {
	m := &p.meta
	m.Restarts++
	if unstable {
		m.UnstableRestarts++
	}
	if _, err := p.spawnRun(false, 0, quick); err != nil {
		m.Restarts--
		if unstable {
			m.UnstableRestarts--
		}
		p.move(Errored)
		p.save()
		p.event(events.Errored, events.Event{Message: "automatic restart failed: " + err.Error()})
		return
	}
	p.event(events.Restart, events.Event{Restarts: m.Restarts, Message: "automatic"})
}

// startFailed describes a run that died inside start's settle window.
func (p *process) startFailed(x proc.Exit) error {
	name := p.meta.Name
	fail := &StartFailedError{Name: name, Exit: x, Stream: "stderr"}
	fail.Tail, _ = logs.Tail(p.s.store.ErrLog(name), 10)
	if len(fail.Tail) == 0 {
		fail.Stream = "stdout"
		fail.Tail, _ = logs.Tail(p.s.store.OutLog(name), 5)
	}
	if port := int(p.meta.Port); port > 0 && !p.s.sys.PortFree(port) {
		fail.Holder = p.s.describeHolder(port)
	}
	return fail
}

// beginEnding ends the current run (or what is left of it) in the
// background: the intent — state stopping, what for, and when the kill
// signal is due — is on disk before the first signal.
func (p *process) beginEnding(r *request, pending string) {
	p.cancelRestart()
	if r != nil {
		p.answerStarter(fmt.Errorf("%s was %s by another command before it was ready", p.meta.Name, pastTense[pending]))
	}
	run := p.run
	grace := p.killTimeout()
	if r != nil && r.grace != 0 {
		grace = max(r.grace, 0)
	}
	if pending == "kill" {
		grace = 0
	}
	p.move(Stopping)
	m := &p.meta
	m.Pending, m.StopDeadline, m.StopSent = pending, time.Now().Add(grace).UnixMilli(), 0
	if settledByJournal(r, m) {
		// The stop journal is this stop's intent, on disk already.
		p.publish()
	} else if err := p.intend(); err != nil {
		// Stop anyway: a full disk must not keep a process running that
		// the user wants gone; the next save catches up.
		p.s.log.Error("cannot record a stop before signalling", "name", m.Name, "err", err)
	}
	p.startEnding(p.newEnding(run, grace, false), r)
}

// startEnding runs e in the background; the process hears when the stop
// signal went out (recorded, so a new daemon does not send it twice) and
// when the run is over.
func (p *process) startEnding(e *ending, r *request) {
	p.ending, p.endFor = e, r
	e.sent = func() { p.inbox.post(sentMsg{e}) }
	go func() {
		res := p.s.end(e)
		e.over.Store(true)
		p.inbox.post(endedMsg{e: e, res: res})
	}()
}

var pastTense = map[string]string{"stop": "stopped", "kill": "killed", "restart": "restarted", "delete": "deleted", "exit": "ended"}

// newEnding captures what the ending goroutine needs, so that it never
// touches the process's own fields.
func (p *process) newEnding(r *run, grace time.Duration, resumed bool) *ending {
	e := &ending{
		pid: r.pid, marker: r.marker, since: r.id.StartTime, cgroup: r.cgroup, child: r.child,
		exited: r.exited, grace: grace, resumed: resumed, hurried: make(chan struct{}),
		stopSig: sigTerm, killSig: sigKill,
	}
	if sig, ok := ParseSignal(p.meta.StopSignal); ok && p.meta.StopSignal != "" {
		e.stopSig = sig
	}
	if sig, ok := ParseSignal(p.meta.KillSignal); ok && p.meta.KillSignal != "" {
		e.killSig = sig
	}
	return e
}

// ended completes what the ending was for.
func (p *process) ended(res endResult) {
	r := p.endFor
	pending := p.meta.Pending
	p.ending, p.endFor = nil, nil
	if p.run != nil {
		p.s.untrack(p.run.pid)
	}
	switch pending {
	case "exit":
		p.leftBehind = res.descendants
		if res.descendants > 0 {
			what := "processes"
			if res.descendants == 1 {
				what = "process"
			}
			msg := fmt.Sprintf("ended %d %s its main process left behind", res.descendants, what)
			if res.forced {
				msg += ", kill signal needed"
			}
			p.event(events.Cleanup, events.Event{Message: msg})
		}
		p.afterExit()
		return
	case "delete":
		p.run = nil
		p.deleteNow(r, res)
		return
	case "restart":
		p.run = nil
		p.meta.Pending, p.meta.StopDeadline, p.meta.StopSent = "", 0, 0
		if r == nil {
			// A restart a previous daemon began: nobody waits for it.
			r = &request{kind: opRestart, reply: make(chan result, 1), detached: true}
		}
		p.restartNow(r)
		return
	}
	// stop, kill, or a resumed stop
	p.run = nil
	m := &p.meta
	m.Pending, m.StopDeadline, m.StopSent = "", 0, 0
	p.move(Stopped)
	var err error
	if settledByJournal(r, m) {
		// The stop journal holds the stop durably: this record need only
		// survive the daemon (see journal.go).
		err = p.intend()
	} else {
		err = p.save()
	}
	action := "stopped"
	if pending == "kill" {
		action = "killed"
	}
	p.event(events.Stop, events.Event{Message: stopMessage(action, res.descendants, res.forced)})
	if r != nil {
		if err != nil {
			r.fail(fmt.Errorf("%s %s (id %d), but could not record it on disk (%w); free some space, then run `tsm list` to check", action, m.Name, m.TsmID, err))
		} else {
			r.done(Outcome{Meta: *m, Action: action, Descendants: res.descendants, Forced: res.forced})
		}
	}
}

// deleteNow removes the process: its directory first (renamed away in one
// step, so a new process of the same name never meets its files), then
// its entry, which frees the name and ID.
func (p *process) deleteNow(r *request, res endResult) {
	if err := p.s.store.Tombstone(p.meta.Name); err != nil {
		p.s.log.Error("cannot remove a process directory", "name", p.meta.Name, "err", err)
		p.meta.Pending = ""
		if p.state != Stopped {
			p.move(Stopped)
		}
		p.save()
		if r != nil {
			r.fail(fmt.Errorf("delete %s: %w", p.meta.Name, err))
		}
		return
	}
	p.move(Deleted)
	p.s.files.Remove(p.meta.Name)
	p.s.unlist(p)
	p.s.savePorts()
	p.event(events.Delete, events.Event{Message: stopMessage("deleted", res.descendants, res.forced)})
	if r != nil {
		r.done(Outcome{Meta: p.meta, Action: "deleted", Descendants: res.descendants, Forced: res.forced})
	}
}

// restartFor restarts the run gracefully for a reason of tsm's own (a
// failed health check, a memory limit, a schedule, changed files): the
// reason is recorded in meta.json and in the restart event.
func (p *process) restartFor(reason string) {
	p.meta.RestartReason = reason
	p.beginEnding(&request{kind: opRestart, reply: make(chan result, 1), detached: true, reason: reason}, "restart")
}

// restartNow starts a run for a restart request once no run is left.
func (p *process) restartNow(r *request) {
	m := &p.meta
	if port := int(m.Port); port > 0 && !p.waitPortFree(port, r.wait) {
		if p.state == Stopping {
			p.move(Stopped)
		}
		p.save()
		r.fail(fmt.Errorf("port %d is still in use; %s", port, p.s.describeHolder(port)))
		return
	}
	m.Restarts++
	p.history = RunState{}
	if _, err := p.spawn(!r.detached, r.wait); err != nil {
		m.Restarts--
		p.move(Errored)
		p.save()
		p.event(events.Errored, events.Event{Message: "restart failed: " + err.Error()})
		r.fail(fmt.Errorf("restart %s: %w", m.Name, err))
		return
	}
	msg := "on request"
	if r.reason != "" {
		msg = "automatic: " + r.reason
	}
	if r.updateEnv {
		msg += fmt.Sprintf(", with the caller's environment (%d variables changed)", len(r.changes))
	}
	p.event(events.Restart, events.Event{Restarts: m.Restarts, Message: msg})
	p.starter = r
}

// waitPortFree gives a just-stopped process's port a moment to be released
// by the kernel: a second, or, while nothing but closed connections of the
// last run hold it (a server that binds without SO_REUSEADDR leaves them
// unbindable for up to 60 s), the wait window (0: DefaultWait), so that a
// restart does not fail on what is about to go away.
func (p *process) waitPortFree(port int, wait time.Duration) bool {
	if wait <= 0 {
		wait = DefaultWait
	}
	start := time.Now()
	for {
		if p.s.base.PortFree(port) {
			return true
		}
		if time.Since(start) >= time.Second {
			if n, _ := proc.Lingering(port); n == 0 || time.Since(start) >= wait {
				return false
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
