package proc

import (
	"fmt"
	"slices"
)

// Listener is a process holding a listening TCP socket, for messages such
// as "port 8000 is in use by PID 123 (python3 -m http.server 8000)".
type Listener struct {
	PID     int
	Command string // full command line, "" if unreadable
}

// Listeners returns the processes holding a listening TCP socket (IPv4 or
// IPv6) on port, sorted by PID. Several processes can share one socket
// (pre-forked workers), and all are returned. No listener visible to us
// gives an empty result and a nil error; another user's listener is
// invisible to a non-root caller, so an empty result does not prove that
// the port is free — only binding it does.
func Listeners(port int) ([]Listener, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("listeners: invalid port %d", port)
	}
	ls, err := listeners(port)
	if err != nil {
		return nil, fmt.Errorf("listeners on port %d: %w", port, err)
	}
	slices.SortFunc(ls, func(a, b Listener) int { return a.PID - b.PID })
	return ls, nil
}

// ListeningPorts returns the TCP ports pid listens on, sorted and without
// duplicates (a server listening on both IPv4 and IPv6 has the port once).
// The error wraps ErrNoProcess when pid does not exist.
func ListeningPorts(pid int) ([]int, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	ports, err := listeningPorts(pid)
	if err != nil {
		return nil, err
	}
	slices.Sort(ports)
	return slices.Compact(ports), nil
}
