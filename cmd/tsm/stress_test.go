package main

// TestStress throws random, concurrent lifecycle commands at one state
// directory while a killer goroutine SIGKILLs the daemon at random moments
// and a few ms into operations, then lets things settle and checks that the
// table and the live processes still agree. It is the end-to-end evidence
// for the lifecycle rewrite: the races it hunts (a stop beside a delete, a
// daemon killed a few ms into a spawn or a stop, a delete beside a start of
// the same name, leftovers of a run) only show up under real processes,
// real signals and real timing. It runs twice: with cgroups as the daemon
// finds them, and with TSM_NO_CGROUPS=1.
//
// Phases of each mode: chaos (workers and the killer), a finale (a stop of
// each long-running service with the daemon killed just after the run
// died), quiescence (no entry starting or stopping for a second), then the
// checks; cleanup kills whatever is left, whatever was found.
//
// Knobs (environment):
//
//	TSM_STRESS_SECONDS=N    chaos time per cgroup mode (default 10: 20 s in all;
//	                        600 when TSM_STRESS_KILLS is set and this is not)
//	TSM_STRESS_KILLS=N      end the chaos of a mode once the daemon was killed
//	                        N times (or the time bound passed)
//	TSM_STRESS_WORKERS=N    concurrent command workers (default 3)
//	TSM_STRESS_SEED=N       seed of the random choices (default: the clock)
//	TSM_STRESS_LOG=DIR      keep the timeline, daemon.log and events.jsonl of
//	                        each mode in DIR
//
// Timing, not the seed, decides most interleavings, so a seed does not
// replay a run; the timeline printed with each violation is the
// reproduction.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The violation kinds, in the order the summary prints them.
const (
	vDuplicate = "duplicate" // two live session leaders of one name
	vUntracked = "untracked" // a live leader the table does not point at
	vLost      = "lost"      // an entry listed online whose process is not there
	vOrphan    = "orphan"    // a leftover: a child of a stopped run, or a process of a deleted name
	vTable     = "table"     // the list disagrees with itself or with meta.json on disk
	vDir       = "dir"       // a process directory without a table entry
	vDaemons   = "daemons"   // more than one live daemon for the state directory
	vAck       = "ack"       // the end state contradicts the last acknowledged command
	vStillborn = "stillborn" // a start SIGKILLed in its settle window with no command beside it
	vResurrect = "resurrect" // a run the daemon started by itself after an interrupted stop/kill/delete
	vQuiesce   = "quiesce"   // entries still starting/stopping long after the chaos
	vHung      = "hung"      // a command that did not finish within stressCmdLimit
	vRace      = "race"      // the race detector spoke (daemon, CLI or service)
)

var stressKinds = []string{vDuplicate, vUntracked, vLost, vOrphan, vTable, vDir, vDaemons, vAck, vResurrect, vStillborn, vQuiesce, vHung, vRace}

// stressCmdLimit bounds one CLI command. The longest legitimate one is a
// stop of the SIGTERM-ignorer with the default 10 s grace period after a
// daemon start (up to 10 s): anything past a minute is stuck.
const stressCmdLimit = 60 * time.Second

// stressService is one managed name and the kind of service it runs. Each
// name keeps its kind, so a violation's name says what misbehaved.
type stressService struct {
	name string
	argv func(r *rand.Rand) []string
	// stays: an acknowledged start leaves it online until someone acts on
	// it (not so for the crasher, which crashes on its own).
	stays bool
}

var stressServices = []stressService{
	{"sleeper", func(*rand.Rand) []string { return []string{"fakesvc", "sleep"} }, true},
	// Every stop of it needs the SIGKILL after the grace period.
	{"stubborn", func(*rand.Rand) []string { return []string{"fakesvc", "ignoreterm"} }, true},
	// A child and a double-forked grandchild (re-parented away), both in
	// the service's session and carrying its TSM_MARKER: the leftovers a
	// stop, delete or crash must not leave behind. No setsid grandchild
	// (fakesvc tree has one): it would be a second session leader and
	// pass for a duplicate instance.
	{"forker", func(*rand.Rand) []string {
		return []string{"sh", "-c", "sleep 1000 & (sleep 1001 &); exec fakesvc sleep"}
	}, true},
	// Runs for 0.1-3 s and exits 1: short runs fail at start or back off,
	// long ones are restarted at once, so it keeps moving on its own.
	{"crasher", func(r *rand.Rand) []string {
		return []string{"sh", "-c", fmt.Sprintf("sleep 1000 & exec fakesvc exitafter %dms 1", 100+r.IntN(2900))}
	}, false},
}

func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("the stress test takes about 25 s; it runs without -short")
	}
	cfg := stressConfigFromEnv(t)
	t.Logf("stress: %s of chaos per mode, kill target %d, %d workers, seed %d", cfg.chaos, cfg.kills, cfg.workers, cfg.seed)
	t.Run("cgroups", func(t *testing.T) { runStress(t, cfg, false) })
	t.Run("nocgroups", func(t *testing.T) { runStress(t, cfg, true) })
}

type stressConfig struct {
	chaos   time.Duration
	kills   int
	workers int
	seed    uint64
	logDir  string
}

