package proc

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	reaperOnce   sync.Once
	sharedReaper *Reaper
	reaperSink   atomic.Pointer[func(Exit)]
)

// testReaper returns the test process's one Reaper, reporting to sink
// until the test ends. There is only one: on Linux each would wait for any
// child and steal the others'.
func testReaper(t *testing.T, sink func(Exit)) *Reaper {
	reaperOnce.Do(func() {
		sharedReaper = NewReaper(func(e Exit) {
			if f := reaperSink.Load(); f != nil {
				(*f)(e)
			}
		})
	})
	reaperSink.Store(&sink)
	t.Cleanup(func() {
		reaperSink.Store(nil)
		sharedReaper.afterFork = nil
	})
	return sharedReaper
}

// reapLog keeps the exits a Reaper reports, by PID.
type reapLog struct {
	mu    sync.Mutex
	exits map[int][]Exit
	n     int
}

func (l *reapLog) add(e Exit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exits == nil {
		l.exits = make(map[int][]Exit)
	}
	l.exits[e.PID] = append(l.exits[e.PID], e)
	l.n++
}

func (l *reapLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *reapLog) of(pid int) []Exit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.exits[pid])
}

func quickSpec(argv ...string) SpawnSpec {
	return SpawnSpec{Argv: argv, Env: []string{"PATH=" + os.Getenv("PATH")}, Dir: "/", Stdout: os.DevNull, Stderr: os.DevNull}
}

// spawned records the exit codes expected of each PID (PIDs may be reused
// within a test).
type spawned struct {
	mu    sync.Mutex
	codes map[int][]int
	n     int
}

func (s *spawned) spawn(t *testing.T, r *Reaper, code int) {
	argv := []string{"sh", "-c", "exit " + strconv.Itoa(code)}
	switch code {
	case 0:
		argv = []string{"true"}
	case 1:
		argv = []string{"false"}
	}
	pid, err := r.Spawn(quickSpec(argv...))
	if err != nil {
		t.Error(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes == nil {
		s.codes = make(map[int][]int)
	}
	s.codes[pid] = append(s.codes[pid], code)
	s.n++
}

// check waits for an exit per spawn, then for one more spawn's, so that a
// second report of any would have had time to come, and compares.
func (s *spawned) check(t *testing.T, r *Reaper, log *reapLog) {
	t.Helper()
	eventually(t, "every exit", func() bool { return log.total() >= s.n })
	var last spawned
	last.spawn(t, r, 0)
	for pid := range last.codes {
		eventually(t, "the last exit", func() bool { return len(log.of(pid)) > 0 })
	}
	if got := log.total(); got != s.n+1 {
		t.Errorf("%d exits reported for %d processes", got, s.n+1)
	}
	for pid, want := range s.codes {
		var got []int
		for _, e := range log.of(pid) {
			if !e.Known {
				t.Errorf("pid %d: exit %+v has no status", pid, e)
			}
			got = append(got, e.Code)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("pid %d: exit codes %v, want %v", pid, got, want)
		}
	}
}

// TestReaperQuickExits spawns commands that exit at once from several
// goroutines: some exit before Spawn has tracked them.
func TestReaperQuickExits(t *testing.T) {
	log := &reapLog{}
	r := testReaper(t, log.add)
	var s spawned
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				s.spawn(t, r, (w+i)%2)
			}
		})
	}
	wg.Wait()
	s.check(t, r, log)
}

// TestReaperExitBeforeTracked makes every child exit before Spawn tracks
// it; on Linux the reaper also reaps it, and keeps its status, meanwhile.
// That it can do so while Spawn is held up shows Spawn holds no lock of
// the reaper's across the fork.
func TestReaperExitBeforeTracked(t *testing.T) {
	log := &reapLog{}
	r := testReaper(t, log.add)
	r.afterFork = func(pid int) {
		deadline := time.Now().Add(10 * time.Second)
		for !exitedUntracked(r, pid) {
			if time.Now().After(deadline) {
				t.Errorf("pid %d: not reaped while Spawn waited", pid)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	var s spawned
	for code := range 10 {
		s.spawn(t, r, code)
	}
	s.check(t, r, log)
}

// exitedUntracked reports whether the untracked child pid has exited: on
// Linux, reaped with its status kept; on macOS, where only tracked children
// are reaped, a zombie.
func exitedUntracked(r *Reaper, pid int) bool {
	if runtime.GOOS != "linux" {
		alive, err := Identity{PID: pid}.Check()
		return err == nil && !alive
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.untracked, func(e untrackedExit) bool { return e.pid == pid })
}
