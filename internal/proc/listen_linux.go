package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// tcpListenHex is TCP_LISTEN as /proc/net/tcp prints it.
const tcpListenHex = "0A"

func listeners(port int) ([]Listener, error) {
	inodes := make(map[uint64]bool)
	err := listenTable("", func(p int, inode uint64) {
		if p == port {
			inodes[inode] = true
		}
	})
	if err != nil {
		return nil, err
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	pids, err := allPIDs()
	if err != nil {
		return nil, err
	}
	var out []Listener
	var names []string
	for _, pid := range pids {
		found := false
		names, _ = socketInodes(pid, names, func(inode uint64) bool {
			found = inodes[inode]
			return !found
		})
		if found {
			out = append(out, Listener{PID: pid, Command: commandLine(pid)})
		}
	}
	return out, nil
}

func listeningPorts(pid int) ([]int, error) {
	mine := make(map[uint64]bool)
	if _, err := socketInodes(pid, nil, func(inode uint64) bool {
		mine[inode] = true
		return true
	}); err != nil {
		if gone(err) {
			return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return nil, fmt.Errorf("pid %d: open files: %w", pid, err)
	}
	if len(mine) == 0 {
		return nil, nil
	}
	var ports []int
	err := listenTable(procPath(pid, "net"), func(p int, inode uint64) {
		if mine[inode] {
			ports = append(ports, p)
		}
	})
	if gone(err) {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	return ports, err
}

// listenTable calls fn for every listening TCP socket. It asks the kernel
// through sock_diag netlink, which walks only the listening hash table.
// Reading /proc/net/tcp instead walks every bucket of the hash of
// established connections (sized by RAM: 262144 buckets with 24 GB) for
// each page of output: 1.5 ms per file on an idle machine, more with many
// connections. /proc remains the fallback where netlink is refused
// (seccomp, no inet_diag), and the source for a process in another network
// namespace, whose /proc/<pid>/net is passed as netDir ("" means ours).
func listenTable(netDir string, fn func(port int, inode uint64)) error {
	if netDir == "" || sameNetNS(netDir) {
		var found []listenSock
		if err := diagListening(&found); err == nil {
			for _, s := range found {
				fn(s.port, s.inode)
			}
			return nil
		}
	}
	if netDir == "" {
		netDir = "/proc/net"
	}
	return scanListening(netDir, fn)
}

// sameNetNS reports whether /proc/<pid>/net (netDir) is our network
// namespace. When we may not look (another user's process), it assumes so.
func sameNetNS(netDir string) bool {
	var theirs, ours unix.Stat_t
	nsPath := netDir[:len(netDir)-len("net")] + "ns/net"
	if unix.Stat(nsPath, &theirs) != nil || unix.Stat("/proc/self/ns/net", &ours) != nil {
		return true
	}
	return theirs.Ino == ours.Ino && theirs.Dev == ours.Dev
}

type listenSock struct {
	port  int
	inode uint64
}

// diagListening dumps the listening TCP sockets of both address families
// with NETLINK_SOCK_DIAG (see linux/inet_diag.h), all or nothing.
func diagListening(out *[]listenSock) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 32<<10)
	for i, family := range []byte{unix.AF_INET, unix.AF_INET6} {
		if err := diagDump(fd, buf, uint32(i+1), family, out); err != nil {
			return err
		}
	}
	return nil
}

const (
	sizeofInetDiagReqV2 = 56 // struct inet_diag_req_v2
	sizeofInetDiagMsg   = 72 // struct inet_diag_msg
	tcpListenState      = 10 // TCP_LISTEN in the kernel's enum
)

func diagDump(fd int, buf []byte, seq uint32, family byte, out *[]listenSock) error {
	ne := binary.NativeEndian
	req := make([]byte, unix.SizeofNlMsghdr+sizeofInetDiagReqV2)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	r := req[unix.SizeofNlMsghdr:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 1<<tcpListenState) // the kernel then skips established sockets
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(ne.Uint32(b[0:]))
			typ := ne.Uint16(b[4:])
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return errors.New("sock_diag: truncated message")
			}
			if ne.Uint32(b[8:]) == seq {
				data := b[unix.SizeofNlMsghdr:l]
				switch typ {
				case unix.NLMSG_DONE:
					return nil
				case unix.NLMSG_ERROR:
					if len(data) >= 4 {
						if errno := int32(ne.Uint32(data)); errno < 0 {
							return unix.Errno(-errno)
						}
					}
					return errors.New("sock_diag: error")
				case unix.SOCK_DIAG_BY_FAMILY:
					if len(data) >= sizeofInetDiagMsg && data[1] == tcpListenState {
						*out = append(*out, listenSock{
							port:  int(binary.BigEndian.Uint16(data[4:])),
							inode: uint64(ne.Uint32(data[68:])),
						})
					}
				}
			}
			b = b[min(len(b), (l+3)&^3):]
		}
	}
}

