package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// SpawnSpec describes one run of a service.
type SpawnSpec struct {
	Argv   []string // argv[0] is an absolute path or is looked up in Env's PATH
	Env    []string
	Dir    string
	Stdout string // appended to
	Stderr string // appended to
	// CgroupFD, when UseCgroup, is an open cgroup directory (Cgroups.Prepare)
	// that the child starts in, atomically (Linux clone3).
	UseCgroup bool
	CgroupFD  int
}

// Spawn starts the service in a new session (so it has its own process group
// and no controlling terminal), stdin from /dev/null and stdout/stderr
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
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
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
	pid, err := syscall.ForkExec(path, s.Argv, &syscall.ProcAttr{
		Dir:   s.Dir,
		Env:   s.Env,
		Files: []uintptr{devnull.Fd(), out.Fd(), errf.Fd()},
		Sys:   sysProcAttr(s),
	})
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", s.Argv[0], err)
	}
	return pid, nil
}

func openLog(path string) (*os.File, error) {
	// A named pipe (--log-time) is held for reading too, so it never loses
	// its last reader: a daemon that reads it may die, the writer must not
	// get SIGPIPE for it.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
		return os.OpenFile(path, os.O_RDWR, 0)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
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
