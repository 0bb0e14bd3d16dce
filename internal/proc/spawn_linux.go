package proc

import "syscall"

// sysProcAttr starts the service in a session of its own and, when asked,
// inside its cgroup from the first instruction.
func sysProcAttr(s SpawnSpec) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setsid: true}
	if s.UseCgroup {
		a.UseCgroupFD, a.CgroupFD = true, s.CgroupFD
	}
	return a
}
