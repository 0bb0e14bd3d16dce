package proc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reapAll waits for any child: services, and orphans re-parented to the
// subreaper daemon, whose statuses nobody else would collect.
func (r *Reaper) reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.report(pid, ws)
	}
}

// BecomeSubreaper makes descendants that lose their parent (a double fork, a
// setsid grandchild whose parent exited) re-parent to the calling process
// instead of init, so they stay visible and reapable.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
