package proc

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// extraHelpers are roles defined by platform-specific test files, by name;
// they exit when they return.
var extraHelpers = map[string]func(){}

// helperEnv selects a role when the test binary re-executes itself as a
// fake process (see TestProcHelper); helperArg holds its argument, for
// roles that take one.
const (
	helperEnv = "TSM_PROC_TEST_HELPER"
	helperArg = "TSM_PROC_TEST_ARG"
)

// TestProcHelper is not a test: it is the body of the re-executed test
// binary, in the role named by helperEnv.
//
//   - setsid leaves the caller's session, as a service's grandchild might.
//   - setpgid leaves the caller's process group but not its session, as a
//     shell with job control puts each job.
//   - listen opens a TCP listener and prints its port.
//   - daemon stands in for tsm's daemon: a subreaper (Linux) that runs the
//     command after "--" in a new session, prints "root=<pid>" and reaps
//     every child and adopted orphan, so that tests which orphan processes
//     leave no zombies behind even under an init that never reaps.
//   - zombie starts a child, prints its pid and does not reap it until its
//     stdin closes.
//   - probegroup becomes nobody and reports on the process group in
//     helperArg with GroupExists.
//   - nofile fills its descriptor table, asks about the identity in
//     helperArg with no descriptor to spare and again with room, prints a
//     nofileReport as JSON and exits.
//
// All but zombie, nofile and probegroup then wait to be killed.
func TestProcHelper(t *testing.T) {
	role := os.Getenv(helperEnv)
	if f, ok := extraHelpers[role]; ok {
		f()
		os.Exit(0)
	}
	switch role {
	case "":
		return
	case "setsid":
		if _, err := syscall.Setsid(); err != nil {
			helperFail("setsid", err)
		}
	case "setpgid":
		if err := syscall.Setpgid(0, 0); err != nil {
			helperFail("setpgid", err)
		}
	case "listen":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			helperFail("listen", err)
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		defer ln.Close()
	case "daemon":
		if err := BecomeSubreaper(); err != nil {
			helperFail("subreaper", err)
		}
		argv := flag.Args()
		path, err := exec.LookPath(argv[0])
		if err != nil {
			helperFail("lookpath", err)
		}
		pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
			Env:   os.Environ(),
			Files: []uintptr{0, 1, 2},
			Sys:   &syscall.SysProcAttr{Setsid: true},
		})
		if err != nil {
			helperFail("spawn", err)
		}
		fmt.Printf("root=%d\n", pid)
		for {
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(-1, &ws, 0, nil); err == syscall.ECHILD {
				time.Sleep(10 * time.Millisecond) // orphans may still arrive
			}
		}
	case "zombie":
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 0"}, &syscall.ProcAttr{})
		if err != nil {
			helperFail("spawn", err)
		}
		fmt.Println(pid)
		io.Copy(io.Discard, os.Stdin)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		os.Exit(0)
	case "nofile":
		nofileHelper()
		os.Exit(0)
	case "probegroup":
		probeGroupHelper()
		os.Exit(0)
	}
	time.Sleep(time.Hour)
	os.Exit(0)
}

// answer is one reply of Identity.Check, made printable.
type answer struct {
	Alive    bool
	Err      string
	NoProc   bool // the error wraps ErrNoProcess
	TooMany  bool // the error wraps EMFILE
	Identify string
	// IdentifyNoProc: Identify's error wrapped ErrNoProcess.
	IdentifyNoProc bool
}

func ask(id Identity) answer {
	alive, err := id.Check()
	a := answer{Alive: alive, NoProc: errors.Is(err, ErrNoProcess), TooMany: errors.Is(err, syscall.EMFILE)}
	if err != nil {
		a.Err = err.Error()
	}
	if _, err := Identify(id.PID); err != nil {
		a.Identify, a.IdentifyNoProc = err.Error(), errors.Is(err, ErrNoProcess)
	}
	return a
}