func stressConfigFromEnv(t *testing.T) stressConfig {
	num := func(key string, def int) int {
		v := os.Getenv(key)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("%s=%q: want a number >= 0", key, v)
		}
		return n
	}
	cfg := stressConfig{
		kills:   num("TSM_STRESS_KILLS", 0),
		workers: max(num("TSM_STRESS_WORKERS", 3), 1),
		seed:    uint64(num("TSM_STRESS_SEED", int(time.Now().UnixNano()%1e9))),
		logDir:  os.Getenv("TSM_STRESS_LOG"),
	}
	secs := 10
	if cfg.kills > 0 {
		// A kill target wants to run until it is met; the bound only
		// catches a run where kills stopped happening.
		secs = 600
	}
	cfg.chaos = time.Duration(num("TSM_STRESS_SECONDS", secs)) * time.Second
	return cfg
}

// stressRun is the state of one mode's run.
type stressRun struct {
	t   *testing.T
	cfg stressConfig
	dir string
	env []string
	t0  time.Time

	mu       sync.Mutex
	timeline []stressLine
	cmds     []*stressCmd
	ran, ok  map[string]int // per command kind
	failures map[string]int // failure messages, digits masked
	kills    map[string]int // daemon kills per trigger
	races    []string
	hung     []string
}

type stressLine struct {
	at   time.Duration
	name string // the process it concerns; "" for a daemon kill
	text string
}

type stressCmd struct {
	kind, name string
	args       []string
	start, end time.Duration
	ok         bool
	msg        string // first line of the output
}

func runStress(t *testing.T, cfg stressConfig, noCgroups bool) {
	dir, err := os.MkdirTemp("", "tsm")
	if err != nil {
		t.Fatal(err)
	}
	s := &stressRun{
		t: t, cfg: cfg, dir: dir, t0: time.Now(),
		ran: map[string]int{}, ok: map[string]int{}, failures: map[string]int{}, kills: map[string]int{},
	}
	// A private, minimal environment: the daemon inherits it from the CLI
	// that auto-starts it, and every service from the CLI that starts it.
	// atexit_sleep_ms=0: a -race binary otherwise sleeps 1 s on exit, which
	// would make every CLI command a second long.
	s.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.Getenv("TMPDIR"),
		"TSM_DIR=" + dir, "NO_COLOR=1",
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
	}
	if noCgroups {
		s.env = append(s.env, "TSM_NO_CGROUPS=1")
	}
	t.Cleanup(s.cleanup)

	s.chaos()
	s.finale()
	counts := map[string]int{}
	var violations []stressViolation
	list, err := s.quiesce()
	if err != nil {
		violations = append(violations, stressViolation{kind: vQuiesce, detail: err.Error()})
	}
	if list != nil {
		violations = append(violations, s.check()...)
	}
	violations = append(violations, s.stillborn()...)
	for _, h := range s.hung {
		violations = append(violations, stressViolation{kind: vHung, detail: h})
	}
	violations = append(violations, s.raceReports()...)
	for _, v := range violations {
		counts[v.kind]++
		t.Errorf("%s violation%s\n%s\n%s", v.kind, forName(v.name), indent(v.detail), s.reproduction(v))
	}
	s.report(noCgroups, counts)
}

func forName(name string) string {
	if name == "" {
		return ""
	}
	return " of " + name
}

// chaos runs the workers and the killer until the time bound or the kill
// target, then waits for every command in flight to finish.
func (s *stressRun) chaos() {
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range s.cfg.workers {
		r := rand.New(rand.NewPCG(s.cfg.seed, uint64(i)))
		wg.Go(func() { s.worker(ctx, i+1, r) })
	}
	killerRand := rand.New(rand.NewPCG(s.cfg.seed, 1000))
	wg.Go(func() {
		for ctx.Err() == nil {
			chaosPause(ctx, killerRand, 2*time.Second)
			s.killDaemon("random", "")
		}
	})
	deadline := time.Now().Add(s.cfg.chaos)
	// Progress: often enough to see a short run move, sparse in a long one.
	every := 5 * time.Second
	if s.cfg.chaos > time.Minute {
		every = 30 * time.Second
	}
	nextNote := time.Now().Add(every)
	for time.Now().Before(deadline) && (s.cfg.kills == 0 || s.totalKills() < s.cfg.kills) {
		if time.Now().After(nextNote) {
			s.t.Logf("  chaos %s: %d commands, %d daemon kills", time.Since(s.t0).Round(time.Second), s.totalCommands(), s.totalKills())
			nextNote = nextNote.Add(every)
		}
		time.Sleep(50 * time.Millisecond) // polling the end condition
	}
	stop()
	wg.Wait()
	s.t.Logf("  chaos over after %s: %d commands, %d daemon kills", time.Since(s.t0).Round(time.Millisecond), s.totalCommands(), s.totalKills())
}

// finale aims at "stopping the daemon mid-stop gets the service
// restarted": each service that never exits by itself and runs now is
// stopped while the daemon is killed a few ms after the run died. Nothing
// follows these stops, so checkAcks judges them: stopped if the stop was
// acknowledged, and in any case not started again by the daemon.
func (s *stressRun) finale() {
	r := rand.New(rand.NewPCG(s.cfg.seed, 2000))
	for _, svc := range stressServices {
		if svc.stays && s.liveRun(svc.name) != 0 {
			// The daemon records a death within a millisecond or two.
			s.command(0, "stop", svc.name, []string{"stop", svc.name, "--timeout", "1s"}, "victim", time.Duration(r.Int64N(int64(2*time.Millisecond))))
		}
	}
}

