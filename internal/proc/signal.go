package proc

import (
	"errors"
	"syscall"
)

// SignalGroup sends sig to every process in the process group pgid. A group
// that no longer exists is not an error.
func SignalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return errors.New("refusing to signal process group <= 1")
	}
	return ignoreESRCH(syscall.Kill(-pgid, sig))
}

// Signal sends sig to one process. A process that no longer exists is not
// an error.
func Signal(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		return errors.New("refusing to signal pid <= 1")
	}
	return ignoreESRCH(syscall.Kill(pid, sig))
}

func ignoreESRCH(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