type nofileReport struct {
	Full, Missing, After answer
	BootErr              string // bootID with the table full
	BootAfter            string // and with room again
}

func nofileHelper() {
	var id Identity
	if err := json.Unmarshal([]byte(os.Getenv(helperArg)), &id); err != nil {
		helperFail("identity", err)
	}
	// A low soft limit keeps the table small; the hard one stays, so that
	// nothing but this helper is affected.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		helperFail("getrlimit", err)
	}
	lim.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		helperFail("setrlimit", err)
	}
	var fds []int
	for {
		fd, err := syscall.Dup(0)
		if err == syscall.EMFILE {
			break
		}
		if err != nil {
			helperFail("dup", err)
		}
		fds = append(fds, fd)
	}
	var r nofileReport
	r.Full = ask(id)
	r.Missing = ask(Identity{PID: 0x7ffffff0, StartTime: 1, BootID: "x"})
	if _, err := bootID(); err != nil {
		r.BootErr = err.Error()
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
	r.After = ask(id)
	if b, err := bootID(); err == nil {
		r.BootAfter = b
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func helperFail(what string, err error) {
	fmt.Fprintf(os.Stderr, "helper: %s: %v\n", what, err)
	os.Exit(3)
}

// helperArgv runs the test binary as the helper named role.
func helperArgv(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "-test.run=^TestProcHelper$"}
}

type procOpts struct {
	env     []string // added to the test's environment
	bareEnv bool     // env only, without the test's environment
	setsid  bool     // lead a new session, as tsm starts services
	stdout  bool     // return a reader of the child's stdout
	stdin   bool     // give the child a pipe as stdin, closed at cleanup
}

// startProc starts a child that is killed and reaped when the test ends.
// Wait errors are ignored: if another test in this package runs a
// wait4(-1) reaper, it may collect the child first.
func startProc(t *testing.T, o procOpts, argv ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), o.env...)
	if o.bareEnv {
		cmd.Env = append([]string{}, o.env...)
	}
	if o.setsid {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	var out *bufio.Reader
	if o.stdout {
		r, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		out = bufio.NewReader(r)
	}
	var in io.Closer
	if o.stdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		in = w
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if in != nil {
			// Let the child finish its business first (see "zombie").
			in.Close()
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
				return
			case <-time.After(5 * time.Second):
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, out
}

// startService runs script under sh in a new session below a stand-in
// daemon (see TestProcHelper), as tsm runs a service. The script is given
// the test binary's helper command line as "$@", and env, which the daemon
// does not get (like tsm's daemon, it must not carry a service's marker).
// It returns the shell's PID and the output of daemon and script, as
// key=value lines.
func startService(t *testing.T, env []string, script string) (int, *keyedLines) {
	t.Helper()
	for _, kv := range env {
		script = "export '" + kv + "'\n" + script
	}
	argv := append(helperArgv(t), "--", "sh", "-c", script, "sh")
	argv = append(argv, helperArgv(t)...)
	_, out := startProc(t, procOpts{env: []string{helperEnv + "=daemon"}, stdout: true}, argv...)
	lines := &keyedLines{r: out, vals: make(map[string]int)}
	return lines.get(t, "root"), lines
}

// keyedLines reads "key=number" lines that two writers (the stand-in daemon
// and the service) print in no particular order.
type keyedLines struct {
	r    *bufio.Reader
	vals map[string]int
}

func (k *keyedLines) get(t *testing.T, key string) int {
	t.Helper()
	for {
		if v, ok := k.vals[key]; ok {
			return v
		}
		line, err := k.r.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for %s= from the helper: %v", key, err)
		}
		name, val, _ := strings.Cut(strings.TrimSpace(line), "=")
		n, err := strconv.Atoi(val)
		if err != nil {
			t.Fatalf("helper printed %q", line)
		}
		k.vals[name] = n
	}
}