// chaosPause sleeps a random time up to limit, or until ctx ends. It is part
// of the chaos, never synchronisation.
func chaosPause(ctx context.Context, r *rand.Rand, limit time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(r.Int64N(int64(limit)))):
	}
}

// stressOps are the command kinds with their weights.
var stressOps = []struct {
	kind   string
	weight int
}{{"start", 30}, {"stop", 15}, {"kill", 10}, {"restart", 20}, {"delete", 15}}

func (s *stressRun) worker(ctx context.Context, id int, r *rand.Rand) {
	total := 0
	for _, op := range stressOps {
		total += op.weight
	}
	for ctx.Err() == nil {
		svc := stressServices[r.IntN(len(stressServices))]
		kind := ""
		for n := r.IntN(total); kind == ""; {
			for _, op := range stressOps {
				if n < op.weight {
					kind = op.kind
					break
				}
				n -= op.weight
			}
		}
		var args []string
		switch kind {
		case "start":
			args = append([]string{"start", "--name", svc.name, "--port", "none"}, svc.argv(r)...)
		case "kill":
			args = []string{"kill", svc.name}
		default:
			args = append([]string{kind, svc.name}, graceFlag(r)...)
		}
		// Some commands get a daemon kill aimed into them, a few ms after
		// the CLI was launched ("launch"), after the daemon's first
		// visible step on the name ("effect": its files change), or after
		// the run being stopped died ("victim"): the last two land inside
		// the operation even when the CLI first had to start a daemon.
		// The odds keep the daemon kills near two a second: enough to
		// hit every phase of an operation, few enough that many starts
		// (0.5 s to settle) and stops still get through.
		triggers, odds := []string{"launch", "victim"}, 5
		switch kind {
		case "start":
			triggers, odds = []string{"launch", "effect"}, 20
		case "restart":
			triggers, odds = []string{"launch", "effect", "victim"}, 20
		}
		trigger := ""
		if r.IntN(100) < odds {
			trigger = triggers[r.IntN(len(triggers))]
		}
		s.command(id, kind, svc.name, args, trigger, time.Duration(r.Int64N(int64(15*time.Millisecond))))
		chaosPause(ctx, r, 40*time.Millisecond)
	}
}

// graceFlag: mostly short grace periods, sometimes the default 10 s, which
// the SIGTERM-ignorer then waits out.
func graceFlag(r *rand.Rand) []string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{"--timeout", "50ms"}
	case 2:
		return []string{"--timeout", "300ms"}
	}
	return []string{"--timeout", "1s"}
}

// command runs one tsm command and records its outcome; failures are
// expected (lost connection, already running, not found) and only counted.
func (s *stressRun) command(worker int, kind, name string, args []string, trigger string, delay time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), stressCmdLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tsm", args...)
	cmd.Env = s.env
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	c := &stressCmd{kind: kind, name: name}
	before, victim := s.signature(name), s.liveRun(name)
	c.start = time.Since(s.t0)
	launched := time.Now()
	err := cmd.Start()
	done := make(chan struct{})
	var kick sync.WaitGroup
	if err == nil && trigger != "" {
		kick.Go(func() { s.kick(trigger, name, launched, before, victim, delay, done) })
	}
	if err == nil {
		err = cmd.Wait()
	}
	close(done)
	kick.Wait()
	c.end = time.Since(s.t0)
	c.ok = err == nil

	msg := strings.TrimSpace(out.String())
	if strings.Contains(msg, "WARNING: DATA RACE") {
		s.addRace(fmt.Sprintf("tsm %s:\n%s", strings.Join(args, " "), msg))
	}
	first, _, _ := strings.Cut(msg, "\n")
	c.args, c.msg = args, first
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds = append(s.cmds, c)
	s.ran[kind]++
	result := "ok: " + first
	if c.ok {
		s.ok[kind]++
	} else {
		if ctx.Err() != nil {
			s.hung = append(s.hung, fmt.Sprintf("tsm %s did not finish within %s (started at +%s)", strings.Join(args, " "), stressCmdLimit, c.start))
		}
		result = fmt.Sprintf("FAILED (%v): %s", err, first)
		s.failures[kind+": "+maskDigits(strings.TrimPrefix(first, "tsm: "))]++
	}
	who := fmt.Sprintf("w%d", worker)
	if worker == 0 {
		who = "finale"
	}
	s.timeline = append(s.timeline, stressLine{c.start, name, fmt.Sprintf("%s tsm %s  [+%s..+%s] %s",
		who, strings.Join(args, " "), ms(c.start), ms(c.end), result)})
}

var (
	digits    = regexp.MustCompile(`\d+`)
	eventTime = regexp.MustCompile(`^\{"time":"[^"]*",`) // shown as an offset instead
)

