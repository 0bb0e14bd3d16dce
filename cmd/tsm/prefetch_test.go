package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/release"
)

// fakeDaemon serves root's socket with raw HTTP and sends each request it
// reads (request line and headers) to the returned channel, "" for a
// connection that sent nothing. It answers the nth request (from 0) with
// answer(n, request), written as it is; see ok.
func fakeDaemon(t *testing.T, root string, answer func(n int, req string) string) <-chan string {
	t.Helper()
	ln, err := net.Listen("unix", paths.Socket(root))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	os.Chmod(paths.Socket(root), 0o666)
	got := make(chan string, 100)
	go func() {
		for n := 0; ; {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			var req strings.Builder
			for {
				line, err := r.ReadString('\n')
				req.WriteString(line)
				if err != nil || line == "\r\n" {
					break
				}
			}
			got <- req.String()
			if req.Len() > 0 {
				io.WriteString(c, answer(n, req.String()))
				n++
			}
			c.Close()
		}
	}()
	return got
}

// ok is a daemon's answer with body, as this build's daemon sends a
// rendered listing, with the given extra header lines.
func ok(body string, headers ...string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\n%s: %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		api.BuildHeader, release.Build, strings.Join(append(headers, ""), "\r\n"), len(body), body)
}

// always answers every request with answer.
func always(answer string) func(int, string) string {
	return func(int, string) string { return answer }
}