// readInt reads one line holding a number from a child's stdout.
func readInt(t *testing.T, r *bufio.Reader) int {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read from child: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("child printed %q: %v", line, err)
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdentifySelf(t *testing.T) {
	id, err := Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if id.PID != os.Getpid() || id.StartTime == 0 || id.BootID == "" {
		t.Fatalf("Identify(self) = %+v", id)
	}
	if alive, err := id.Check(); !alive || err != nil || !id.Alive() {
		t.Fatalf("Check() = %v, %v for the running test process", alive, err)
	}
	again, err := Identify(os.Getpid())
	if err != nil || again != id {
		t.Fatalf("second Identify = %+v, %v; want %+v", again, err, id)
	}

	b, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"pid":`, `"start_time_ticks":`, `"boot_id":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
	var back Identity
	if err := json.Unmarshal(b, &back); err != nil || back != id {
		t.Fatalf("JSON round trip = %+v, %v; want %+v", back, err, id)
	}
}

func TestIdentifyChild(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Alive() {
		t.Fatal("child not Alive")
	}
	self, _ := Identify(os.Getpid())
	if id.StartTime < self.StartTime || id.BootID != self.BootID {
		t.Errorf("child %+v vs test process %+v: child cannot start earlier or in another boot", id, self)
	}
}

func TestAliveMismatch(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Identity){
		"start time": func(i *Identity) { i.StartTime++ },
		"boot id":    func(i *Identity) { i.BootID += "x" },
		"pid":        func(i *Identity) { i.PID = 0 },
	} {
		other := id
		mutate(&other)
		if other.Alive() {
			t.Errorf("Alive() with a different %s = true", name)
		}
		wantDead(t, other, "a different "+name)
	}
	if alive, err := id.Check(); !alive || err != nil || !id.Alive() {
		t.Errorf("the original identity: Check = %v, %v; want true, nil", alive, err)
	}
}

func TestAliveAfterExit(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	eventually(t, "killed child to be gone", func() bool { return !id.Alive() })
	if _, err := Identify(id.PID); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Identify(reaped pid) error = %v, want ErrNoProcess", err)
	}
	wantDead(t, id, "a reaped child")
}

// wantDead checks that Check gives the definite answer "not alive".
func wantDead(t *testing.T, id Identity, what string) {
	t.Helper()
	if alive, err := id.Check(); alive || err != nil {
		t.Errorf("%s: Check = %v, %v; want false, nil", what, alive, err)
	}
}

func TestIdentifyZombie(t *testing.T) {
	_, out := startProc(t, procOpts{env: []string{helperEnv + "=zombie"}, stdout: true, stdin: true}, helperArgv(t)...)
	zombie := readInt(t, out)
	eventually(t, "the helper's child to become a zombie", func() bool {
		_, err := Identify(zombie)
		return errors.Is(err, ErrNoProcess)
	})
	if syscall.Kill(zombie, 0) != nil {
		t.Fatal("the zombie is gone: its parent was not supposed to reap it yet")
	}
	if (Identity{PID: zombie}).Alive() {
		t.Error("zombie reported Alive")
	}
	wantDead(t, Identity{PID: zombie}, "a zombie")
}

func TestIdentifyMissing(t *testing.T) {
	for _, pid := range []int{0, -1, 0x7ffffff0} {
		if _, err := Identify(pid); !errors.Is(err, ErrNoProcess) {
			t.Errorf("Identify(%d) error = %v, want ErrNoProcess", pid, err)
		}
		if (Identity{PID: pid}).Alive() {
			t.Errorf("Identity{PID: %d}.Alive() = true", pid)
		}
		wantDead(t, Identity{PID: pid}, fmt.Sprintf("pid %d", pid))
	}
}

func BenchmarkIdentify(b *testing.B) {
	pid := os.Getpid()
	for b.Loop() {
		if _, err := Identify(pid); err != nil {
			b.Fatal(err)
		}
	}
}