func maskDigits(s string) string {
	s = digits.ReplaceAllString(s, "N")
	if len(s) > 110 {
		s = s[:110] + "…"
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// kick kills the daemon delay after the command was launched ("launch"),
// after the daemon first touched the name's files ("effect"), or after
// the run that was live at launch died ("victim"); the last two only while
// the command runs, and not at all if nothing happens.
func (s *stressRun) kick(trigger, name string, launched time.Time, before string, victim int, delay time.Duration, done <-chan struct{}) {
	happened := func() bool { return true }
	switch trigger {
	case "effect":
		happened = func() bool { return s.signature(name) != before }
	case "victim":
		if victim == 0 {
			return // nothing runs that could die
		}
		// A pidfd turns readable the moment the run dies, so the kill can
		// land before the daemon has recorded the death; polling /proc
		// would often be a millisecond late.
		fd, err := unix.PidfdOpen(victim, 0)
		if err != nil {
			return
		}
		defer unix.Close(fd)
		happened = func() bool {
			n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			return n > 0
		}
	}
	for !happened() {
		select {
		case <-done:
			return
		case <-time.After(200 * time.Microsecond): // polling for the moment to aim at
		}
	}
	from := time.Now()
	if trigger == "launch" {
		from = launched
	}
	time.Sleep(time.Until(from.Add(delay))) // the aim of the kill, not synchronisation
	s.killDaemon(trigger, name)
}

// liveRun is the pid of name's live run as meta.json records it, or 0.
func (s *stressRun) liveRun(name string) int {
	b, err := os.ReadFile(filepath.Join(s.dir, "runtime", "processes", name, "meta.json"))
	var m diskMeta
	if err != nil || json.Unmarshal(b, &m) != nil {
		return 0
	}
	if p, ok := readProc(m.PID); ok && p.env["TSM_NAME"] == name {
		return m.PID
	}
	return 0
}

// signature changes whenever the daemon writes one of name's files or
// creates or removes its directory.
func (s *stressRun) signature(name string) string {
	d := filepath.Join(s.dir, "runtime", "processes", name)
	var b strings.Builder
	for _, p := range []string{d, filepath.Join(d, "meta.json"), filepath.Join(d, "launch.json"), filepath.Join(d, name+".pid")} {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		} else {
			b.WriteString("-;")
		}
	}
	return b.String()
}

// killDaemon SIGKILLs the daemon named in daemon.pid if it is alive and
// really this directory's daemon (pids are recycled, and a killed daemon
// stays a zombie: init does not reap here).
func (s *stressRun) killDaemon(trigger, name string) bool {
	b, err := os.ReadFile(filepath.Join(s.dir, "daemon.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !s.isDaemon(readProc(pid)) {
		return false
	}
	if syscall.Kill(pid, syscall.SIGKILL) != nil {
		return false
	}
	at := time.Since(s.t0)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kills[trigger]++
	what := "at random"
	if trigger != "random" {
		what = fmt.Sprintf("aimed at %s (%s)", name, trigger)
	}
	s.timeline = append(s.timeline, stressLine{at, "", fmt.Sprintf("KILL -9 daemon %d %s  [+%s]", pid, what, ms(at))})
	return true
}

func (s *stressRun) totalKills() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.kills {
		n += k
	}
	return n
}

func (s *stressRun) totalCommands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cmds)
}

func (s *stressRun) addRace(report string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.races = append(s.races, report)
}

// stressEntry is one row of `tsm list all --json`.
type stressEntry struct {
	TsmID       int    `json:"tsm_id"`
	Name        string `json:"name"`
	PID         int    `json:"pid"`
	Status      string `json:"status"`
	State       string `json:"state"` // after the lifecycle rewrite
	NextRestart int64  `json:"next_restart"`
	Restarts    int    `json:"restarts"`
	Pending     string `json:"pending"` // what a stopping entry is being ended for
}

// state is the lifecycle state, derived from status until the list
// carries one.
func (e stressEntry) state() string {
	if e.State != "" {
		return e.State
	}
	if e.Status == "crashed" && e.NextRestart != 0 {
		return "backoff"
	}
	return e.Status
}

func (e stressEntry) String() string {
	return fmt.Sprintf("{id %d %s pid %d status %s state %s restarts %d}", e.TsmID, e.Name, e.PID, e.Status, e.state(), e.Restarts)
}

// busy: an entry some command is still working on. Once the chaos is
// over no command is in flight, so a starting entry, or one ending what
// its exited main process left (pending exit), is the crasher's own
// automatic restart cycle, which never ends; an interrupted stop, restart
// or delete (resumed by the last daemon) must.
func (e stressEntry) busy() bool { return e.state() == "stopping" && e.Pending != "exit" }

// ended: no run of the entry should be alive.
func ended(state string) bool {
	switch state {
	case "stopped", "exited", "crashed", "errored", "backoff":
		return true
	}
	return false
}

func (s *stressRun) list() ([]stressEntry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stressCmdLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tsm", "list", "all", "--json")
	cmd.Env, cmd.Dir = s.env, s.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tsm list all --json: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var list []stressEntry
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("tsm list all --json: %v in %q", err, out)
	}
	return list, nil
}

// quiesce waits for a listing without busy entries that stays so for a
// second (the crasher keeps restarting: only what commands began must
// end).
func (s *stressRun) quiesce() ([]stressEntry, error) {
	const calm, limit = time.Second, 90 * time.Second
	deadline := time.Now().Add(limit)
	var calmSince time.Time
	var busy []string
	for {
		list, err := s.list()
		busy = busy[:0]
		for _, e := range list {
			if e.busy() {
				busy = append(busy, e.String())
			}
		}
		switch {
		case err != nil || len(busy) > 0:
			calmSince = time.Time{}
		case calmSince.IsZero():
			calmSince = time.Now()
		case time.Since(calmSince) >= calm:
			s.t.Logf("  quiet %s after the chaos", time.Since(s.t0).Round(time.Millisecond))
			return list, nil
		}
		if time.Now().After(deadline) {
			return list, fmt.Errorf("no calm listing within %s of the chaos: busy %v, last error %v", limit, busy, err)
		}
		time.Sleep(100 * time.Millisecond) // polling the table
	}
}

