package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/tetra/tsm/internal/execctx"
)

// SpawnSpec describes one run of a service.
type SpawnSpec struct {
	Argv   []string // argv[0] is an absolute path or is looked up in Env's PATH
	Env    []string
	Dir    string
	Stdout string // appended to
	Stderr string // appended to
	// Stdin is the path of a FIFO (made if missing) that becomes the
	// child's stdin, opened read-write: the child then holds a writer
	// itself, so its reads block instead of seeing EOF for as long as it
	// runs, whether or not a daemon exists. "" means /dev/null.
	Stdin string
	// Context, when not nil, is the limits, umask and priority the run gets
	// (captured from the user's shell). It costs a trampoline exec, so it is
	// applied only when it differs from what the daemon's children inherit.
	Context *execctx.Context
	// CgroupFD, when UseCgroup, is an open cgroup directory (Cgroups.Prepare)
	// that the child starts in, atomically (Linux clone3).
	UseCgroup bool
	CgroupFD  int
}

// Spawn starts the service in a new session (so it has its own process group
// and no controlling terminal), stdin from its FIFO or /dev/null, stdout/stderr
// appended straight to its log files: nothing passes through the daemon, so
// the service outlives a daemon crash. An exec failure (missing binary,
// permission) is returned here, synchronously.
func Spawn(s SpawnSpec) (int, error) {
	if len(s.Argv) == 0 {
		return 0, fmt.Errorf("spawn: empty command")
	}
	// fork/exec reports a missing working directory as ENOENT, which reads
	// as if the program were missing: check it first.
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		return 0, fmt.Errorf("working directory %s is gone (recreate it, or start the process again from another directory)", s.Dir)
	}
	path, err := lookPath(s.Argv[0], s.Env)
	if err != nil {
		return 0, err
	}
	argv := s.Argv
	if s.Context != nil && !s.Context.Equal(inherited()) {
		// The trampoline reports an exec failure only in the log: what
		// can be found out before the fork is found out here.
		if err := checkProgram(path); err != nil {
			return 0, fmt.Errorf("exec %s: %w", s.Argv[0], err)
		}
		self, err := os.Executable()
		if err != nil {
			return 0, fmt.Errorf("find the tsm binary to apply the limits and umask of %s: %w", s.Argv[0], err)
		}
		argv = execctx.Wrap(self, *s.Context, path, s.Argv)
		path = self
	}
	stdin, err := openStdin(s.Stdin)
	if err != nil {
		return 0, err
	}
	defer stdin.Close()
	out, err := openLog(s.Stdout)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	errf, err := openLog(s.Stderr)
	if err != nil {
		return 0, err
	}
	defer errf.Close()

	// The Go runtime raised the daemon's soft RLIMIT_NOFILE to the hard
	// limit at start-up; ForkExec gives the child the original back, so a
	// service gets the limit it would get from a shell. Calling Setrlimit
	// for RLIMIT_NOFILE anywhere in the daemon turns that off for good
	// (see syscall/rlimit.go). TestSpawnKeepsFileLimit checks it.
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   s.Dir,
		Env:   s.Env,
		Files: []uintptr{stdin.Fd(), out.Fd(), errf.Fd()},
		Sys:   sysProcAttr(s),
	})
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			if bad := checkProgram(path); bad != nil {
				err = bad
			}
		}
		return 0, fmt.Errorf("exec %s: %w", s.Argv[0], err)
	}
	return pid, nil
}

// inherited is the context the daemon's children get without a
// trampoline, read once: the daemon never changes its own.
var inherited = sync.OnceValue(execctx.Capture)

var (
	readingContext sync.Once
	// contextRead is closed once the child shell of ReadInheritedContext
	// has been waited for; nil when none was started.
	contextRead chan struct{}
)

// ReadInheritedContext begins reading what the daemon's children inherit
// (see SpawnSpec.Context) and returns at once: its soft open-files limit
// comes from a child shell (fork, exec, exit: a few milliseconds that
// delayed the daemon's readiness, a third of a cold start). A reaper that
// waits for any child would take that shell's status from os/exec, so a
// Reaper made after this call begins reaping once the shell has been
// waited for; a Spawn that needs the context waits for it. Call it before
// NewReaper.
func ReadInheritedContext() {
	readingContext.Do(func() {
		contextRead = make(chan struct{})
		go func() {
			inherited()
			close(contextRead)
		}()
	})
}

// inheritedRead waits until the shell of ReadInheritedContext, if one was
// started, has been waited for.
func inheritedRead() {
	if contextRead != nil {
		<-contextRead
	}
}

// openStdin opens the FIFO at path read-write (O_RDWR on a FIFO never
// blocks, on Linux and macOS alike), making it first if needed, or
// /dev/null when path is "".
func openStdin(path string) (*os.File, error) {
	if path == "" {
		return os.Open(os.DevNull)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeNamedPipe == 0 {
		// Not ours to use as a pipe (a file left by something else).
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("stdin pipe %s: %w", path, err)
		}
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("make the stdin pipe %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open the stdin pipe %s: %w", path, err)
	}
	return f, nil
}

// checkProgram finds what makes an existing program fail to exec with
// ENOENT: its #! line names an interpreter that does not exist, most often
// because the script has Windows line endings ("/bin/bash\r"). It returns
// nil when it finds nothing wrong.
func checkProgram(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := f.Read(head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	interp, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return nil
	}
	if strings.HasSuffix(interp, "\r") {
		return fmt.Errorf("bad interpreter %q: %s has Windows (CRLF) line endings; convert it with dos2unix %s (or sed -i 's/\\r$//' %s)",
			strings.TrimSpace(interp)+"\r", path, path, path)
	}
	fields := strings.Fields(interp)
	if len(fields) == 0 {
		return fmt.Errorf("bad interpreter: %s has an empty #! line", path)
	}
	if _, err := os.Stat(fields[0]); err != nil {
		return fmt.Errorf("bad interpreter: %s names %s in its #! line, which does not exist (install it or fix the #! line)", path, fields[0])
	}
	return nil
}

// openLog opens a log for appending: private to the user (what a service
// prints may be secret), and never through a symbolic link planted there.
func openLog(path string) (*os.File, error) {
	// A named pipe (--log-time) is held for reading too, so it never loses
	// its last reader: a daemon that reads it may die, the writer must not
	// get SIGPIPE for it.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
		return os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
}

// lookPath resolves a bare command name against the PATH of the service's
// own environment, not the daemon's. An empty PATH entry is skipped, not
// taken to mean the current directory as shells do: the daemon's directory
// is not the user's, and a writable directory searched by accident is the
// classic way to run someone else's "ls".
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH", name)
}
