package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/release"
)

// The test binary doubles as the tsm binary, as a fake service and as a
// small exit-code checker, so the scripts run real processes end to end.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tsm": func() {
			// Lets a script play an upgrade: an old daemon, a new CLI.
			if b := os.Getenv("TSM_TEST_BUILD"); b != "" {
				release.Build = b
			}
			os.Exit(run(os.Args[1:]))
		},
		"fakesvc":  fakeService,
		"exitcode": exitCode,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup:               setupScript,
		Condition: func(cond string) (bool, error) {
			if cond != "cgroups" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			c, err := proc.OpenCgroups(fmt.Sprintf("tsm-probe-%d", os.Getpid()))
			if err == nil {
				os.Remove(filepath.Dir(c.Path("x")))
			}
			return err == nil, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"pidof":      positive("pidof", cmdPidof),
			"startedpid": positive("startedpid", cmdStartedPID),
			"waitfile":   positive("waitfile", cmdWaitFile),
			"gone":       positive("gone", cmdGone),
			"alive":      cmdAlive,
			"httpget":    cmdHTTPGet,
			"waitport":   positive("waitport", cmdWaitPort),
			"kill9":      positive("kill9", cmdKill9),
			"concurrent": positive("concurrent", cmdConcurrent),
			"follow":     positive("follow", cmdFollow),
			"filesize":   positive("filesize", cmdFileSize),
			"seqcheck":   positive("seqcheck", cmdSeqCheck),
			"readvar":    positive("readvar", cmdReadVar),
			"services":   positive("services", cmdServices),
			"setmeta":    positive("setmeta", cmdSetMeta),
			"settle":     positive("settle", cmdSettle),
			"oneeach":    positive("oneeach", cmdOneEach),
		},
	})
}

// positive adapts a command that has no negated form: testscript leaves `!`
// to the command, so without this `! waitfile` would pass whenever
// `waitfile` does.
func positive(name string, cmd func(ts *testscript.TestScript, args []string)) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg {
			ts.Fatalf("%s does not support !", name)
		}
		cmd(ts, args)
	}
}

// setupScript gives every script a private, short state directory (Unix
// socket paths are limited to ~104 bytes), three free ports, and a cleanup
// that kills the daemon and every process the script started.
func setupScript(env *testscript.Env) error {
	dir, err := os.MkdirTemp("", "tsm")
	if err != nil {
		return err
	}
	env.Setenv("TSM_DIR", dir)
	env.Setenv("NO_COLOR", "1")
	for i := 1; i <= 3; i++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		env.Setenv(fmt.Sprintf("PORT%d", i), strconv.Itoa(port))
	}
	env.Defer(func() {
		killEverything(dir)
		removeCgroups(dir)
		os.RemoveAll(dir)
	})
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// killEverything ends the daemon and every recorded process tree under dir.
func killEverything(dir string) {
	if b, err := os.ReadFile(paths.DaemonPID(dir)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			proc.Signal(pid, syscall.SIGKILL)
		}
	}
	metas, _ := filepath.Glob(filepath.Join(paths.Processes(dir), "*", "meta.json"))
	for _, path := range metas {
		var m struct {
			PID    int    `json:"pid"`
			Marker string `json:"marker"`
		}
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, &m) != nil || m.PID <= 1 {
			continue
		}
		tree, _ := proc.Tree(m.PID, m.Marker, 0)
		proc.SignalGroup(m.PID, syscall.SIGKILL)
		for _, p := range tree {
			proc.Signal(p, syscall.SIGKILL)
		}
	}
}

// removeCgroups deletes the cgroup subtree the daemon of dir made, if any
// (the daemon derives its tag from the state directory the same way).
func removeCgroups(dir string) {
	sum := sha256.Sum256([]byte(dir))
	c, err := proc.OpenCgroups("tsm-" + hex.EncodeToString(sum[:6]))
	if err != nil {
		return
	}
	base := filepath.Dir(c.Path("x"))
	subs, _ := filepath.Glob(filepath.Join(base, "*", "cgroup.procs"))
	for _, procs := range subs {
		c.Kill(filepath.Dir(procs))
		c.Remove(filepath.Dir(procs))
	}
	os.Remove(base)
}