// stressProc is a live process that belongs to this state directory.
type stressProc struct {
	pid, ppid, sid int
	state          byte
	env            map[string]string
	cmdline        string
	daemon         bool
}

func (p stressProc) String() string {
	return fmt.Sprintf("pid %d (ppid %d, sid %d) %s [TSM_NAME=%s TSM_MARKER=%s]", p.pid, p.ppid, p.sid, p.cmdline, p.env["TSM_NAME"], p.env["TSM_MARKER"])
}

func (p stressProc) leader() bool { return p.pid == p.sid }

// readProc reads what the checks need of /proc/PID; ok is false for a
// process that is gone or a zombie.
func readProc(pid int) (p stressProc, ok bool) {
	d := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(d + "/stat")
	if err != nil {
		return p, false
	}
	// The command name may contain anything: count fields from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 4 || f[0] == "Z" || f[0] == "X" {
		return p, false
	}
	p.pid, p.state = pid, f[0][0]
	p.ppid, _ = strconv.Atoi(f[1])
	p.sid, _ = strconv.Atoi(f[3])
	environ, _ := os.ReadFile(d + "/environ")
	p.env = map[string]string{}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if k, v, found := strings.Cut(string(kv), "="); found && strings.HasPrefix(k, "TSM_") {
			p.env[k] = v
		}
	}
	cmdline, _ := os.ReadFile(d + "/cmdline")
	p.cmdline = strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	p.daemon = p.cmdline == "tsm daemon run"
	return p, true
}

func (s *stressRun) isDaemon(p stressProc, ok bool) bool {
	return ok && p.daemon && p.env["TSM_DIR"] == s.dir
}

// ours: a service of this state directory (or anything it started), or
// this directory's daemon.
func (s *stressRun) ours(p stressProc) bool {
	return strings.HasPrefix(p.env["TSM_PROCESS_DIR"], s.dir+"/") || (p.daemon && p.env["TSM_DIR"] == s.dir)
}

// scan lists the live processes of this state directory.
func (s *stressRun) scan() []stressProc {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var procs []stressProc
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if p, ok := readProc(pid); ok && s.ours(p) {
			procs = append(procs, p)
		}
	}
	return procs
}

// diskMeta is what the checks read of a meta.json.
type diskMeta struct {
	TsmID  int    `json:"tsm_id"`
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Status string `json:"status"`
	Marker string `json:"marker"`
}

// readDisk returns meta.json of every process directory by directory
// name, and the directories that have none (or an unreadable one).
func (s *stressRun) readDisk() (map[string]diskMeta, map[string]string) {
	metas, bad := map[string]diskMeta{}, map[string]string{}
	entries, _ := os.ReadDir(filepath.Join(s.dir, "runtime", "processes"))
	for _, de := range entries {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "runtime", "processes", de.Name(), "meta.json"))
		var m diskMeta
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			bad[de.Name()] = err.Error()
			continue
		}
		metas[de.Name()] = m
	}
	return metas, bad
}

type stressViolation struct {
	kind, name string
	key        string          // identifies the same violation in two rounds
	runs       []string        // TSM_MARKER values of the runs involved, for the reproduction
	moments    []time.Duration // other moments the reproduction centres on
	detail     string
}

// check evaluates the invariants twice, half a second apart, and keeps
// what both rounds found: a crasher that restarts between the listing and
// the /proc scan must not pass for a violation, a real one stays.
func (s *stressRun) check() []stressViolation {
	round := func() []stressViolation {
		var list []stressEntry
		var metas map[string]diskMeta
		var bad map[string]string
		var procs []stressProc
		var err error
		// A consistent snapshot: the same table before and after the scan.
		for try := 0; try < 20; try++ {
			before, errBefore := s.list()
			metas, bad = s.readDisk()
			procs = s.scan()
			list, err = s.list()
			if err == nil && errBefore == nil && fmt.Sprint(before) == fmt.Sprint(list) {
				break
			}
			time.Sleep(100 * time.Millisecond) // polling for a still moment
		}
		if err != nil {
			return []stressViolation{{kind: vQuiesce, key: "list", detail: err.Error()}}
		}
		return s.evaluate(list, metas, bad, procs)
	}
	first := round()
	time.Sleep(500 * time.Millisecond) // the distance between the two rounds
	second := round()
	seen := map[string]bool{}
	for _, v := range first {
		seen[v.key] = true
	}
	var kept []stressViolation
	for _, v := range second {
		if seen[v.key] {
			kept = append(kept, v)
		}
	}
	return kept
}

