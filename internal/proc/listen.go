package proc

import (
	"fmt"
	"slices"
	"sync"
	"time"
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

// PortCache answers ListeningPorts for many processes at once, for `tsm
// list`: on Linux one dump of the listening sockets per call instead of one
// per process, and each process's descriptors are walked again only when a
// listening socket appeared since the last walk (a socket it opened shows
// up as new), when the process is new, or after portTTL (then in the
// background, after backgroundDelay: that call is answered from the cache,
// and a list every few seconds no longer walks 100 processes' descriptors
// while it waits). What the cache can
// miss for up to portTTL: a listening socket passed between processes
// (SCM_RIGHTS), or a shared one that the process closed while another still
// holds it. It is safe for concurrent use.
type PortCache struct {
	mu        sync.Mutex
	c         portCache // guarded by mu
	rewalking bool      // a background walk of stale entries is due; guarded by mu
}

// NewPortCache returns an empty cache.
func NewPortCache() *PortCache { return &PortCache{c: newPortCache()} }

// Ports returns, for each process of ids in order, the TCP ports it
// listens on, sorted and without duplicates; nil for a process that has
// none or that could not be read (gone, another user's). The identities are
// not verified: the caller has just done so.
func (p *PortCache) Ports(ids []Identity) [][]int {
	p.mu.Lock()
	out, stale := p.c.ports(ids, time.Now())
	if len(stale) > 0 && !p.rewalking {
		p.rewalking = true
		time.AfterFunc(backgroundDelay, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.c.rewalk(stale, time.Now())
			p.rewalking = false
		})
	}
	p.mu.Unlock()
	for i, ports := range out {
		slices.Sort(ports)
		out[i] = slices.Compact(ports)
	}
	return out
}