// meta reads a process's meta.json from the script's state directory.
func meta(ts *testscript.TestScript, name string) map[string]any {
	path := filepath.Join(paths.Processes(ts.Getenv("TSM_DIR")), name, "meta.json")
	var m map[string]any
	if err := json.Unmarshal([]byte(ts.ReadFile(path)), &m); err != nil {
		ts.Fatalf("%s: %v", path, err)
	}
	return m
}

// pidof NAME VAR: sets $VAR to the pid recorded in NAME's meta.json.
func cmdPidof(ts *testscript.TestScript, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: pidof NAME VAR")
	}
	// A record may say pid 0 for an instant: the intent written before a
	// respawn's fork.
	var pid float64
	poll(ts, 10*time.Second, func() bool {
		pid, _ = meta(ts, args[0])["pid"].(float64)
		return pid > 0
	}, "a pid in %s's meta.json", args[0])
	ts.Setenv(args[1], strconv.Itoa(int(pid)))
}

// startedpid VAR: sets $VAR to the pid the last `tsm start` printed
// ("✔ started NAME  (id N, pid P…"). Unlike pidof it does not depend on the
// process still running when it is read: meta.json of a run that already
// ended says pid 0.
func cmdStartedPID(ts *testscript.TestScript, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: startedpid VAR")
	}
	m := regexp.MustCompile(`started .*pid (\d+)`).FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("no pid in the last command's stdout")
	}
	ts.Setenv(args[0], m[1])
}

// readvar FILE VAR: sets $VAR to the first line of FILE, waiting up to 10s
// for the file to have one.
func cmdReadVar(ts *testscript.TestScript, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: readvar FILE VAR")
	}
	path := ts.MkAbs(args[0])
	var line string
	poll(ts, 10*time.Second, func() bool {
		b, _ := os.ReadFile(path)
		line, _, _ = strings.Cut(string(b), "\n")
		return strings.HasSuffix(string(b), "\n") && line != ""
	}, "a line in %s", args[0])
	ts.Setenv(args[1], strings.TrimSpace(line))
}

// services N: exactly N live processes were started by this script's tsm
// (their environment names a process directory under $TSM_DIR) — the
// check for duplicates.
func cmdServices(ts *testscript.TestScript, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: services N")
	}
	want := atoi(ts, args[0])
	prefix := []byte("TSM_PROCESS_DIR=" + ts.Getenv("TSM_DIR") + "/")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var found []string
	for _, d := range dirs {
		env, err := os.ReadFile(d + "/environ")
		if err != nil || !bytes.Contains(env, prefix) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		if _, err := proc.Identify(pid); err == nil {
			cmdline, _ := os.ReadFile(d + "/cmdline")
			found = append(found, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	if len(found) != want {
		ts.Fatalf("%d processes of this tsm, want %d:\n%s", len(found), want, strings.Join(found, "\n"))
	}
}

// settle: waits up to 20s until no process is starting or stopping (a new
// daemon recovers in the background).
func cmdSettle(ts *testscript.TestScript, args []string) {
	poll(ts, 20*time.Second, func() bool {
		for _, p := range listAll(ts) {
			if p.State == "starting" || p.State == "stopping" {
				return false
			}
		}
		return true
	}, "every process to settle")
}

type listed struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	State string `json:"state"`
}

// listAll runs `tsm list all --json`.
func listAll(ts *testscript.TestScript) []listed {
	cmd := exec.Command("tsm", "list", "all", "--json")
	cmd.Dir, cmd.Env = ts.Getenv("WORK"), environ(ts)
	out, err := cmd.Output()
	if err != nil {
		ts.Fatalf("tsm list all --json: %v", err)
	}
	var ps []listed
	ts.Check(json.Unmarshal(out, &ps))
	return ps
}

// oneeach: every live main process of this tsm (a session leader whose
// environment names a process directory under $TSM_DIR) is the listed PID
// of an online process, and every online process has exactly one: no
// duplicate, no untracked instance, no lost one.
func cmdOneEach(ts *testscript.TestScript, args []string) {
	online := map[string]int{}
	for _, p := range listAll(ts) {
		if p.State == "online" {
			online[p.Name] = p.PID
		}
	}
	prefix := []byte("TSM_NAME=")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	live := map[string][]int{}
	for _, d := range dirs {
		env, err := os.ReadFile(d + "/environ")
		if err != nil || !bytes.Contains(env, []byte("TSM_PROCESS_DIR="+ts.Getenv("TSM_DIR")+"/")) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		if sid, err := unix.Getsid(pid); err != nil || sid != pid {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if name, ok := bytes.CutPrefix(kv, prefix); ok {
				live[string(name)] = append(live[string(name)], pid)
			}
		}
	}
	for name, pids := range live {
		if len(pids) != 1 || online[name] != pids[0] {
			ts.Fatalf("%s: live main processes %v, listed online with pid %d", name, pids, online[name])
		}
	}
	for name, pid := range online {
		if len(live[name]) == 0 {
			ts.Fatalf("%s is listed online with pid %d, which is not running", name, pid)
		}
	}
}

// setmeta NAME KEY JSON: rewrites one field of NAME's meta.json, as a
// recycled PID or a hand edit would.
func cmdSetMeta(ts *testscript.TestScript, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: setmeta NAME KEY JSON")
	}
	m := meta(ts, args[0])
	var v any
	ts.Check(json.Unmarshal([]byte(args[2]), &v))
	m[args[1]] = v
	b, err := json.MarshalIndent(m, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(paths.Processes(ts.Getenv("TSM_DIR")), args[0], "meta.json"), b, 0o644))
}