// evaluate checks the invariants on one snapshot.
func (s *stressRun) evaluate(list []stressEntry, metas map[string]diskMeta, bad map[string]string, procs []stressProc) []stressViolation {
	var vs []stressViolation
	add := func(kind, name, key string, runs []string, format string, args ...any) {
		vs = append(vs, stressViolation{kind: kind, name: name, key: kind + "|" + name + "|" + key, runs: runs, detail: fmt.Sprintf(format, args...)})
	}
	table := map[string]stressEntry{}
	ids := map[int][]string{}
	for _, e := range list {
		if _, dup := table[e.Name]; dup {
			add(vTable, e.Name, "name", nil, "the name is listed twice: %v", list)
		}
		table[e.Name] = e
		ids[e.TsmID] = append(ids[e.TsmID], e.Name)
	}
	listing := fmt.Sprintf("listing: %v", list)

	// a. At most one live session leader per name; an online entry has
	// exactly one, with its pid.
	leaders := map[string][]stressProc{}
	for _, p := range procs {
		if !p.daemon && p.leader() {
			leaders[p.env["TSM_NAME"]] = append(leaders[p.env["TSM_NAME"]], p)
		}
	}
	for name, ls := range leaders {
		if len(ls) > 1 {
			add(vDuplicate, name, pidsKey(ls), markers(ls), "%d live instances of %s:\n%s\nentry: %s", len(ls), name, procLines(ls), describe(table, name))
		}
	}
	for name, e := range table {
		ls := leaders[name]
		switch st := e.state(); {
		case st == "online":
			var mine, others []stressProc
			for _, p := range ls {
				if p.pid == e.PID {
					mine = append(mine, p)
				} else {
					others = append(others, p)
				}
			}
			if len(mine) == 0 {
				_, alive := readProc(e.PID)
				add(vLost, name, strconv.Itoa(e.PID), []string{metas[name].Marker}, "%v is listed online but pid %d is not a live instance of it (alive at all: %v); live instances: %s",
					e, e.PID, alive, orNone(procLines(ls)))
			}
			if len(others) > 0 {
				add(vUntracked, name, pidsKey(others), markers(others), "%v is online with pid %d, but other instances live:\n%s", e, e.PID, procLines(others))
			}
		case ended(st) && len(ls) > 0:
			add(vUntracked, name, pidsKey(ls), markers(ls), "%v is %s, but instances live:\n%s", e, st, procLines(ls))
		}
	}

	// b. One entry per id, and the list agrees with meta.json on disk.
	for id, names := range ids {
		if len(names) > 1 {
			add(vTable, names[0], "id"+strconv.Itoa(id), nil, "tsm_id %d is listed for %v", id, names)
		}
	}
	for name, e := range table {
		m, ok := metas[name]
		switch {
		case !ok:
			add(vTable, name, "nometa", nil, "%v is listed but has no readable meta.json (%s)", e, orNone(bad[name]))
		case m.TsmID != e.TsmID || m.Name != e.Name:
			add(vTable, name, "id", nil, "listed as %v but meta.json says id %d name %q", e, m.TsmID, m.Name)
		case m.PID != e.PID || m.Status != e.Status:
			add(vTable, name, "status", nil, "listed as %v but meta.json says pid %d status %s", e, m.PID, m.Status)
		}
	}

	// c. No process directory outside the table.
	for name, m := range metas {
		if _, ok := table[name]; !ok {
			add(vDir, name, "", nil, "runtime/processes/%s (meta.json: id %d pid %d status %s) has no table entry; %s", name, m.TsmID, m.PID, m.Status, listing)
		}
	}
	for name, why := range bad {
		if _, ok := table[name]; !ok {
			add(vDir, name, "", nil, "runtime/processes/%s has no table entry and no readable meta.json (%s); %s", name, why, listing)
		}
	}

	// d. No leftovers: a process of a deleted name, or a non-leader that
	// belongs to a run that ended or is no longer the entry's current one
	// (leaders of existing names were judged in a). One violation per run.
	leftovers, why := map[string][]stressProc{}, map[string]string{}
	for _, p := range procs {
		if p.daemon {
			continue
		}
		name, run := p.env["TSM_NAME"], p.env["TSM_MARKER"]
		e, listed := table[name]
		current := strings.TrimPrefix(metas[name].Marker, "TSM_MARKER=")
		switch {
		case !listed:
			why[run] = fmt.Sprintf("%s is not in the table (deleted); %s", name, listing)
		case p.leader():
			continue
		case run != current:
			why[run] = fmt.Sprintf("a leftover of an earlier run of %v, whose current run is %s", e, current)
		case ended(e.state()):
			why[run] = fmt.Sprintf("a leftover of the current run of %v, which is %s", e, e.state())
		default:
			continue
		}
		leftovers[run] = append(leftovers[run], p)
	}
	for run, ps := range leftovers {
		add(vOrphan, ps[0].env["TSM_NAME"], run, []string{run}, "%d process(es) of run %s live: %s\n%s", len(ps), run, why[run], procLines(ps))
	}

	// One daemon per state directory.
	var daemons []stressProc
	for _, p := range procs {
		if p.daemon {
			daemons = append(daemons, p)
		}
	}
	if len(daemons) > 1 {
		add(vDaemons, "", pidsKey(daemons), nil, "%d live daemons:\n%s", len(daemons), procLines(daemons))
	}

	vs = append(vs, s.checkAcks(table, metas, leaders)...)
	return vs
}

