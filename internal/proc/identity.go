package proc

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrNoProcess means the PID does not exist, is a zombie, or now belongs to
// a different process than the one asked about. It is a definite answer:
// an error that does not wrap it (too many open files, permission denied,
// an unreadable boot ID) means "cannot tell", and the question is worth
// asking again later.
var ErrNoProcess = errors.New("no such process")

// Identity pins a PID to one incarnation of a process. A PID alone is not
// enough: PIDs are recycled, and after a reboot a PID file on disk may name
// an unrelated process that happens to have the same number.
type Identity struct {
	PID int `json:"pid"`
	// StartTime is opaque outside this package and only compared for
	// equality. Linux: field 22 of /proc/<pid>/stat (clock ticks since
	// boot). macOS: p_starttime in microseconds since the epoch.
	StartTime uint64 `json:"start_time_ticks"`
	// BootID is opaque and only compared for equality: on Linux StartTime
	// restarts from zero at every boot, so it means nothing without it.
	BootID string `json:"boot_id"`
}

// Identify returns the identity of the running process pid. The error wraps
// ErrNoProcess when pid does not exist or is a zombie, and only then: any
// other error means the process could not be looked at (see ErrNoProcess).
func Identify(pid int) (Identity, error) {
	if pid <= 0 {
		return Identity{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	return identify(pid)
}

// Alive reports whether the very process id was taken from is still running
// (zombies are not running: they only wait to be reaped). It is also false
// when the answer cannot be had, for instance while the daemon is out of
// file descriptors; new code should call Check, which tells the two apart.
func (id Identity) Alive() bool {
	alive, err := id.Check()
	return alive && err == nil
}

// Check reports whether the very process id was taken from is still
// running. alive is false with a nil error only on a definite answer: the
// PID does not exist, is a zombie, or belongs to a process with another
// start time or from another boot. Any other failure to look (EMFILE,
// ENFILE, EACCES, EIO, an unreadable boot ID) is returned as an error with
// alive false, and means "cannot tell": ask again later rather than treat
// the process as dead.
func (id Identity) Check() (alive bool, err error) {
	if id.PID <= 0 {
		return false, nil
	}
	cur, err := identify(id.PID)
	if errors.Is(err, ErrNoProcess) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return cur == id, nil
}

// notSame is the error for a PID that now belongs to another process.
func notSame(pid int) error {
	return fmt.Errorf("pid %d belongs to a different process now: %w", pid, ErrNoProcess)
}

// onceOK is sync.OnceValues for values that never change once read, except
// that a failure is not remembered: a read that failed for want of a file
// descriptor must not make every later identity check fail for the life of
// the daemon. Concurrent first calls may each run f.
func onceOK[T any](f func() (T, error)) func() (T, error) {
	var v atomic.Pointer[T]
	return func() (T, error) {
		if p := v.Load(); p != nil {
			return *p, nil
		}
		x, err := f()
		if err != nil {
			return x, err
		}
		v.Store(&x)
		return x, nil
	}
}
