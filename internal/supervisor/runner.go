package supervisor

import (
	"syscall"

	"github.com/tetra/tsm/internal/proc"
)

// Runner is what the supervisor needs from the operating system to run,
// watch and end processes. osRunner is the real one; tests give the
// supervisor a fake so that its timers can run on a fake clock.
type Runner interface {
	// Spawn starts a run; its exit is later reported to the exit handler
	// the Runner was made with.
	Spawn(proc.SpawnSpec) (int, error)
	// Watch reports the exit of a process that is not our child (adopted).
	Watch(pid int, same func() bool) error
	Identify(pid int) (proc.Identity, error)
	Tree(root int, marker string, since uint64) ([]int, error)
	Signal(pid int, sig syscall.Signal) error
	SignalGroup(pgid int, sig syscall.Signal) error
}

// osRunner runs real processes: one reaper for children, one watcher for
// adopted processes, both reporting to onExit.
type osRunner struct {
	reaper  *proc.Reaper
	watcher *proc.Watcher
}

func newOSRunner(onExit func(proc.Exit)) osRunner {
	return osRunner{reaper: proc.NewReaper(onExit), watcher: proc.NewWatcher(onExit)}
}

func (r osRunner) Spawn(s proc.SpawnSpec) (int, error)        { return r.reaper.Spawn(s) }
func (r osRunner) Watch(pid int, same func() bool) error      { return r.watcher.Watch(pid, same) }
func (osRunner) Identify(pid int) (proc.Identity, error)      { return proc.Identify(pid) }
func (osRunner) Signal(pid int, sig syscall.Signal) error     { return proc.Signal(pid, sig) }
func (osRunner) SignalGroup(pg int, sig syscall.Signal) error { return proc.SignalGroup(pg, sig) }
func (osRunner) Tree(root int, marker string, since uint64) ([]int, error) {
	return proc.Tree(root, marker, since)
}