// checkAcks holds each name to its last command, when that one overlapped
// no other command on the name. If it succeeded, nothing may have undone
// it, daemon kills included. If it was a stop, kill or delete that failed
// (the daemon died under it), a service that never exits by itself may
// not have been started again after it began: that is the daemon
// restarting what the user was stopping.
func (s *stressRun) checkAcks(table map[string]stressEntry, metas map[string]diskMeta, leaders map[string][]stressProc) []stressViolation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var vs []stressViolation
	for _, svc := range stressServices {
		var last *stressCmd
		for _, c := range s.cmds {
			if c.name == svc.name && (last == nil || c.start > last.start) {
				last = c
			}
		}
		if last == nil {
			continue
		}
		overlapped := false
		for _, c := range s.cmds {
			overlapped = overlapped || (c != last && c.name == svc.name && c.end > last.start)
		}
		if overlapped {
			continue
		}
		e, listed := table[svc.name]
		if !last.ok {
			spawned, ok := s.markerTime(metas[svc.name].Marker)
			if svc.stays && last.kind != "start" && last.kind != "restart" && listed && e.state() == "online" && ok && spawned > last.start {
				vs = append(vs, stressViolation{kind: vResurrect, name: svc.name, key: vResurrect + "|" + svc.name, moments: []time.Duration{last.start},
					detail: fmt.Sprintf("the last command on %s, `tsm %s` at +%s..+%s, failed (%s) and nothing came after it, yet %v runs a new run spawned at +%s",
						svc.name, strings.Join(last.args, " "), ms(last.start), ms(last.end), last.msg, e, ms(spawned))})
			}
			continue
		}
		var problem string
		switch last.kind {
		case "stop", "kill":
			// A crasher that had given up (errored) stays so: "not running".
			if st := e.state(); !listed || !ended(st) || st == "backoff" {
				problem = "should be stopped"
			}
		case "delete":
			if listed {
				problem = "should be gone"
			}
		case "start", "restart":
			if !listed || (svc.stays && e.state() != "online") {
				problem = "should be online"
			}
		}
		if problem != "" {
			now := "not in the table"
			if listed {
				now = e.String()
			}
			vs = append(vs, stressViolation{kind: vAck, name: svc.name, key: vAck + "|" + svc.name,
				detail: fmt.Sprintf("the last command on %s, `%s` at +%s, succeeded and nothing overlapped it, so %s %s; it is %s; live instances: %s",
					svc.name, last.kind, ms(last.start), svc.name, problem, now, orNone(procLines(leaders[svc.name])))})
		}
	}
	return vs
}

// describe is an entry, or says there is none.
func describe(table map[string]stressEntry, name string) string {
	if e, ok := table[name]; ok {
		return e.String()
	}
	return "none (not in the table)"
}

// markers are the distinct runs (TSM_MARKER values) of ps.
func markers(ps []stressProc) []string {
	var runs []string
	for _, p := range ps {
		if !slices.Contains(runs, p.env["TSM_MARKER"]) {
			runs = append(runs, p.env["TSM_MARKER"])
		}
	}
	return runs
}

// stillborn finds starts and restarts whose new run was SIGKILLed inside
// the settle window while no other command acted on the name: the harness
// only ever kills the daemon, so nothing should have killed the service.
// (It reads today's wording of the failure: "NAME exited during startup
// killed by SIGKILL".)
func (s *stressRun) stillborn() []stressViolation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var vs []stressViolation
	for _, c := range s.cmds {
		if c.ok || (c.kind != "start" && c.kind != "restart") || !strings.Contains(c.msg, "startup killed by SIGKILL") {
			continue
		}
		alone := true
		for _, o := range s.cmds {
			alone = alone && (o == c || o.name != c.name || o.end <= c.start || o.start >= c.end)
		}
		if alone {
			vs = append(vs, stressViolation{kind: vStillborn, name: c.name, moments: []time.Duration{c.start},
				detail: fmt.Sprintf("`tsm %s` at +%s..+%s, with no other command on %s beside it: %s",
					strings.Join(c.args, " "), ms(c.start), ms(c.end), c.name, c.msg)})
		}
	}
	return vs
}

func pidsKey(ps []stressProc) string {
	pids := make([]int, len(ps))
	for i, p := range ps {
		pids[i] = p.pid
	}
	sort.Ints(pids)
	return fmt.Sprint(pids)
}

func procLines(ps []stressProc) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// raceReports: data races the daemon or a service reported in its logs
// (those of the CLI were collected as the commands ran).
func (s *stressRun) raceReports() []stressViolation {
	logs, _ := filepath.Glob(filepath.Join(s.dir, "runtime", "processes", "*", "current.err"))
	logs = append(logs, filepath.Join(s.dir, "daemon.log"))
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
			s.addRace(fmt.Sprintf("%s:\n%s", path, b[i:min(len(b), i+4000)]))
		}
	}
	var vs []stressViolation
	for _, r := range s.races {
		vs = append(vs, stressViolation{kind: vRace, detail: r})
	}
	return vs
}