// socketInodes calls fn with the inode of every socket pid has open until
// fn returns false. It walks /proc/<pid>/fd relative to the directory's own
// descriptor so each readlink resolves one component, not a whole path.
// names is scratch space returned for reuse.
func socketInodes(pid int, names []string, fn func(inode uint64) bool) ([]string, error) {
	dir, err := unix.Open(procPath(pid, "fd"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return names, err // gone, or another user's process
	}
	defer unix.Close(dir)
	names, err = readDirNames(dir, names[:0])
	if err != nil {
		return names, err
	}
	var link [64]byte
	for _, name := range names {
		n, err := unix.Readlinkat(dir, name, link[:])
		if err != nil {
			continue // closed since the listing
		}
		target := link[:n]
		const prefix = "socket:["
		if len(target) < len(prefix)+2 || string(target[:len(prefix)]) != prefix || target[n-1] != ']' {
			continue
		}
		if inode, ok := atou(target[len(prefix) : n-1]); ok && !fn(inode) {
			break
		}
	}
	return names, nil
}

func readDirNames(dir int, names []string) ([]string, error) {
	var buf [8192]byte
	for {
		n, err := unix.Getdents(dir, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return names, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// scanListening calls fn for every listening socket in dir/tcp and
// dir/tcp6. Either file may be missing (IPv6 disabled); both missing is an
// error, since then nothing could be checked.
func scanListening(dir string, fn func(port int, inode uint64)) error {
	var errs []error
	buf := make([]byte, 0, 16<<10)
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := readProcFile(dir+"/"+name, buf)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		parseTCPTable(b, fn)
		buf = b
	}
	if len(errs) == 2 {
		return fmt.Errorf("read %s/tcp: %w", dir, errors.Join(errs...))
	}
	return nil
}

// parseTCPTable reads the format of /proc/net/tcp and tcp6:
//
//	sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 ...
//
// Addresses are hex with the port after the last ':'.
func parseTCPTable(b []byte, fn func(port int, inode uint64)) {
	parseSockTable(b, tcpListenHex, fn)
}

// parseSockTable reads /proc/net/{tcp,tcp6,udp,udp6}, calling fn for the
// sockets in state (hex, as the file prints it).
func parseSockTable(b []byte, state string, fn func(port int, inode uint64)) {
	_, b, _ = bytes.Cut(b, []byte{'\n'}) // header
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		var local, inode []byte
		listening := false
		for k := 0; k <= 9; k++ {
			var tok []byte
			tok, line = nextField(line)
			if tok == nil {
				break
			}
			switch k {
			case 1:
				local = tok
			case 3:
				listening = string(tok) == state
			case 9:
				inode = tok
			}
			if k == 3 && !listening {
				break
			}
		}
		if !listening || inode == nil {
			continue
		}
		i := bytes.LastIndexByte(local, ':')
		if i < 0 {
			continue
		}
		port, err := strconv.ParseUint(string(local[i+1:]), 16, 16)
		if err != nil {
			continue
		}
		if n, ok := atou(inode); ok && n != 0 {
			fn(int(port), n)
		}
	}
}

func nextField(b []byte) (field, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	if len(b) == 0 {
		return nil, nil
	}
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i:]
}

// commandLine reads /proc/<pid>/cmdline, whose arguments end in NULs.
// Programs that rewrite their title (nginx, postgres) may leave one
// space-separated string padded with NULs instead; both read well once the
// trailing NULs go.
func commandLine(pid int) string {
	b, err := readProcFile(procPath(pid, "cmdline"), nil)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\x00")
	for i, c := range b {
		if c == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

// portTTL bounds how long a process's listening sockets are taken from
// the cache while no new listening socket appears (see PortCache): past it
// they are served once more and its descriptors walked again in the
// background.
const portTTL = 5 * time.Second

type portCache struct {
	known map[uint64]bool // the listening sockets of the previous call
	procs map[int]portEntry
	names []string // scratch for socketInodes
}

// portEntry is what one walk of a process's descriptors found.
type portEntry struct {
	id      Identity
	walked  time.Time
	inodes  []uint64 // the listening sockets it held
	foreign bool     // in another network namespace: read per call
}

func newPortCache() portCache {
	return portCache{known: map[uint64]bool{}, procs: map[int]portEntry{}}
}

// ports returns the listening ports of each of ids, and the processes
// whose entries are past portTTL (served from the cache, to be walked again
// by rewalk).
func (c *portCache) ports(ids []Identity, now time.Time) (out [][]int, stale []Identity) {
	out = make([][]int, len(ids))
	listening := make(map[uint64]int)
	var found []listenSock
	if err := diagListening(&found); err != nil {
		// No netlink here: each process reads its own table, uncached.
		for i, id := range ids {
			out[i], _ = listeningPorts(id.PID)
		}
		return out, nil
	}
	fresh := true
	for _, s := range found {
		listening[s.inode] = s.port
		fresh = fresh && c.known[s.inode]
	}
	for i, id := range ids {
		e, ok := c.procs[id.PID]
		switch {
		case !ok || e.id != id || !fresh:
			e = c.walk(id, listening, now)
			c.procs[id.PID] = e
		case now.Sub(e.walked) > portTTL:
			stale = append(stale, id)
		}
		if e.foreign {
			out[i], _ = listeningPorts(id.PID)
			continue
		}
		for _, inode := range e.inodes {
			if port, ok := listening[inode]; ok {
				out[i] = append(out[i], port)
			}
		}
	}
	c.known = make(map[uint64]bool, len(listening))
	for inode := range listening {
		c.known[inode] = true
	}
	// Forget processes nobody asked about for a while (gone, most likely).
	for pid, e := range c.procs {
		if now.Sub(e.walked) > 4*portTTL {
			delete(c.procs, pid)
		}
	}
	return out, stale
}

// rewalk walks the descriptors of ids again (ports found them stale) and
// keeps what it finds for the processes still cached as the same.
func (c *portCache) rewalk(ids []Identity, now time.Time) {
	var found []listenSock
	if diagListening(&found) != nil {
		return
	}
	listening := make(map[uint64]int, len(found))
	for _, s := range found {
		listening[s.inode] = s.port
	}
	for _, id := range ids {
		if e, ok := c.procs[id.PID]; ok && e.id == id {
			c.procs[id.PID] = c.walk(id, listening, now)
		}
	}
}

// walk finds which of the listening sockets the process holds.
func (c *portCache) walk(id Identity, listening map[uint64]int, now time.Time) portEntry {
	e := portEntry{id: id, walked: now}
	if !sameNetNS(procPath(id.PID, "net")) {
		e.foreign = true
		return e
	}
	c.names, _ = socketInodes(id.PID, c.names, func(inode uint64) bool {
		if _, ok := listening[inode]; ok {
			e.inodes = append(e.inodes, inode)
		}
		return true
	})
	return e
}
