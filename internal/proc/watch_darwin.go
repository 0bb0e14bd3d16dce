package proc

import (
	"errors"

	"golang.org/x/sys/unix"
)

// kqueueWatch waits for NOTE_EXIT of every watched process on one kqueue.
type kqueueWatch struct {
	kq     int
	onExit func(Exit)
}

func newWatchImpl(onExit func(Exit)) (watchImpl, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, err
	}
	k := &kqueueWatch{kq: kq, onExit: onExit}
	go k.loop()
	return k, nil
}

func (k *kqueueWatch) watch(pid int) error {
	var ev unix.Kevent_t
	unix.SetKevent(&ev, pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev.Fflags = unix.NOTE_EXIT
	_, err := unix.Kevent(k.kq, []unix.Kevent_t{ev}, nil, nil)
	if errors.Is(err, unix.ESRCH) {
		return ErrGone
	}
	return err
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
			if ev.Filter == unix.EVFILT_PROC && ev.Fflags&unix.NOTE_EXIT != 0 {
				k.onExit(Exit{PID: int(ev.Ident)})
			}
		}
	}
}
