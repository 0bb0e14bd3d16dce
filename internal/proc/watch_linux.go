package proc

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// pidfdWatch waits on the pidfds of all watched processes with one epoll
// instance in one goroutine: no thread per process, no polling.
type pidfdWatch struct {
	epfd   int
	onExit func(Exit)
	mu     sync.Mutex
	pids   map[int32]int // pidfd → pid
}

func newWatchImpl(onExit func(Exit)) (watchImpl, error) {
	// Probe: pidfd_open on ourselves fails with ENOSYS on old kernels.
	fd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		return nil, err
	}
	unix.Close(fd)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &pidfdWatch{epfd: epfd, onExit: onExit, pids: make(map[int32]int)}
	go p.loop()
	return p, nil
}

func (p *pidfdWatch) watch(pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return ErrGone
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.pids[int32(fd)] = pid
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.pids, int32(fd))
		p.mu.Unlock()
		unix.Close(fd)
		return err
	}
	return nil
}

func (p *pidfdWatch) loop() {
	events := make([]unix.EpollEvent, 32)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			pid, ok := p.pids[ev.Fd]
			delete(p.pids, ev.Fd)
			p.mu.Unlock()
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			unix.Close(int(ev.Fd))
			if ok {
				p.onExit(Exit{PID: pid})
			}
		}
	}
}
