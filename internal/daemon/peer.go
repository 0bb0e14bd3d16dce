package daemon

import "net"

// peerUID returns the UID of the process at the other end of c, as the
// kernel reports it (it cannot be forged by the peer).
func peerUID(c *net.UnixConn) (int, error) {
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