// tsmExe returns a path that runs this test binary as tsm (TestMain
// dispatches on the name), in a directory every user may enter.
func tsmExe(t *testing.T) string {
	dir, err := os.MkdirTemp("", "tsm-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "tsm")
	if err := os.Symlink(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// A plain `tsm list` sends its request while the binary initialises
// (package prefetch) and uses that connection: one request, written by the
// prefetch (net/http would add a User-Agent), for the route the client
// would ask, and its answer printed.
func TestListPrefetched(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	got := fakeDaemon(t, root, always(ok("the table\n")))
	for args, uri := range map[string]string{
		"list":                 "/v1/list/table",
		"ls -a":                "/v1/list/table?all=1",
		"list all":             "/v1/list/table?all=1",
		"list running --json":  "/v1/list/json",
		"list --json --all":    "/v1/list/json?all=1",
		"list --all --json -a": "/v1/list/json?all=1",
	} {
		cmd := exec.Command(exe, strings.Fields(args)...)
		cmd.Env = append(os.Environ(), "TSM_DIR="+root)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "the table\n" {
			t.Fatalf("tsm %s: %v\n%s", args, err, out)
		}
		req := <-got
		if want := "GET " + uri + " HTTP/1.1\r\n"; !strings.HasPrefix(req, want) || strings.Contains(req, "User-Agent") {
			t.Errorf("tsm %s: the request was not the prefetched %q:\n%s", args, want, req)
		}
		select {
		case req := <-got:
			t.Errorf("tsm %s: a second request:\n%s", args, req)
		default:
		}
	}
}

// runList runs `tsm list` for root with GODEBUG=inittrace=1 (Go then
// names on stderr each package it initialises) and returns its stdout, the
// rest of its stderr, whether the package of the CLI was initialised, and
// how it ended.
func runList(t *testing.T, exe, root string) (stdout, stderr string, cliInit bool, err error) {
	t.Helper()
	cmd := exec.Command(exe, "list")
	cmd.Env = append(os.Environ(), "TSM_DIR="+root, "GODEBUG=inittrace=1")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var rest strings.Builder
	for _, line := range strings.SplitAfter(errOut.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "init github.com/tetra/tsm/internal/cli @"):
			cliInit = true
		case !strings.HasPrefix(line, "init "):
			rest.WriteString(line)
		}
	}
	return out.String(), rest.String(), cliInit, err
}

// requests returns how many requests reached a fakeDaemon so far. Called
// once tsm has exited: the fake reports a request before it answers it,
// so every request tsm sent is in got by then.
func requests(got <-chan string) int {
	n := 0
	for {
		select {
		case req := <-got:
			if req != "" {
				n++
			}
		default:
			return n
		}
	}
}

// The init prints a complete answer of this release's daemon itself and
// exits, before the rest of the binary is initialised: the daemon's
// problems as warnings (as the CLI words them), then the listing — one
// longer than a read, too.
func TestListPrintedByInit(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	for _, body := range []string{"the table\n", strings.Repeat("a row of a long table\n", 20000)} {
		got := fakeDaemon(t, root, always(ok(body, "Tsm-Problem: skipped x: bad json", "tsm-problem: \trenumbered y ")))
		stdout, stderr, cliInit, err := runList(t, exe, root)
		if err != nil || stdout != body {
			t.Fatalf("tsm list: %v; stdout %d bytes, want %d", err, len(stdout), len(body))
		}
		if want := "tsm: warning: skipped x: bad json\ntsm: warning: renumbered y\n"; stderr != want {
			t.Errorf("stderr %q, want %q", stderr, want)
		}
		if cliInit {
			t.Error("the CLI was initialised: the init did not print the answer")
		}
		if n := requests(got); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
		os.Remove(paths.Socket(root))
	}
}

// stopDaemonAtCleanup stops root's daemon, if one runs, when the test ends.
func stopDaemonAtCleanup(t *testing.T, exe, root string) {
	t.Cleanup(func() {
		cmd := exec.Command(exe, "daemon", "stop")
		cmd.Env = append(os.Environ(), "TSM_DIR="+root)
		cmd.Run()
	})
}

// With no daemon, a plain list's init starts one, waits for it to listen
// and prints its answer, the CLI never initialised; a daemon that fails to
// start is left to the CLI, which says why.
func TestColdListPrintedByInit(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	stopDaemonAtCleanup(t, exe, root)
	stdout, stderr, cliInit, err := runList(t, exe, root)
	if err != nil || !strings.Contains(stdout, "no running processes") || stderr != "" {
		t.Fatalf("cold tsm list: %v\nstdout %q\nstderr %q", err, stdout, stderr)
	}
	if cliInit {
		t.Error("the CLI was initialised: the init did not print the new daemon's answer")
	}
	if _, err := os.Stat(paths.DaemonPID(root)); err != nil {
		t.Errorf("no daemon: %v", err)
	}

	// A daemon that cannot start: its lock file is a directory.
	bad := t.TempDir()
	os.Mkdir(paths.Lock(bad), 0o700)
	stdout, stderr, cliInit, err = runList(t, exe, bad)
	if err == nil || !strings.Contains(stderr, "the tsm daemon failed to start") || !cliInit {
		t.Errorf("cold tsm list, a daemon that fails: %v, CLI initialised %v\nstdout %q\nstderr %q", err, cliInit, stdout, stderr)
	}
}

// Every other answer goes to the CLI, which asks again (or, where nothing
// came within a second, takes the connection) and handles it as it always
// did: an older daemon's (and says how to switch), a chunked one, one cut
// short, one with a header value net/http refuses, an error, a slow one.
func TestListDeclinedByInit(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	table := "the table\n"
	older := strings.Replace(ok(table), api.BuildHeader+": "+release.Build, api.BuildHeader+": v0", 1)
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nthe \r\n6\r\ntable\n\r\n0\r\n\r\n"
	failure := `{"error":{"code":"failure","message":"the disk is full"}}`
	for _, c := range []struct {
		name     string
		answer   func(n int, req string) string
		requests int
		stdout   string
		stderr   string // a part of it
		fails    bool
	}{
		{"older daemon", always(older), 2, table, "the running daemon is tsm v0 and this is tsm " + release.Build, false},
		{"chunked", always(chunked), 2, table, "", false},
		{"cut short", func(n int, _ string) string {
			if n == 0 {
				return ok(table)[:40]
			}
			return ok(table)
		}, 2, table, "", false},
		{"control byte in a problem", always(ok(table, "Tsm-Problem: skipped \x1b[31mx")), 2, "", "malformed MIME header line", true},
		{"error", always(fmt.Sprintf("HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s", len(failure), failure)), 2, "", "tsm: the disk is full", true},
		{"slow", func(n int, _ string) string {
			time.Sleep(1500 * time.Millisecond)
			return ok(table)
		}, 1, table, "", false},
	} {
		got := fakeDaemon(t, root, c.answer)
		stdout, stderr, cliInit, err := runList(t, exe, root)
		if (err != nil) != c.fails || stdout != c.stdout || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: tsm list: %v\nstdout %q, want %q\nstderr %q, want it to hold %q", c.name, err, stdout, c.stdout, stderr, c.stderr)
		}
		if !cliInit {
			t.Errorf("%s: the init printed it", c.name)
		}
		if n := requests(got); n != c.requests {
			t.Errorf("%s: %d requests, want %d", c.name, n, c.requests)
		}
		os.Remove(paths.Socket(root))
	}
}

