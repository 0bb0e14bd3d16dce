package proc

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// kqueueWatch waits for NOTE_EXIT of every watched process on one kqueue.
// The registration both pins and arms, so the state of each pin is kept
// here: an exit that arrives before the pin is armed is held back, and
// reported by arm, or dropped by unpin.
type kqueueWatch struct {
	kq     int
	onExit func(Exit)
	mu     sync.Mutex
	pins   map[int]*kqueuePin // by PID, the kqueue's key
}

type kqueuePin struct{ armed, exited bool }

// errPinned: kqueue keys registrations by PID, so a process watched twice
// is polled the second time.
var errPinned = errors.New("already pinned")

func newWatchImpl(onExit func(Exit)) (watchImpl, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, err
	}
	k := &kqueueWatch{kq: kq, onExit: onExit, pins: make(map[int]*kqueuePin)}
	go k.loop()
	return k, nil
}

func (k *kqueueWatch) pin(pid, budget int) (int, error) {
	k.mu.Lock()
	if len(k.pins) >= budget {
		k.mu.Unlock()
		return -1, errBudget
	}
	if k.pins[pid] != nil {
		k.mu.Unlock()
		return -1, errPinned
	}
	k.pins[pid] = &kqueuePin{}
	k.mu.Unlock()
	var ev unix.Kevent_t
	unix.SetKevent(&ev, pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev.Fflags = unix.NOTE_EXIT
	if _, err := unix.Kevent(k.kq, []unix.Kevent_t{ev}, nil, nil); err != nil {
		k.mu.Lock()
		delete(k.pins, pid)
		k.mu.Unlock()
		if errors.Is(err, unix.ESRCH) {
			return -1, ErrGone
		}
		return -1, err
	}
	return pid, nil
}

func (k *kqueueWatch) arm(pid, _ int) error {
	k.mu.Lock()
	p := k.pins[pid]
	if !p.exited {
		p.armed = true
		k.mu.Unlock()
		return nil
	}
	delete(k.pins, pid)
	k.mu.Unlock()
	// Not from the caller's goroutine, which may hold a lock onExit takes.
	go k.onExit(Exit{PID: pid})
	return nil
}

func (k *kqueueWatch) unpin(pid int) {
	var ev unix.Kevent_t
	unix.SetKevent(&ev, pid, unix.EVFILT_PROC, unix.EV_DELETE)
	unix.Kevent(k.kq, []unix.Kevent_t{ev}, nil, nil) // ENOENT: it fired already
	k.mu.Lock()
	delete(k.pins, pid)
	k.mu.Unlock()
}

func (k *kqueueWatch) pinned() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.pins)
}

func (k *kqueueWatch) loop() {
	events := make([]unix.Kevent_t, 32)
	for {
		n, err := unix.Kevent(k.kq, nil, events, nil)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			if ev.Filter != unix.EVFILT_PROC || ev.Fflags&unix.NOTE_EXIT == 0 {
				continue
			}
			pid := int(ev.Ident)
			k.mu.Lock()
			p := k.pins[pid]
			switch {
			case p == nil: // unpinned meanwhile
			case !p.armed:
				p.exited = true
				p = nil
			default:
				delete(k.pins, pid)
			}
			k.mu.Unlock()
			if p != nil {
				k.onExit(Exit{PID: pid})
			}
		}
	}
}
