// Package peer tells who is at the other end of a Unix socket, as the
// kernel reports it: the daemon checks its clients with it, and the client
// the daemon. It imports no tsm package.
package peer

import "net"

// UID returns the UID of the process at the other end of c, as the kernel
// recorded it at connect (SO_PEERCRED) or listen (LOCAL_PEERCRED) time; the
// peer cannot forge it.
func UID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid := -1
	var serr error
	err = raw.Control(func(fd uintptr) { uid, serr = socketPeerUID(int(fd)) })
	if err == nil {
		err = serr
	}
	return uid, err
}
