package supervisor

import (
	"fmt"

	"github.com/tetra/tsm/internal/store"
)

// State is where a managed process is in its lifecycle. It is the one
// source of every status word, list column and decision about a process:
// nothing else (no flag, no channel) says whether it runs. It is written to
// meta.json as its String, so a new daemon resumes from it.
type State int

const (
	// Stopped: no run, because a user stopped it (or it was never run).
	Stopped State = iota
	// Starting: a run is about to be spawned (pid 0 on disk: the intent
	// record) or was spawned and is not ready yet.
	Starting
	// Online: the run is up.
	Online
	// Unhealthy: the run is up but failed its last health check(s);
	// after the process's --health-retries failures in a row it is
	// restarted.
	Unhealthy
	// Stopping: the run, or what its main process left behind, is being
	// ended; meta.json's pending field says what for.
	Stopping
	// BackingOff: the run ended by itself and an automatic restart is due at
	// meta.json's next_restart.
	BackingOff
	// Exited: the run ended by itself with success and its policy does not
	// restart it.
	Exited
	// Crashed: the run failed (non-zero exit, a signal tsm did not send, a
	// failed start) and its policy does not restart it.
	Crashed
	// Errored: tsm gave up: too many unstable restarts in a row, or a
	// restart that could not spawn. Nothing is spawned until `tsm restart`.
	Errored
	// Deleted is terminal: the entry is gone, its name and ID are free,
	// and nothing writes its directory again.
	Deleted
)

var stateNames = [...]string{
	Stopped: "stopped", Starting: "starting", Online: "online", Unhealthy: "unhealthy", Stopping: "stopping",
	BackingOff: "backoff", Exited: "exited", Crashed: "crashed", Errored: "errored", Deleted: "deleted",
}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// ParseState reads a State written by String.
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return 0, false
}

// moves is the transition table: every legal move, and only those.
var moves = map[State][]State{
	// A start, or a stop/delete that sweeps up what a recovered record
	// says may still run.
	Stopped:  {Starting, Stopping, Errored, Deleted},
	Starting: {Online, Stopping, BackingOff, Exited, Crashed, Errored, Starting, Deleted},
	Online:   {Unhealthy, Stopping, Starting, BackingOff, Exited, Crashed, Errored},
	// Like online; a passing check makes it online again.
	Unhealthy: {Online, Stopping, Starting, BackingOff, Exited, Crashed, Errored},
	// Where a stop leads depends on what it was for (meta.json pending).
	Stopping:   {Stopped, Deleted, Starting, BackingOff, Exited, Crashed, Errored},
	BackingOff: {Starting, Stopping, Stopped, Deleted},
	Exited:     {Starting, Stopping, Stopped, Errored, Deleted},
	Crashed:    {Starting, Stopping, Stopped, Errored, Deleted},
	Errored:    {Starting, Stopping, Stopped, Deleted},
	Deleted:    nil,
}

// canMove reports whether from → to is in the transition table.
func canMove(from, to State) bool {
	for _, s := range moves[from] {
		if s == to {
			return true
		}
	}
	return false
}

// IllegalMoveError is a transition the table does not allow: a bug, which
// the supervisor reports instead of overwriting the state.
type IllegalMoveError struct {
	Name     string
	From, To State
}

func (e *IllegalMoveError) Error() string {
	return fmt.Sprintf("%s: illegal lifecycle move %s → %s", e.Name, e.From, e.To)
}

// active reports whether the entry holds its name and port: a run exists,
// is being made or ended, or an automatic restart is due.
func (s State) active() bool {
	return s == Starting || s.up() || s == Stopping || s == BackingOff
}

// up reports whether the run is ready: online, or unhealthy (up, but
// failing its health check).
func (s State) up() bool { return s == Online || s == Unhealthy }

// status is the seed's word for meta.json's status field, which the bash
// TSM and its readers understand: online while a main process runs,
// crashed or errored after a failure, stopped otherwise.
func (s State) status(pid int) string {
	switch s {
	case Starting, Online, Unhealthy, Stopping:
		if pid > 0 {
			return store.StatusOnline
		}
		return store.StatusStopped
	case BackingOff, Crashed:
		return store.StatusCrashed
	case Errored:
		return store.StatusErrored
	}
	return store.StatusStopped
}

// stateOf reads the state a meta.json records. Records written before
// meta.json had a state field (or by the bash TSM) have only status.
func stateOf(m store.Meta) State {
	if s, ok := ParseState(m.State); ok && s != Deleted {
		return s
	}
	switch m.Status {
	case store.StatusOnline:
		return Online
	case store.StatusCrashed:
		if m.NextRestart != 0 {
			return BackingOff
		}
		return Crashed
	case store.StatusErrored:
		return Errored
	}
	return Stopped
}
