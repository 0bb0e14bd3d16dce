package proc

import (
	"errors"
	"time"
)

// ErrGone means a process to watch had already exited, or its PID now
// belongs to another process.
var ErrGone = errors.New("process is gone")

// Watcher reports the exit of processes that are not the daemon's children
// (services adopted after a daemon restart) without polling: pidfd on Linux,
// kqueue on macOS. Where neither works it falls back to polling.
type Watcher struct {
	onExit func(Exit)
	impl   watchImpl // nil when the kernel offers no event source
}

type watchImpl interface {
	// watch pins pid; ErrGone if it already exited.
	watch(pid int) error
}

// NewWatcher starts the event loop. onExit receives one Exit (Known=false)
// per watched process that ended.
func NewWatcher(onExit func(Exit)) *Watcher {
	w := &Watcher{onExit: onExit}
	if impl, err := newWatchImpl(onExit); err == nil {
		w.impl = impl
	}
	return w
}

// Watch reports pid's exit to onExit. same is checked after the process is
// pinned, so a PID recycled before Watch is rejected with ErrGone rather
// than watched by mistake.
func (w *Watcher) Watch(pid int, same func() bool) error {
	if w.impl != nil {
		if err := w.impl.watch(pid); err == nil {
			if !same() {
				// The pinned process is an impostor; its exit event will
				// be ignored by the caller, which no longer knows the pid.
				return ErrGone
			}
			return nil
		} else if errors.Is(err, ErrGone) {
			return ErrGone
		}
	}
	if !same() {
		return ErrGone
	}
	go w.poll(pid, same)
	return nil
}

// poll is the fallback for kernels without pidfd (Linux < 5.3).
func (w *Watcher) poll(pid int, same func() bool) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if !same() {
			w.onExit(Exit{PID: pid})
			return
		}
	}
}
