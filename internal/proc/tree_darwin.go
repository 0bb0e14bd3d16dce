package proc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// tree on macOS has no environment rule. The only way to read another
// process's environment is kern.procargs2, one sysctl per process that
// copies its whole argument area (up to ARG_MAX); it only works for our own
// processes, the kernel truncates it at argv for hardened (cs_restricted)
// binaries, and the environment cannot be told apart from the "apple"
// strings that follow it by position alone. A grandchild that double-forks,
// calls setsid and leaves both our tree and our session is therefore missed
// here; macOS has no subreaper to keep it attached either.
func tree(root int, _ string, _ uint64) ([]int, error) {
	procs, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	f := newFamily(len(procs))
	for i := range procs {
		f.link(int(procs[i].Proc.P_pid), int(procs[i].Eproc.Ppid))
	}
	f.descendantsOf(root)
	for i := range procs {
		pid := int(procs[i].Proc.P_pid)
		if int(procs[i].Eproc.Pgid) == root {
			f.addWithDescendants(pid)
			continue
		}
		// kinfo_proc carries no session ID. A process that moved to its
		// own process group (setpgid, shell job control) is still in the
		// service's session; getsid is one cheap system call, and failure
		// only means the process is gone.
		if sid, err := unix.Getsid(pid); err == nil && sid == root {
			f.addWithDescendants(pid)
		}
	}
	return f.result(root), nil
}
