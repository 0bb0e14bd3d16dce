package supervisor

import (
	"log/slog"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tetra/tsm/internal/proc"
)

// Runner is what the supervisor needs from the operating system to run,
// watch and end processes. osRunner is the real one; tests give the
// supervisor a fake so that its timers can run on a fake clock.
type Runner interface {
	// Spawn starts a run of the service called group; its exit is later
	// reported to the exit handler the Runner was made with. It returns the
	// cgroup the run was placed in, "" when there is none.
	Spawn(s proc.SpawnSpec, group string) (pid int, cgroup string, err error)
	// Watch reports the exit of a process that is not our child (adopted).
	// same tells whether pid is still the process meant; an error from it
	// means "cannot tell", never "gone".
	Watch(pid int, same func() (bool, error)) error
	Identify(pid int) (proc.Identity, error)
	// VerifyLegacy is proc.VerifyLegacy: the identity of pid if it started
	// at started and runs command; ErrNoProcess, ErrNotVerified, or cannot
	// tell.
	VerifyLegacy(pid int, started time.Time, command string) (proc.Identity, error)
	// Check is Identity.Check: alive, gone (false, nil), or cannot tell.
	Check(id proc.Identity) (bool, error)
	// Family lists the processes of a run besides its main process root
	// (alive or not): its tree, group, session, marker and cgroup members.
	Family(root int, marker string, since uint64, cgroup string) ([]proc.Member, error)
	// FindMarked finds, in one pass, the live processes carrying each of
	// the given environment entries.
	FindMarked(markers []string) (map[string][]proc.Member, error)
	// Children lists the daemon's own children; ok is false where that is
	// not cheap to know.
	Children() (pids []int, ok bool)
	// GroupExists reports whether any process is in process group pgid.
	GroupExists(pgid int) (bool, error)
	// Pgid returns the process group of pid.
	Pgid(pid int) (int, error)
	Signal(pid int, sig syscall.Signal) error
	// SignalIdentity is proc.SignalIdentity: sig to the very process id
	// names (false, nil: it is gone), never to a recycled PID.
	SignalIdentity(id proc.Identity, sig syscall.Signal) (bool, error)
	SignalGroup(pgid int, sig syscall.Signal) error
	// CgroupMembers lists the processes in a run's cgroup ("" → none).
	CgroupMembers(cgroup string) []int
	// CgroupPopulated reports whether anything lives in a run's cgroup
	// or below it; true when it cannot tell ("" → false).
	CgroupPopulated(cgroup string) bool
	// KillCgroup SIGKILLs everything in a run's cgroup.
	KillCgroup(cgroup string)
	// RemoveCgroup deletes a run's (empty) cgroup.
	RemoveCgroup(cgroup string)
}

// osRunner runs real processes: one reaper for children, one watcher for
// adopted processes, both reporting to onExit; each run in a cgroup of its
// own when cgroups is not nil.
type osRunner struct {
	reaper  *proc.Reaper
	watcher *proc.Watcher
	cgroups *proc.Cgroups
	scans   *proc.Scanner // shared by the ends of a batch
	log     *slog.Logger
}

func newOSRunner(onExit func(proc.Exit), cgroups *proc.Cgroups, log *slog.Logger) osRunner {
	return osRunner{reaper: proc.NewReaper(onExit), watcher: proc.NewWatcher(onExit), cgroups: cgroups, scans: &proc.Scanner{}, log: log}
}

func (r osRunner) Spawn(s proc.SpawnSpec, group string) (int, string, error) {
	fd, cgroup, err := r.cgroups.Prepare(group)
	if err != nil {
		r.log.Warn("starting without a cgroup", "service", group, "err", err)
	} else if cgroup != "" {
		defer unix.Close(fd)
		s.UseCgroup, s.CgroupFD = true, fd
	}
	pid, err := r.reaper.Spawn(s)
	if err != nil && s.UseCgroup {
		// A cgroup the kernel refuses must not stop the service from
		// starting: the process-table walk still finds its descendants.
		r.log.Warn("starting without a cgroup", "service", group, "err", err)
		s.UseCgroup, cgroup = false, ""
		pid, err = r.reaper.Spawn(s)
	}
	return pid, cgroup, err
}