// waitfile FILE REGEXP: waits up to 10s for FILE to match REGEXP.
func cmdWaitFile(ts *testscript.TestScript, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE REGEXP")
	}
	path := ts.MkAbs(args[0])
	poll(ts, 10*time.Second, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && matches(args[1], string(b))
	}, "%s to match %q", args[0], args[1])
}

// filesize FILE MAX: waits up to 10s for FILE to hold at most MAX bytes.
func cmdFileSize(ts *testscript.TestScript, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filesize FILE MAX")
	}
	max, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	poll(ts, 10*time.Second, func() bool {
		fi, err := os.Stat(ts.MkAbs(args[0]))
		return err == nil && fi.Size() <= max
	}, "%s to hold at most %d bytes", args[0], max)
}

// seqcheck FILE REGEXP: the numbers REGEXP's first group captures in FILE,
// in order, count up by one: no line lost or repeated.
func cmdSeqCheck(ts *testscript.TestScript, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: seqcheck FILE REGEXP")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	ms := regexp.MustCompile(args[1]).FindAllSubmatch(b, -1)
	if len(ms) == 0 {
		ts.Fatalf("no match for %q in %s", args[1], args[0])
	}
	prev := -1
	for _, m := range ms {
		n := atoi(ts, string(m[1]))
		if prev >= 0 && n != prev+1 {
			ts.Fatalf("%s: %d follows %d", args[0], n, prev)
		}
		prev = n
	}
	ts.Logf("%d numbers in sequence", len(ms))
}

// gone PID...: waits up to 10s for every PID to be dead (or a zombie).
func cmdGone(ts *testscript.TestScript, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: gone PID...")
	}
	for _, a := range args {
		pid := atoi(ts, a)
		poll(ts, 10*time.Second, func() bool {
			_, err := proc.Identify(pid)
			return err != nil
		}, "pid %d to be gone", pid)
	}
}

// alive PID...: every PID is running now (with !, none is).
func cmdAlive(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: [!] alive PID...")
	}
	for _, a := range args {
		pid := atoi(ts, a)
		_, err := proc.Identify(pid)
		if (err == nil) == neg {
			ts.Fatalf("pid %d alive=%v, want %v", pid, err == nil, !neg)
		}
	}
}

// httpget PORT: something answers HTTP on 127.0.0.1:PORT.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: httpget PORT")
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+args[0], 2*time.Second)
	if err == nil {
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		buf := make([]byte, 12)
		_, err = c.Read(buf)
		c.Close()
		if err == nil && !strings.HasPrefix(string(buf), "HTTP/1.") {
			err = fmt.Errorf("answer %q is not HTTP", buf)
		}
	}
	if (err == nil) == neg {
		ts.Fatalf("httpget %s: %v (negated: %v)", args[0], err, neg)
	}
}

