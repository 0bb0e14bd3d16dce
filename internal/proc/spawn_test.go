package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func init() {
	extraHelpers["nofilespawn"] = noFileSpawnHelper
	extraHelpers["inheritedctx"] = inheritedContextHelper
}

// TestLookPathSkipsEmptyEntries puts a program in the current directory
// and checks that no PATH with an empty entry finds it there.
func TestLookPathSkipsEmptyEntries(t *testing.T) {
	const name = "tsm-lookpath-probe"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, path := range []string{"", ":", "/nonexistent:", ":/nonexistent", "/nonexistent::/nonexistent2"} {
		if got, err := lookPath(name, []string{"PATH=" + path}); err == nil {
			t.Errorf("PATH=%q: lookPath found %q in the current directory", path, got)
		}
	}
	want := filepath.Join(dir, name)
	for _, path := range []string{dir, ":" + dir, "/nonexistent::" + dir} {
		if got, err := lookPath(name, []string{"PATH=" + path}); err != nil || got != want {
			t.Errorf("PATH=%q: lookPath = %q, %v; want %q", path, got, err, want)
		}
	}
}

// lowNofile is the soft RLIMIT_NOFILE the file-limit helpers start with.
const lowNofile = 256

// lowFileLimitArgv runs the test helper under a shell that lowers the soft
// open-files limit to lowNofile first; it skips the test where the hard
// limit leaves the runtime nothing to raise.
func lowFileLimitArgv(t *testing.T) []string {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max <= lowNofile+1 {
		t.Skipf("hard limit %d: nothing to raise", lim.Max)
	}
	return append([]string{"sh", "-c", "ulimit -Sn " + strconv.Itoa(lowNofile) + ` && exec "$@"`, "sh"}, helperArgv(t)...)
}

// TestSpawnKeepsFileLimit: the Go runtime raises its own soft
// RLIMIT_NOFILE to the hard limit at start-up, and services must not
// inherit that. A helper started with a low soft limit Spawns a shell
// that writes down the limit it got.
func TestSpawnKeepsFileLimit(t *testing.T) {
	argv := lowFileLimitArgv(t)
	file := filepath.Join(t.TempDir(), "limit")
	_, out := startProc(t, procOpts{env: []string{helperEnv + "=nofilespawn", helperArg + "=" + file}, stdout: true}, argv...)
	r := &keyedLines{r: out, vals: make(map[string]int)}
	if soft := r.get(t, "soft"); soft <= lowNofile {
		t.Fatalf("the helper's soft limit is %d: the runtime did not raise it, test premise broken", soft)
	}
	if code := r.get(t, "exit"); code != 0 {
		t.Fatalf("the spawned shell exited with %d", code)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(lowNofile) {
		t.Errorf("spawned process has a soft RLIMIT_NOFILE of %s, want the caller's original %d", got, lowNofile)
	}
}

func noFileSpawnHelper() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		helperFail("getrlimit", err)
	}
	pid, err := Spawn(SpawnSpec{
		Argv:   []string{"sh", "-c", `ulimit -Sn > "$1"`, "sh", os.Getenv(helperArg)},
		Env:    []string{"PATH=" + os.Getenv("PATH")},
		Dir:    "/",
		Stdout: os.DevNull,
		Stderr: os.DevNull,
	})
	if err != nil {
		helperFail("spawn", err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		helperFail("wait", err)
	}
	fmt.Printf("soft=%d\nexit=%d\n", lim.Cur, ws.ExitStatus())
}

// TestInheritedContextBesideReaper: the daemon begins reading the context
// its children inherit (a child shell reports the soft open-files limit)
// and starts its reaper, which waits for any child, without waiting for
// the shell: the shell's status must still reach os/exec, or the limit
// would read as the runtime's raised one. A helper started with a low soft
// limit does what the daemon does and prints what it read.
func TestInheritedContextBesideReaper(t *testing.T) {
	argv := lowFileLimitArgv(t)
	_, out := startProc(t, procOpts{env: []string{helperEnv + "=inheritedctx"}, stdout: true}, argv...)
	r := &keyedLines{r: out, vals: make(map[string]int)}
	if soft := r.get(t, "inherited"); soft != lowNofile {
		t.Errorf("the inherited soft RLIMIT_NOFILE reads %d, want the original %d (did the reaper take the shell's status?)", soft, lowNofile)
	}
}

func inheritedContextHelper() {
	ReadInheritedContext()
	NewReaper(func(Exit) {})
	for _, l := range inherited().Limits {
		if l.Resource == "nofile" {
			fmt.Printf("inherited=%d\n", l.Soft)
		}
	}
}

// A script with Windows line endings fails with "bad interpreter", naming
// the interpreter with its \r, not "no such file" about a file that exists.
func TestSpawnNamesABadInterpreter(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ script, want string }{
		{"#!/bin/sh\r\necho hi\r\n", `bad interpreter "/bin/sh\r": ` + dir + `/crlf has Windows (CRLF) line endings; convert it with dos2unix`},
		{"#!/no/such/shell\necho hi\n", `bad interpreter: ` + dir + `/crlf names /no/such/shell in its #! line, which does not exist`},
	} {
		path := filepath.Join(dir, "crlf")
		if err := os.WriteFile(path, []byte(tt.script), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Spawn(SpawnSpec{Argv: []string{path}, Dir: dir, Stdout: filepath.Join(dir, "out"), Stderr: filepath.Join(dir, "err")})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Spawn of %q: %v, want %q", tt.script, err, tt.want)
		}
	}
}
