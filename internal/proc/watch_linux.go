package proc

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// pidfdWatch waits on the pidfds of all watched processes with one epoll
// instance in one goroutine: no thread per process, no polling. A pidfd
// goes into the epoll set only once armed, so a process found to be an
// impostor is released by closing its pidfd and can never be reported.
type pidfdWatch struct {
	epfd   int
	onExit func(Exit)
	mu     sync.Mutex
	armed  map[int32]int // pidfd → pid, in the epoll set
	open   int           // pidfds held, armed or not
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
	p := &pidfdWatch{epfd: epfd, onExit: onExit, armed: make(map[int32]int)}
	go p.loop()
	return p, nil
}

func (p *pidfdWatch) pin(pid, budget int) (int, error) {
	p.mu.Lock()
	if p.open >= budget {
		p.mu.Unlock()
		return -1, errBudget
	}
	p.open++
	p.mu.Unlock()
	// EMFILE, ENFILE, ENOMEM and ENOSYS go back as they are: the caller
	// polls instead.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		p.release()
		if errors.Is(err, unix.ESRCH) {
			return -1, ErrGone
		}
		return -1, err
	}
	return fd, nil
}

func (p *pidfdWatch) arm(fd, pid int) error {
	p.mu.Lock()
	p.armed[int32(fd)] = pid
	p.mu.Unlock()
	// Level-triggered: a process that exited before this is reported at
	// once.
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.armed, int32(fd))
		p.mu.Unlock()
		return err
	}
	return nil
}

func (p *pidfdWatch) unpin(fd int) {
	unix.Close(fd)
	p.release()
}

func (p *pidfdWatch) release() {
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
}

func (p *pidfdWatch) pinned() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
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
			pid, ok := p.armed[ev.Fd]
			delete(p.armed, ev.Fd)
			p.mu.Unlock()
			if !ok {
				continue
			}
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			p.unpin(int(ev.Fd))
			p.onExit(Exit{PID: pid})
		}
	}
}