// SpawnProbe runs a health check's command as the daemon's child, outside
// any run's cgroup; its exit is reported like a run's.
func (r osRunner) SpawnProbe(s proc.SpawnSpec) (int, error) { return r.reaper.Spawn(s) }

// TreeMemory sums the resident memory of the run: its main process and
// every family member (shared pages count once per process, as RSS does).
func (r osRunner) TreeMemory(id proc.Identity, marker, cgroup string) (uint64, int, error) {
	total, err := proc.RSS(id)
	if err != nil {
		return 0, 0, err
	}
	n := 1
	fam, err := r.Family(id.PID, marker, id.StartTime, cgroup)
	for _, m := range fam {
		if rss, err := proc.RSS(m.Identity); err == nil {
			total += rss
			n++
		}
	}
	return total, n, err
}

// LimitMemory sets memory.high and memory.max on the run's cgroup.
func (r osRunner) LimitMemory(cgroup string, limit int64) error {
	return r.cgroups.SetMemory(cgroup, limit)
}

func (r osRunner) Watch(pid int, same func() (bool, error)) error {
	return r.watcher.Watch(pid, same)
}
func (osRunner) Identify(pid int) (proc.Identity, error) { return proc.Identify(pid) }
func (osRunner) Check(id proc.Identity) (bool, error)    { return id.Check() }
func (osRunner) VerifyLegacy(pid int, started time.Time, command string) (proc.Identity, error) {
	return proc.VerifyLegacy(pid, started, command)
}
func (osRunner) Signal(pid int, sig syscall.Signal) error     { return proc.Signal(pid, sig) }
func (osRunner) SignalGroup(pg int, sig syscall.Signal) error { return proc.SignalGroup(pg, sig) }
func (osRunner) SignalIdentity(id proc.Identity, sig syscall.Signal) (bool, error) {
	return proc.SignalIdentity(id, sig)
}
func (osRunner) Children() ([]int, bool)            { return proc.Children() }
func (osRunner) GroupExists(pgid int) (bool, error) { return proc.GroupExists(pgid) }
func (osRunner) Pgid(pid int) (int, error)          { return unix.Getpgid(pid) }
func (osRunner) FindMarked(markers []string) (map[string][]proc.Member, error) {
	return proc.FindMarked(markers)
}

// Family is the run's cgroup where it has one: everything the run forks
// starts there and only privilege moves a process out (systemd's
// KillMode=control-group), and the kernel's member list costs one read
// however many processes the machine runs. Without a cgroup (none
// delegated, TSM_NO_CGROUPS=1, macOS), or when it cannot be read, it is the
// walk of the process table, one walk shared by every end of a batch.
func (r osRunner) Family(root int, marker string, since uint64, cgroup string) ([]proc.Member, error) {
	if cgroup != "" {
		if pids, err := r.cgroups.Members(cgroup); err == nil {
			fam := make([]proc.Member, 0, len(pids))
			for _, pid := range pids {
				if pid == root {
					continue
				}
				if id, err := proc.Identify(pid); err == nil {
					pg, _ := unix.Getpgid(pid)
					fam = append(fam, proc.Member{Identity: id, PGID: pg})
				}
			}
			return fam, nil
		}
	}
	t, err := r.scans.Table()
	if err != nil {
		return nil, err
	}
	return t.Family(root, marker, since)
}

func (r osRunner) CgroupMembers(cgroup string) []int {
	if cgroup == "" {
		return nil
	}
	pids, _ := r.cgroups.Members(cgroup)
	return pids
}

func (r osRunner) CgroupPopulated(cgroup string) bool {
	if cgroup == "" {
		return false
	}
	ok, err := r.cgroups.Populated(cgroup)
	return ok || err != nil
}

func (r osRunner) KillCgroup(cgroup string) {
	if cgroup == "" {
		return
	}
	if err := r.cgroups.Kill(cgroup); err != nil {
		r.log.Warn("cannot kill the cgroup", "cgroup", cgroup, "err", err)
	}
}

func (r osRunner) RemoveCgroup(cgroup string) {
	if cgroup != "" {
		r.cgroups.Remove(cgroup)
	}
}
