package proc

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
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

// isChild reports whether pid is still a child of ours, exited or not: it
// is not once it has been reaped. A failure other than ECHILD counts as a
// child, which the reaper will report in due course.
func isChild(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err != unix.ECHILD
}

// BecomeSubreaper makes descendants that lose their parent (a double fork, a
// setsid grandchild whose parent exited) re-parent to the calling process
// instead of init, so they stay visible and reapable.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// children reads /proc/self/task/<tid>/children of every thread: each lists
// the children that thread forked, and an orphan is re-parented to
// whichever thread the kernel picks. The main thread, which never exits
// in Go, tells a kernel without the file from a thread that just exited.
func children() ([]int, bool) {
	self := os.Getpid()
	main := strconv.Itoa(self)
	d, err := os.Open(procPath(self, "task"))
	if err != nil {
		return nil, false
	}
	tids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, false
	}
	var pids []int
	var buf []byte
	for _, tid := range tids {
		b, err := readProcFile(procPath(self, "task/"+tid+"/children"), buf)
		if gone(err) && tid != main {
			continue // the thread exited; its children moved to another
		}
		if err != nil {
			return nil, false
		}
		buf = b
		for _, f := range bytes.Fields(b) {
			if pid, ok := atoi(f); ok && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	slices.Sort(pids)
	pids = slices.Compact(pids)
	return slices.DeleteFunc(pids, func(pid int) bool {
		st, err := readStat(pid, buf[:0])
		// A child whose state cannot be read is kept: it is there.
		return errors.Is(err, ErrNoProcess) || err == nil && st.dead()
	}), true
}
