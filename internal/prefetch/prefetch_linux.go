package prefetch

import (
	"syscall"
	"unsafe"
)

func init() {
	args, ok := cmdline()
	if !ok || len(args) < 2 {
		return
	}
	l, ok := ParseList(args[1:])
	if !ok {
		return
	}
	sock, ok := socketPath(syscall.Getenv)
	if !ok {
		return
	}
	noColor, _ := syscall.Getenv("NO_COLOR")
	uri := RequestURI(l, noColor == "" && isTerminal(1))
	fd, err := send(sock, uri)
	// No daemon: start it now, and once it listens ask it. Anything else —
	// no word from it within a second, a failure, a lost race for the
	// lock — is the client's (see StartedDaemon).
	if (err == syscall.ENOENT || err == syscall.ECONNREFUSED) &&
		spawnDaemon(sock[:len(sock)-len("/tsm.sock")]) && listens(started.Ready) {
		started.ok = false
		syscall.Close(started.Ready)
		fd, err = send(sock, uri)
	}
	if err == nil && printAnswer(fd) {
		sent.fd, sent.sock, sent.uri, sent.ok = fd, sock, uri, true
	}
}

// listens waits up to a second for the daemon just started to say on its
// readiness pipe (non-blocking) that it listens: one byte. Its end without
// one (it failed, or lost the race for the lock) and the wait's end are
// false, with nothing read, for the client to find.
func listens(ready int) bool {
	if !await(ready, pollIn, 1000) {
		return false
	}
	var b [1]byte
	for {
		n, err := syscall.Read(ready, b[:])
		if err != syscall.EINTR {
			return n == 1
		}
	}
}

// send connects to sock without blocking (a daemon whose backlog is full
// is left to the client, which has time limits) and writes a GET of uri,
// if the socket's process runs as this user.
// The error is connect's, or EPERM for any other failure.
func send(sock, uri string) (int, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, syscall.EPERM
	}
	req := "GET " + uri + " HTTP/1.1\r\nHost: tsm\r\nConnection: close\r\n\r\n"
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if !ownUser(fd) {
		syscall.Close(fd)
		return -1, syscall.EPERM
	}
	if n, err := syscall.Write(fd, []byte(req)); err != nil || n != len(req) {
		syscall.Close(fd)
		return -1, syscall.EPERM
	}
	return fd, nil
}

// ownUser reports whether the process listening at the other end of fd
// runs as this process's effective user: requests must never reach
// another user's daemon.
func ownUser(fd int) bool {
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	return err == nil && int(cred.Uid) == syscall.Geteuid()
}

// cmdline returns this process's arguments. More than 512 bytes of them is
// not a plain list: false, as when /proc is not there.
func cmdline() ([]string, bool) {
	fd, err := syscall.Open("/proc/self/cmdline", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer syscall.Close(fd)
	var buf [512]byte
	n, err := syscall.Read(fd, buf[:])
	if err != nil || n <= 0 || n == len(buf) {
		return nil, false
	}
	var args []string
	start := 0
	for i := 0; i < n; i++ {
		if buf[i] == 0 {
			args = append(args, string(buf[start:i]))
			start = i + 1
		}
	}
	return args, true
}

// isTerminal reports whether fd is a terminal, as golang.org/x/term does.
func isTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// printAnswer reads the daemon's answer on fd and, when it is printable
// (parseAnswer), prints it and exits 0. Otherwise it returns true when
// nothing came within a second — the client takes the connection and waits
// on, with its own checks of a daemon that hangs — and false when it closed
// fd: an answer the CLI asks for again and handles itself, a connection
// that ended early, or a failed write to stdout.
func printAnswer(fd int) (handOver bool) {
	buf := make([]byte, 0, 32<<10)
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= maxAnswer {
				syscall.Close(fd)
				return false
			}
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case n > 0:
			buf = buf[:len(buf)+n]
			a, v := parseAnswer(buf)
			if v == printable && printOut(a) {
				syscall.Exit(0)
			}
			if v != incomplete {
				syscall.Close(fd)
				return false
			}
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if !await(fd, pollIn, 1000) {
				if len(buf) == 0 {
					return true
				}
				syscall.Close(fd)
				return false
			}
		default: // the end, or an error, before the whole answer
			syscall.Close(fd)
			return false
		}
	}
}

// printOut writes a's problems to stderr as the CLI warns of them (and
// keeps those written for Warned), then its body to stdout, and reports
// whether both took all of it. A failed warning is left to the CLI too:
// into a closed pipe it ends the CLI by SIGPIPE before the listing.
func printOut(a answer) bool {
	for i, p := range a.problems {
		if !writeAll(2, []byte("tsm: warning: "+p+"\n")) {
			warned = a.problems[:i]
			return false
		}
	}
	warned = a.problems
	return writeAll(1, a.body)
}

// writeAll writes b to fd, waiting where fd is a non-blocking pipe that is
// full, and reports whether all of it was written.
func writeAll(fd int, b []byte) bool {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		switch {
		case n > 0:
			b = b[n:]
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			await(fd, pollOut, -1)
		default:
			return false
		}
	}
	return true
}

// maxAnswer bounds the answer the init reads, in bytes: a listing of
// thousands of processes is a few MB; more is left to the client.
const maxAnswer = 64 << 20

const (
	pollIn  = 0x1 // POLLIN
	pollOut = 0x4 // POLLOUT
)

// await waits until fd is ready for events or ms milliseconds have passed
// (-1: no limit), and reports whether it is ready (or in error, which the
// next read or write returns).
func await(fd int, events int16, ms int) bool {
	pfd := struct {
		fd             int32
		events, revent int16
	}{int32(fd), events, 0}
	var ts *syscall.Timespec
	if ms >= 0 {
		t := syscall.NsecToTimespec(int64(ms) * 1e6)
		ts = &t
	}
	for {
		n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
		if errno != syscall.EINTR {
			return errno == 0 && n > 0
		}
	}
}
