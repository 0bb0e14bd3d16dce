package proc

import (
	"errors"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// exitLog counts the exits a Watcher reports, by PID.
type exitLog struct {
	mu sync.Mutex
	n  map[int]int
}

func (l *exitLog) add(e Exit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = make(map[int]int)
	}
	l.n[e.PID]++
}

func (l *exitLog) count(pid int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[pid]
}

// newTestWatcher returns a Watcher that can pin (skipping the test where
// the kernel offers no way to) and its log.
func newTestWatcher(t *testing.T) (*Watcher, *exitLog) {
	t.Helper()
	log := &exitLog{}
	w := NewWatcher(log.add)
	if w.impl == nil {
		t.Skip("no pidfd or kqueue: nothing can be pinned")
	}
	return w, log
}

// watched starts sleep and watches it with Identity.Check.
func watched(t *testing.T, w *Watcher) *exec.Cmd {
	t.Helper()
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch(id.PID, id.Check); err != nil {
		t.Fatalf("Watch(%d) = %v", id.PID, err)
	}
	return cmd
}

func end(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait() // may fail: a Reaper of another test may have reaped it
}

// settle waits for the exit of a process watched and killed after the
// ones a test is about: the loop reports in the order processes exit, so
// a report still to come for those would be in by then.
func settle(t *testing.T, w *Watcher, log *exitLog) {
	t.Helper()
	s := watched(t, w)
	end(s)
	eventually(t, "the sentinel's exit", func() bool { return log.count(s.Process.Pid) == 1 })
}

func TestWatchReportsOnce(t *testing.T) {
	w, log := newTestWatcher(t)
	cmd := watched(t, w)
	if n := w.Pinned(); n != 1 {
		t.Errorf("Pinned() = %d while watching one process", n)
	}
	end(cmd)
	eventually(t, "the exit", func() bool { return log.count(cmd.Process.Pid) > 0 })
	settle(t, w, log)
	if n := log.count(cmd.Process.Pid); n != 1 {
		t.Errorf("exit reported %d times", n)
	}
	eventually(t, "no pin left", func() bool { return w.Pinned() == 0 })
}

// TestWatchImpostor: a process that same() disowns, or cannot vouch for,
// is unpinned at once and its exit never reported.
func TestWatchImpostor(t *testing.T) {
	w, log := newTestWatcher(t)
	cannotTell := errors.New("cannot tell")
	impostor, _ := startProc(t, procOpts{}, "sleep", "60")
	unsure, _ := startProc(t, procOpts{}, "sleep", "60")
	if err := w.Watch(impostor.Process.Pid, func() (bool, error) { return false, nil }); err != ErrGone {
		t.Errorf("Watch(impostor) = %v, want ErrGone", err)
	}
	if err := w.Watch(unsure.Process.Pid, func() (bool, error) { return false, cannotTell }); !errors.Is(err, cannotTell) {
		t.Errorf("Watch with same() failing = %v, want its error", err)
	}
	if n := w.Pinned(); n != 0 {
		t.Errorf("Pinned() = %d after Watch refused both", n)
	}
	end(impostor)
	end(unsure)
	settle(t, w, log)
	for _, c := range []*exec.Cmd{impostor, unsure} {
		if n := log.count(c.Process.Pid); n != 0 {
			t.Errorf("exit of %d, not watched, reported %d times", c.Process.Pid, n)
		}
	}
	if w.polls.Load() != 0 {
		t.Error("a process not watched is being polled")
	}
}

func TestWatchGone(t *testing.T) {
	w, _ := newTestWatcher(t)
	cmd, _ := startProc(t, procOpts{}, "true")
	pid := cmd.Process.Pid
	cmd.Wait()
	eventually(t, "the pid to be free", func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH })
	asked := false
	err := w.Watch(pid, func() (bool, error) { asked = true; return true, nil })
	if err != ErrGone || asked {
		t.Errorf("Watch(exited pid) = %v (same asked: %v), want ErrGone without asking", err, asked)
	}
}

// TestWatchExitDuringCheck has the process end while same() runs, after
// it was pinned: it was the right process, so its exit is reported.
func TestWatchExitDuringCheck(t *testing.T) {
	w, log := newTestWatcher(t)
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	pid := cmd.Process.Pid
	err := w.Watch(pid, func() (bool, error) {
		end(cmd)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the exit", func() bool { return log.count(pid) > 0 })
	settle(t, w, log)
	if n := log.count(pid); n != 1 {
		t.Errorf("exit reported %d times", n)
	}
}

// TestWatchBudget watches three processes with room for one pin: two are
// polled, and each exit is reported once.
func TestWatchBudget(t *testing.T) {
	w, log := newTestWatcher(t)
	w.budget, w.every = 1, 5*time.Millisecond
	cmds := []*exec.Cmd{watched(t, w), watched(t, w), watched(t, w)}
	if p, q := w.Pinned(), w.polls.Load(); p != 1 || q != 2 {
		t.Fatalf("Pinned() = %d, polled %d; want 1 and 2", p, q)
	}
	for _, c := range cmds {
		end(c)
	}
	eventually(t, "all pollers and pins done", func() bool { return w.polls.Load() == 0 && w.Pinned() == 0 })
	for _, c := range cmds {
		if n := log.count(c.Process.Pid); n != 1 {
			t.Errorf("exit of %d reported %d times", c.Process.Pid, n)
		}
	}
}

// TestWatchPollCannotTell polls a live process whose same() fails for a
// while: "cannot tell" is not an exit.
func TestWatchPollCannotTell(t *testing.T) {
	log := &exitLog{}
	w := NewWatcher(log.add)
	w.budget, w.every = 0, time.Millisecond
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	var calls atomic.Int32
	var done atomic.Bool
	t.Cleanup(func() { done.Store(true) }) // the poller may end then
	same := func() (bool, error) {
		switch n := calls.Add(1); {
		case done.Load():
			return false, nil
		case n >= 2 && n <= 5:
			return false, errors.New("too many open files")
		}
		return true, nil
	}
	if err := w.Watch(cmd.Process.Pid, same); err != nil {
		t.Fatal(err)
	}
	eventually(t, "same() to be asked past its failures", func() bool { return calls.Load() >= 10 })
	if n := log.count(cmd.Process.Pid); n != 0 {
		t.Errorf("exit reported %d times for a live process", n)
	}
	if w.polls.Load() != 1 {
		t.Error("the poller stopped")
	}
}
