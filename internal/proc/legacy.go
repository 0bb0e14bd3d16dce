package proc

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotVerified means a live process does not pass the check of a record
// that carries no start time of its own (one the bash TSM wrote): its start
// time or its command line disagree with the record. It is a stranger
// until proved otherwise, and tsm must not signal it.
var ErrNotVerified = errors.New("not verified as the recorded process")

// LegacyTolerance is how far a process's start time may be from the
// start_time of a record without one of tsm's identities: the bash TSM took
// its timestamp (whole seconds) around the fork, not at it.
const LegacyTolerance = 5 * time.Second

// VerifyLegacy checks that pid is the process a record without an identity
// describes: it started within LegacyTolerance of started, and its command
// line is command (see sameCommand). It returns the process's identity,
// from which on it is watched like any other. The error wraps ErrNoProcess
// when pid is gone, ErrNotVerified when it is another process, and neither
// when it could not be looked at (cannot tell).
func VerifyLegacy(pid int, started time.Time, command string) (Identity, error) {
	id, err := Identify(pid)
	if err != nil {
		return Identity{}, err
	}
	at, err := startedAt(id)
	if err != nil {
		return Identity{}, err
	}
	if d := at.Sub(started).Abs(); d > LegacyTolerance {
		return Identity{}, fmt.Errorf("pid %d started at %s, %s from the recorded %s: %w",
			pid, at.Format(time.DateTime), d.Round(time.Second), started.Format(time.DateTime), ErrNotVerified)
	}
	cmd := commandLine(pid)
	if cmd == "" {
		// Unreadable (another user's process on macOS) is not a match.
		return Identity{}, fmt.Errorf("pid %d: its command line cannot be read: %w", pid, ErrNotVerified)
	}
	if !sameCommand(cmd, command) {
		return Identity{}, fmt.Errorf("pid %d runs %q, not the recorded %q: %w", pid, clip(cmd), clip(command), ErrNotVerified)
	}
	// The process may have exited and its PID been reused between the
	// reads: the identity must still be the one checked.
	if alive, err := id.Check(); err != nil || !alive {
		if err == nil {
			err = notSame(pid)
		}
		return Identity{}, err
	}
	return id, nil
}

// sameCommand reports whether a process command line (arguments joined by
// spaces) runs recorded, a command as the bash TSM recorded it: the same
// words, the first compared by base name (a PATH lookup may or may not
// show), or those words after a shell's -c (setsid bash -c "command", how
// the bash TSM launched).
func sameCommand(cmdline, recorded string) bool {
	have, want := strings.Fields(cmdline), strings.Fields(recorded)
	if len(want) == 0 || len(have) < len(want) {
		return false
	}
	tail := have[len(have)-len(want):]
	if len(have) > len(want) && have[len(have)-len(want)-1] != "-c" {
		return false
	}
	if filepath.Base(tail[0]) != filepath.Base(want[0]) {
		return false
	}
	for i := 1; i < len(want); i++ {
		if tail[i] != want[i] {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
