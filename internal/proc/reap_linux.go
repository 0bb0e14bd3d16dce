package proc

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// loop waits for any child: services, and orphans re-parented to the
// subreaper daemon, whose statuses nobody else would collect. While there
// are children it blocks in wait4 itself, so the kernel wakes it directly
// when one exits (no signal hand-off on the way to a restart); with none
// it waits for a spawn or a SIGCHLD (an orphan arriving and exiting).
func (r *Reaper) loop() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case err == syscall.EINTR:
		case err == syscall.ECHILD:
			select {
			case <-r.sigs:
			case <-r.kick:
			}
		case err != nil:
			// Not expected from wait4(-1); do not spin on it.
			time.Sleep(100 * time.Millisecond)
		default:
			r.report(pid, ws)
		}
	}
}

// BecomeSubreaper makes descendants that lose their parent (a double fork, a
// setsid grandchild whose parent exited) re-parent to the calling process
// instead of init, so they stay visible and reapable.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
