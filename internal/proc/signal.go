package proc

import (
	"errors"
	"fmt"
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

// GroupExists reports whether the process group pgid has any member left,
// with kill(-pgid, 0). EPERM means there is a member we may not signal, so
// the group exists; any error other than ESRCH or EPERM means the answer
// is unknown. Groups <= 1 are refused, as in SignalGroup.
func GroupExists(pgid int) (bool, error) {
	if pgid <= 1 {
		return false, errors.New("refusing to probe process group <= 1")
	}
	switch err := syscall.Kill(-pgid, 0); err {
	case nil, syscall.EPERM:
		return true, nil
	case syscall.ESRCH:
		return false, nil
	default:
		return false, fmt.Errorf("process group %d: %w", pgid, err)
	}
}

// SignalIdentity sends sig to the very process id names, never to another
// that has its PID now (see Identity). sent is false, with a nil error,
// when that process is gone; an error means the signal could not be sent
// or the identity not checked. PIDs <= 1 are refused, as in Signal.
func SignalIdentity(id Identity, sig syscall.Signal) (sent bool, err error) {
	if id.PID <= 1 {
		return false, errors.New("refusing to signal pid <= 1")
	}
	return signalIdentity(id, sig)
}

func checkThenKill(id Identity, sig syscall.Signal) (bool, error) {
	if ok, err := id.Check(); !ok || err != nil {
		return false, err
	}
	if err := syscall.Kill(id.PID, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func ignoreESRCH(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