// waitport PORT: waits up to 10s for 127.0.0.1:PORT to accept connections.
func cmdWaitPort(ts *testscript.TestScript, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitport PORT")
	}
	poll(ts, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+args[0], time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "port %s to accept connections", args[0])
}

// kill9 PID: SIGKILL, as a crash or an impatient user would.
func cmdKill9(ts *testscript.TestScript, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: kill9 PID...")
	}
	for _, a := range args {
		ts.Check(syscall.Kill(atoi(ts, a), syscall.SIGKILL))
	}
}

// follow REGEXP ARGS... [+++ TRIGGER... | +++once TRIGGER...]: runs `tsm ARGS` (a `logs -f` or
// `events -f`), waits up to 10s for a line of its output to match REGEXP,
// then interrupts it like Ctrl-C and expects a clean exit. With a trigger,
// `tsm TRIGGER` runs every 300ms until the line appears, so that something
// happens after the follower has surely started; with +++once, once.
func cmdFollow(ts *testscript.TestScript, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: follow REGEXP ARGS... [+++ TRIGGER... | +++once TRIGGER...] | follow -each REGEXP... -- ARGS...")
	}
	var res []*regexp.Regexp
	if args[0] == "-each" {
		i := slices.Index(args, "--")
		if i < 0 {
			ts.Fatalf("follow -each: no -- after the patterns")
		}
		for _, r := range args[1:i] {
			res = append(res, regexp.MustCompile(r))
		}
		args = args[i+1:]
	} else {
		res = []*regexp.Regexp{regexp.MustCompile(args[0])}
		args = args[1:]
	}
	var trigger []string
	once := false
	for i, a := range args {
		if a == "+++" || a == "+++once" {
			args, trigger, once = args[:i], args[i+1:], a == "+++once"
			break
		}
	}
	cmd := exec.Command("tsm", args...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = environ(ts)
	out, err := cmd.StdoutPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	patterns := fmt.Sprint(res) // res is the scanner's from here on
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			res = slices.DeleteFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(sc.Text()) })
			if len(res) == 0 {
				found <- sc.Text()
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for waiting := true; waiting; {
		select {
		case line := <-found:
			ts.Logf("followed: %s", line)
			waiting = false
		case <-tick.C:
			if len(trigger) > 0 {
				t := exec.Command("tsm", trigger...)
				t.Dir, t.Env = cmd.Dir, cmd.Env
				if b, err := t.CombinedOutput(); err != nil {
					ts.Fatalf("trigger tsm %s: %v\n%s", strings.Join(trigger, " "), err, b)
				}
				if once {
					trigger = nil
				}
			}
		case <-deadline:
			// A trigger that ran long may return with both the line and
			// the deadline ready: select picks either; the line wins.
			select {
			case line := <-found:
				ts.Logf("followed: %s", line)
				waiting = false
				continue
			default:
			}
			cmd.Process.Kill()
			cmd.Wait()
			ts.Fatalf("no line matching %q within 10s", patterns)
		}
	}
	ts.Check(cmd.Process.Signal(os.Interrupt))
	if err := cmd.Wait(); err != nil {
		ts.Fatalf("tsm %s after Ctrl-C: %v", strings.Join(args, " "), err)
	}
}

// concurrent N ARGS...: runs N copies of `tsm ARGS` at once, with {} in
// ARGS replaced by the copy's index; all must succeed.
func cmdConcurrent(ts *testscript.TestScript, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: concurrent N ARGS...")
	}
	n := atoi(ts, args[0])
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			argv := make([]string, len(args)-1)
			for j, a := range args[1:] {
				argv[j] = strings.ReplaceAll(a, "{}", strconv.Itoa(i))
			}
			cmd := exec.Command("tsm", argv...)
			cmd.Dir = ts.Getenv("WORK")
			cmd.Env = environ(ts)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("tsm %s: %v\n%s", strings.Join(argv, " "), err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ts.Logf("%v", err)
		ts.Fatalf("a concurrent command failed")
	}
}

func environ(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TSM_DIR", "NO_COLOR", "TMPDIR"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

func poll(ts *testscript.TestScript, limit time.Duration, ok func() bool, format string, args ...any) {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			ts.Fatalf("timed out after %s waiting for "+format, append([]any{limit}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func atoi(ts *testscript.TestScript, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		ts.Fatalf("%q is not a number", s)
	}
	return n
}
