package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// outputGone returns a channel that is closed when nobody reads f any
// more: the read end of a pipe closed (`tsm logs -f x | head -1` once head
// has its line), or a socket or terminal hung up. A follow whose processes
// print nothing more would otherwise never learn it (only a write fails),
// and wait for good. stop ends the watch; nil when f cannot be watched.
func outputGone(f *os.File) (gone <-chan struct{}, stop func()) {
	sc, err := f.SyscallConn() // its fd without making it blocking (Fd would)
	if err != nil {
		return nil, func() {}
	}
	out := -1
	if sc.Control(func(fd uintptr) { out = int(fd) }) != nil || out < 0 {
		return nil, func() {}
	}
	// The watch sleeps in poll(2) on f and on a pipe that stop closes.
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
		return nil, func() {}
	}
	ch := make(chan struct{})
	go func() {
		defer unix.Close(wake[0])
		// No events asked of f: poll reports POLLERR (a pipe without a
		// reader) and POLLHUP (a hang-up) all the same, and nothing else;
		// a regular file or /dev/null never wakes it.
		fds := []unix.PollFd{{Fd: int32(out)}, {Fd: int32(wake[0]), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err == unix.EINTR {
				continue
			}
			break
		}
		if fds[1].Revents == 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			close(ch)
		}
	}()
	return ch, func() { unix.Close(wake[1]) }
}
