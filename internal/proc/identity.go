package proc

import (
	"errors"
	"fmt"
)

// ErrNoProcess means the PID does not exist, is a zombie, or now belongs to
// a different process than the one asked about.
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
// ErrNoProcess when pid does not exist or is a zombie.
func Identify(pid int) (Identity, error) {
	if pid <= 0 {
		return Identity{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	return identify(pid)
}

// Alive reports whether the very process id was taken from is still running
// (zombies are not running: they only wait to be reaped).
func (id Identity) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	cur, err := identify(id.PID)
	return err == nil && cur == id
}

// notSame is the error for a PID that now belongs to another process.
func notSame(pid int) error {
	return fmt.Errorf("pid %d belongs to a different process now: %w", pid, ErrNoProcess)
}