// On a terminal the init asks for the painted listing, as the CLI does,
// unless NO_COLOR is set.
func TestListPrintedByInitOnTerminal(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	got := fakeDaemon(t, root, func(_ int, req string) string { return ok(strings.Fields(req)[1] + "\n") })
	for noColor, want := range map[string]string{"": "/v1/list/table?color=1\r\n", "1": "/v1/list/table\r\n"} {
		ptmx, tty := openPTY(t)
		cmd := exec.Command(exe, "list")
		cmd.Env = append(os.Environ(), "TSM_DIR="+root, "NO_COLOR="+noColor)
		cmd.Stdout = tty
		err := cmd.Run()
		tty.Close()
		out, _ := io.ReadAll(ptmx) // EIO once the terminal is closed
		ptmx.Close()
		if err != nil || string(out) != want {
			t.Errorf("NO_COLOR=%q: %v %q, want %q", noColor, err, out, want)
		}
		<-got
	}
}

// openPTY returns a new pseudo-terminal: its controlling side and the
// terminal a program writes to.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skip("no pseudo-terminals here:", err)
	}
	fd := int(ptmx.Fd())
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0)
	}
	if err == nil {
		tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		ptmx.Close()
		t.Skip("no pseudo-terminals here:", err)
	}
	return ptmx, tty
}

// A listing into a pipe that nobody reads any more ends as a Go program's
// write to such a stdout or stderr does: killed by SIGPIPE, the init
// leaving the failed write to the CLI. Into a closed stdout, the warnings
// the init printed before are not repeated; into a closed stderr, nothing
// is printed (the CLI warns before it lists).
func TestListIntoClosedPipe(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	fakeDaemon(t, root, always(ok("the table\n", "Tsm-Problem: skipped x: bad json")))
	for _, closed := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := exec.Command(exe, "list")
		cmd.Env = append(os.Environ(), "TSM_DIR="+root)
		var out strings.Builder // what the open one got
		cmd.Stdout, cmd.Stderr = w, &out
		want := "tsm: warning: skipped x: bad json\n"
		if closed == "stderr" {
			cmd.Stdout, cmd.Stderr, want = &out, w, ""
		}
		err = cmd.Run()
		w.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGPIPE {
			t.Errorf("tsm list into a closed %s: %v, want killed by SIGPIPE", closed, err)
		}
		if out.String() != want {
			t.Errorf("tsm list into a closed %s printed %q on the other, want %q", closed, out.String(), want)
		}
	}
}

// The prefetch checks whose daemon it reached before it sends anything, as
// the client does: another user's `tsm list` sends a 0666 socket of root's
// nothing, and says why.
func TestListPrefetchOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run tsm as another user (uid 65534)")
	}
	exe := tsmExe(t)
	root := peerDir(t)
	got := fakeDaemon(t, root, always(ok("root's table\n")))
	out, _ := asNobody(t, exe, root, "list")
	if !strings.Contains(string(out), "runs as uid 0, not as you (uid 65534)") {
		t.Errorf("tsm list as uid 65534:\n%s", out)
	}
	// Two connections, neither of which sent anything: the prefetch's and
	// the client's, each closed after the peer check.
	for range 2 {
		select {
		case req := <-got:
			if req != "" {
				t.Errorf("another user's tsm list sent root's daemon:\n%s", req)
			}
		case <-time.After(2 * time.Second):
			return
		}
	}
}

// `tsm daemon stop` against another user's state directory says whose
// daemon it is and fails: "daemon not running" with exit 0 would lie, the
// daemon runs on. Both ways in: a socket that answers as another user, and
// a directory that keeps the caller from reaching the socket at all.
func TestDaemonStopOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run tsm as another user (uid 65534)")
	}
	exe := tsmExe(t)
	for _, c := range []struct {
		dirMode os.FileMode
		want    string
	}{
		{0o755, "runs as uid 0, not as you (uid 65534)"},
		{0o700, "belongs to uid 0, not to you (uid 65534), and keeps you out: it is another user's state directory"},
	} {
		root := peerDir(t)
		fakeDaemon(t, root, always(ok("{}")))
		os.Chmod(root, c.dirMode)
		out, err := asNobody(t, exe, root, "daemon", "stop")
		if err == nil || !strings.Contains(string(out), c.want) || strings.Contains(string(out), "not running") {
			t.Errorf("tsm daemon stop as uid 65534, state directory mode %o: %v\n%s\nwant a failure that says %q", c.dirMode, err, out, c.want)
		}
	}
}

