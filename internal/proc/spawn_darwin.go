package proc

import "syscall"

// sysProcAttr starts the service in a session of its own; macOS has no
// cgroups.
func sysProcAttr(SpawnSpec) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
