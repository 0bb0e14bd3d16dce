package proc

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalIdentity pins the process with a pidfd before it checks who has
// the PID: a pidfd names one process, not a number, so a PID recycled
// between the check and the signal gets nothing (the signal answers ESRCH
// for a process that is gone). Kernels without pidfds (before 5.1/5.3, or
// a seccomp filter that hides them) fall back to check-then-kill.
func signalIdentity(id Identity, sig syscall.Signal) (bool, error) {
	fd, err := unix.PidfdOpen(id.PID, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
		return checkThenKill(id, sig)
	}
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	// The pidfd was opened for whoever had the PID then. If the process
	// with the PID now is id's, it had it then too (a PID has one live
	// process at a time, and id's started before the open).
	if ok, err := id.Check(); !ok || err != nil {
		return false, err
	}
	err = unix.PidfdSendSignal(fd, sig, nil, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return false, nil
	case errors.Is(err, unix.ENOSYS):
		return checkThenKill(id, sig)
	case err != nil:
		return false, err
	}
	return true, nil
}