// reproduction is the timeline around a violation: for each run involved,
// the commands on the name and the daemon kills around the moment the run
// was spawned (its marker carries the time), else the last ones; then the
// name's events of that time.
func (s *stressRun) reproduction(v stressViolation) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "  reproduction (state dir %s; +seconds since the start of the mode):\n", s.dir)
	relevant := func(l stressLine) bool { return v.name == "" || l.name == v.name || l.name == "" }
	var windows [][2]time.Duration
	for _, run := range v.runs[:min(len(v.runs), 3)] {
		if at, ok := s.markerTime(run); ok {
			fmt.Fprintf(&b, "   run %s was spawned at +%s:\n", strings.TrimPrefix(run, "TSM_MARKER="), ms(at))
			windows = append(windows, [2]time.Duration{at - 1500*time.Millisecond, at + 1500*time.Millisecond})
		}
	}
	for _, at := range v.moments[:min(len(v.moments), 3)] {
		windows = append(windows, [2]time.Duration{at - 1500*time.Millisecond, at + 1500*time.Millisecond})
	}
	if len(windows) == 0 {
		// No spawn time to centre on: the last lines that concern the name.
		var idx []int
		for i := len(s.timeline) - 1; i >= 0 && len(idx) < 30; i-- {
			if relevant(s.timeline[i]) {
				idx = append(idx, i)
			}
		}
		from := time.Duration(0)
		if len(idx) > 0 {
			from = s.timeline[idx[len(idx)-1]].at
		}
		windows = append(windows, [2]time.Duration{from, time.Since(s.t0)})
	}
	for _, w := range windows {
		fmt.Fprintf(&b, "    timeline +%s..+%s:\n", ms(w[0]), ms(w[1]))
		lines := 0
		for _, l := range s.timeline {
			if l.at >= w[0] && l.at <= w[1] && relevant(l) && lines < 40 {
				fmt.Fprintf(&b, "      %s\n", l.text)
				lines++
			}
		}
		if v.name != "" {
			fmt.Fprintf(&b, "    events of %s and the daemon then:\n", v.name)
			for _, ev := range s.events(v.name, w) {
				fmt.Fprintf(&b, "      %s\n", ev)
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// markerTime is when the run with this TSM_MARKER was spawned, relative
// to the start of the mode (markers end in the spawn time in ns).
func (s *stressRun) markerTime(run string) (time.Duration, bool) {
	i := strings.LastIndexByte(run, '/')
	ns, err := strconv.ParseInt(run[i+1:], 10, 64)
	if i < 0 || err != nil {
		return 0, false
	}
	return time.Unix(0, ns).Sub(s.t0), true
}

// events are the lines of events.jsonl about name or the daemon inside
// the window, with the time as an offset like the timeline's.
func (s *stressRun) events(name string, w [2]time.Duration) []string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "events.jsonl"))
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		var ev struct {
			Time  time.Time `json:"time"`
			Event string    `json:"event"`
			Name  string    `json:"name"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil || (ev.Name != name && ev.Event != "daemon") {
			continue
		}
		if at := ev.Time.Sub(s.t0); at >= w[0] && at <= w[1] && len(out) < 40 {
			out = append(out, fmt.Sprintf("+%s %s", ms(at), eventTime.ReplaceAllString(line, "{")))
		}
	}
	return out
}

func (s *stressRun) report(noCgroups bool, counts map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mode := "cgroups"
	if noCgroups {
		mode = "nocgroups"
	}
	dl, _ := os.ReadFile(filepath.Join(s.dir, "daemon.log"))
	cg := "daemon used cgroups"
	if bytes.Contains(dl, []byte("running without cgroups")) {
		cg = "daemon ran without cgroups"
	}
	s.t.Logf("mode %s (%s):", mode, cg)
	for _, op := range stressOps {
		s.t.Logf("  %-8s %5d run, %5d ok", op.kind, s.ran[op.kind], s.ok[op.kind])
	}
	s.t.Logf("  daemon kills: %d at random, aimed: %d at launch, %d at effect, %d at victim", s.kills["random"], s.kills["launch"], s.kills["effect"], s.kills["victim"])
	type failure struct {
		msg string
		n   int
	}
	var fs []failure
	for m, n := range s.failures {
		fs = append(fs, failure{m, n})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].n > fs[j].n || fs[i].n == fs[j].n && fs[i].msg < fs[j].msg })
	s.t.Logf("  command failures (expected under chaos), most frequent first:")
	for _, f := range fs[:min(len(fs), 12)] {
		s.t.Logf("    %5d  %s", f.n, f.msg)
	}
	total, kills := 0, 0
	for _, n := range s.kills {
		kills += n
	}
	summary := fmt.Sprintf("STRESS SUMMARY mode=%s commands=%d kills=%d", mode, len(s.cmds), kills)
	for _, k := range stressKinds {
		summary += fmt.Sprintf(" %s=%d", k, counts[k])
		total += counts[k]
	}
	s.t.Logf("  violations: %d", total)
	s.t.Log(summary + fmt.Sprintf(" violations=%d", total))
	if s.cfg.logDir != "" {
		s.keepLogs(mode)
	}
}

// keepLogs copies the run's timeline, daemon log and event log to the
// log directory before cleanup removes the state directory.
func (s *stressRun) keepLogs(mode string) {
	if err := os.MkdirAll(s.cfg.logDir, 0o755); err != nil {
		s.t.Logf("keep logs: %v", err)
		return
	}
	var tl strings.Builder
	for _, l := range s.timeline {
		fmt.Fprintln(&tl, l.text)
	}
	os.WriteFile(filepath.Join(s.cfg.logDir, mode+".timeline"), []byte(tl.String()), 0o644)
	for _, f := range []string{"daemon.log", "events.jsonl"} {
		if b, err := os.ReadFile(filepath.Join(s.dir, f)); err == nil {
			os.WriteFile(filepath.Join(s.cfg.logDir, mode+"."+f), b, 0o644)
		}
	}
	s.t.Logf("  timeline and logs kept in %s/%s.*", s.cfg.logDir, mode)
}

// cleanup leaves nothing of the run behind, whatever the test found: the
// daemon and every recorded tree, the cgroups, then every process whose
// environment still points into the state directory, until none is left.
func (s *stressRun) cleanup() {
	killEverything(s.dir)
	removeCgroups(s.dir)
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs := s.scan()
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.t.Errorf("cleanup: still alive after 10s:\n%s", procLines(procs))
			break
		}
		// Daemons first, so none respawns a service we are killing.
		sort.Slice(procs, func(i, j int) bool { return procs[i].daemon && !procs[j].daemon })
		for _, p := range procs {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond) // polling for the processes to be gone
	}
	removeCgroups(s.dir)
	os.RemoveAll(s.dir)
}