// peerDir returns a new state directory of root's that other users may
// enter (mode 0755), removed at the end of the test.
func peerDir(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "tsm-peer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	return root
}

// asNobody runs exe (from tsmExe) with args as uid 65534 on the state
// directory root and returns its combined output and exit error.
func asNobody(t *testing.T, exe, root string, args ...string) ([]byte, error) {
	t.Helper()
	// The test binary itself may sit in a directory closed to others.
	bin := filepath.Join(filepath.Dir(exe), "tsm.bin")
	if _, err := os.Stat(bin); err != nil {
		self, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, self, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Remove(exe)
		os.Symlink(bin, exe)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "TSM_DIR="+root, "HOME=/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd.CombinedOutput()
}

// A state directory tsm cannot create or look at (HOME=/nonexistent, as
// nobody's is; a path through a file) is an error that says how to fix it,
// not a bare mkdir or lstat failure.
func TestStateDirUnusable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run tsm as another user (uid 65534)")
	}
	exe := tsmExe(t)
	dir := peerDir(t) // root's, 0755: nobody may not create anything in it
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	for _, root := range []string{filepath.Join(dir, "home", "tetra", "tsm"), filepath.Join(dir, "file", "tsm")} {
		for _, args := range [][]string{{"list"}, {"start", "sleep", "1"}, {"daemon", "status"}} {
			out, err := asNobody(t, exe, root, args...)
			if err == nil || !strings.Contains(string(out), root) || !strings.Contains(string(out), "set TSM_DIR to a directory of your own") {
				t.Errorf("tsm %s with TSM_DIR=%s as uid 65534: %v\n%s\nwant an error that says to set TSM_DIR", strings.Join(args, " "), root, err, out)
			}
		}
	}
}

// A caller whose environment names a readiness descriptor of its own
// (TSM_READY_FD, with that descriptor open) must not pass it to the daemon
// the init starts: the daemon would take the caller's descriptor for its
// readiness pipe (the first of two TSM_READY_FD wins), write its byte into
// the caller's file, and never into the init's pipe, which then waits in
// vain and leaves the list to the CLI (red11).
func TestColdListIgnoresCallersReadyFD(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	stopDaemonAtCleanup(t, exe, root)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	callers, callersW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer callers.Close()
	cmd := exec.Command(exe, "list")
	cmd.Env = append(os.Environ(), "TSM_DIR="+root, "TSM_READY_FD=4", "GODEBUG=inittrace=1")
	cmd.ExtraFiles = []*os.File{null, callersW} // fds 3 and 4
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	callersW.Close()
	if err != nil || !strings.Contains(out.String(), "no running processes") {
		t.Fatalf("cold tsm list: %v\nstdout %q\nstderr %q", err, out.String(), errOut.String())
	}
	if strings.Contains(errOut.String(), "init github.com/tetra/tsm/internal/cli @") {
		t.Error("the CLI was initialised: the new daemon's ready byte did not reach the init")
	}
	// The daemon closes every descriptor it inherited (or the one it took
	// for its pipe, once written): the caller's pipe ends.
	callers.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(callers)
	if len(got) != 0 {
		t.Errorf("the daemon wrote %q into the caller's descriptor 4", got)
	}
}

// A daemon.log that is a directory is named once, with what to do — the
// cold list's message was "open P: open P: is a directory" (red11).
func TestColdListDaemonLogADirectory(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	logPath := paths.DaemonLog(root)
	os.Mkdir(logPath, 0o700)
	_, stderr, _, err := runList(t, exe, root)
	if err == nil || strings.Count(stderr, logPath) != 1 || !strings.Contains(stderr, "remove it") {
		t.Errorf("cold tsm list, daemon.log a directory: %v\nstderr %q", err, stderr)
	}
}
