package proc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ScanTable reads the process table once (kern.proc.all). On macOS
// Family has no environment rule. The only way to read another
// process's environment is kern.procargs2, one sysctl per process that
// copies its whole argument area (up to ARG_MAX); it only works for our own
// processes, the kernel truncates it at argv for hardened (cs_restricted)
// binaries, and the environment cannot be told apart from the "apple"
// strings that follow it by position alone. A grandchild that double-forks,
// calls setsid and leaves both our tree and our session is therefore missed
// here; macOS has no subreaper to keep it attached either.
func ScanTable() (*Table, error) {
	procs, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	boot, err := bootID()
	if err != nil {
		return nil, err
	}
	t := newTable(len(procs))
	for i := range procs {
		k := &procs[i]
		pid := int(k.Proc.P_pid)
		if pid <= 0 {
			continue // kernel_task; getsid(0) would answer for us
		}
		// kinfo_proc carries no session ID. A process that moved to its
		// own process group (setpgid, shell job control) is still in the
		// service's session; getsid is one cheap system call, and failure
		// only means the process is gone.
		sid, err := unix.Getsid(pid)
		if err != nil {
			sid = 0
		}
		t.add(procEntry{Member: Member{
			Identity: Identity{PID: pid, StartTime: kinfoStart(k), BootID: boot},
			PGID:     int(k.Eproc.Pgid), SID: sid, PPID: int(k.Eproc.Ppid),
		}})
	}
	return t, nil
}

// marked finds nothing on macOS: see ScanTable.
func (t *Table) marked(*walk, int, string, uint64) error { return nil }

// MarkersVisible: FindMarked finds nothing on macOS.
const MarkersVisible = false

// findMarked finds nothing: see family for why macOS environments are out
// of reach.
func findMarked(map[string]bool) (map[string][]Member, error) {
	return map[string][]Member{}, nil
}
