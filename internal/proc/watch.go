package proc

import (
	"errors"
	"math"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrGone means a process to watch had already exited, or its PID now
// belongs to another process.
var ErrGone = errors.New("process is gone")

// Watcher reports the exit of processes that are not the daemon's children
// (services adopted after a daemon restart) without polling: it pins each
// process (a pidfd on Linux, a kqueue NOTE_EXIT registration on macOS) and
// waits for all of them in one goroutine. A process it cannot pin (no
// pidfd support, no descriptor to spare, the budget spent) is polled.
type Watcher struct {
	onExit func(Exit)
	impl   watchImpl // nil when the kernel offers no event source
	// budget is the most pins held at once, beyond which processes are
	// polled: a pidfd is a file descriptor, and running out of those would
	// stop the daemon from opening logs or accepting clients. NewWatcher
	// sets it to the soft RLIMIT_NOFILE minus reserveFDs; tests lower it
	// before the first Watch.
	budget int
	every  time.Duration // polling period
	polls  atomic.Int32  // processes being polled
}

// reserveFDs is what the budget leaves of the descriptor limit for
// everything else the daemon does.
const reserveFDs = 64

// errBudget is pin's answer when the budget is spent.
var errBudget = errors.New("watch budget spent")

type watchImpl interface {
	// pin holds on to pid's process without reporting its exit yet:
	// ErrGone if there is no such process, errBudget if budget pins are
	// held already, any other error if it cannot be pinned.
	pin(pid, budget int) (pin int, err error)
	// arm reports the pinned process's exit, once, as Exit{PID: pid} to
	// onExit from another goroutine; at once if it has exited already. On
	// error the pin is still held.
	arm(pin, pid int) error
	// unpin releases a pin that is not armed; it will never report.
	unpin(pin int)
	// pinned counts the pins held, armed or not.
	pinned() int
}

// NewWatcher starts the event loop. onExit receives one Exit (Known=false)
// per watched process that ended, from a goroutine of the Watcher's.
func NewWatcher(onExit func(Exit)) *Watcher {
	w := &Watcher{onExit: onExit, budget: fdBudget(), every: 500 * time.Millisecond}
	if impl, err := newWatchImpl(onExit); err == nil {
		w.impl = impl
	}
	return w
}

func fdBudget() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return int(min(lim.Cur, math.MaxInt32)) - reserveFDs
}

// Watch reports the exit of the process pid, once, as Exit{PID: pid} to
// onExit. same says whether pid still names the process the caller means
// (Identity.Check, typically). It is asked once the process is pinned, so
// that a PID recycled before Watch is caught instead of watched:
//
//   - (true, nil): the process is watched, and Watch returns nil.
//   - (false, nil): the process is gone or an impostor; nothing is watched
//     or will ever be reported, and Watch returns ErrGone.
//   - an error: nothing is watched, and Watch returns that error; ask
//     again later.
//
// Watch also returns ErrGone when no process has the PID. A process that
// cannot be pinned is polled instead, with same, every 500 ms: its exit is
// reported the first time same answers (false, nil), and an error from
// same then only means "ask again at the next tick". The exit of a process
// that ended while Watch ran may be reported before Watch returns.
func (w *Watcher) Watch(pid int, same func() (bool, error)) error {
	pin, err := -1, errors.ErrUnsupported
	if w.impl != nil {
		pin, err = w.impl.pin(pid, w.budget)
	}
	if errors.Is(err, ErrGone) {
		return ErrGone
	}
	pinned := err == nil
	if ok, err := same(); err != nil || !ok {
		if pinned {
			w.impl.unpin(pin)
		}
		if err != nil {
			return err
		}
		return ErrGone
	}
	if pinned {
		if w.impl.arm(pin, pid) == nil {
			return nil
		}
		w.impl.unpin(pin) // epoll out of memory, say: poll instead
	}
	w.polls.Add(1)
	go w.poll(pid, same)
	return nil
}

// Pinned returns the number of processes pinned (pidfds or kqueue
// registrations held), for tests and diagnostics.
func (w *Watcher) Pinned() int {
	if w.impl == nil {
		return 0
	}
	return w.impl.pinned()
}

// poll watches a process that could not be pinned.
func (w *Watcher) poll(pid int, same func() (bool, error)) {
	defer w.polls.Add(-1)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for range t.C {
		if ok, err := same(); err == nil && !ok {
			w.onExit(Exit{PID: pid})
			return
		}
	}
}
