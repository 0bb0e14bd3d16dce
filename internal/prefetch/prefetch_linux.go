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
	switch {
	case err == nil:
		sent.fd, sent.sock, sent.uri, sent.ok = fd, sock, uri, true
	case err == syscall.ENOENT || err == syscall.ECONNREFUSED:
		// No daemon: start it now, beside the rest of the initialisation,
		// rather than after it (see StartedDaemon).
		spawnDaemon(sock[:len(sock)-len("/tsm.sock")])
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
