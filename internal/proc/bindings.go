package proc

import (
	"cmp"
	"fmt"
	"slices"
)

// Binding is a socket a process holds open for others to reach: a
// listening TCP socket, or a bound UDP socket (UDP has no listen state;
// this includes a client's unconnected socket, as `ss -lu` does).
type Binding struct {
	PID   int
	Proto string // "tcp" or "udp"
	Port  int
}

// Bindings returns the bindings of the processes pids (every process we
// may look at when pids is nil), only those on port when port > 0, sorted
// by PID, protocol and port, without the duplicate a dual-stack socket
// pair makes. Another user's process is invisible to a non-root caller.
// Sockets of a process in another network namespace are not seen.
func Bindings(pids []int, port int) ([]Binding, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("bindings: invalid port %d", port)
	}
	bs, err := bindings(pids, port)
	if err != nil {
		return nil, fmt.Errorf("listening sockets: %w", err)
	}
	slices.SortFunc(bs, func(a, b Binding) int {
		return cmp.Or(cmp.Compare(a.PID, b.PID), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	return slices.Compact(bs), nil
}

// CommandLine returns the full command line of pid, "" when it cannot be
// read (gone, or another user's on macOS).
func CommandLine(pid int) string { return commandLine(pid) }
