package supervisor

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
)

// fakeRunner stands in for the OS so that the supervisor's timers (settle
// window, backoff, grace period) run on synctest's fake clock. Processes
// are PIDs in a table; a signal ends them unless they ignore it.
type fakeRunner struct {
	onExit func(proc.Exit)

	mu        sync.Mutex
	next      int
	alive     map[int]bool
	ignoreTE  map[int]bool // ignores SIGTERM
	spawns    []int
	signals   map[int][]syscall.Signal // every signal each PID received
	marked    map[string][]proc.Member // what FindMarked finds
	strangers map[int]bool             // live PIDs that fail VerifyLegacy
	onSpawn   func(pid int)            // runs after each spawn (tests sabotage here)
}

func newFake() *fakeRunner {
	return &fakeRunner{next: 1000, alive: map[int]bool{}, ignoreTE: map[int]bool{}, signals: map[int][]syscall.Signal{}}
}

func (f *fakeRunner) Spawn(proc.SpawnSpec, string) (int, string, error) {
	f.mu.Lock()
	f.next++
	pid := f.next
	f.alive[pid] = true
	f.spawns = append(f.spawns, pid)
	hook := f.onSpawn
	f.mu.Unlock()
	if hook != nil {
		hook(pid)
	}
	return pid, "", nil
}

func (f *fakeRunner) CgroupMembers(string) []int  { return nil }
func (f *fakeRunner) CgroupPopulated(string) bool { return false }
func (f *fakeRunner) KillCgroup(string)           {}
func (f *fakeRunner) RemoveCgroup(string)         {}

func (f *fakeRunner) Watch(pid int, same func() (bool, error)) error { return nil }

func (f *fakeRunner) Check(id proc.Identity) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[id.PID], nil
}

// Family: the live processes marked with the run's marker.
func (f *fakeRunner) Family(_ int, marker string, _ uint64, _ string) ([]proc.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []proc.Member
	for _, m := range f.marked[marker] {
		if f.alive[m.PID] {
			out = append(out, m)
		}
	}
	return out, nil
}
func (f *fakeRunner) FindMarked([]string) (map[string][]proc.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.marked, nil
}
func (f *fakeRunner) Children() ([]int, bool) { return nil, true }

// GroupExists: a fake process leads its group alone.
func (f *fakeRunner) GroupExists(pgid int) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[pgid], nil
}
func (f *fakeRunner) Pgid(pid int) (int, error) { return pid, nil }

func (f *fakeRunner) Identify(pid int) (proc.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.alive[pid] {
		return proc.Identity{}, proc.ErrNoProcess
	}
	return proc.Identity{PID: pid, StartTime: uint64(pid)}, nil
}

// VerifyLegacy: a live PID passes unless it is one of strangers.
func (f *fakeRunner) VerifyLegacy(pid int, _ time.Time, _ string) (proc.Identity, error) {
	id, err := f.Identify(pid)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.strangers[pid] {
		return proc.Identity{}, fmt.Errorf("pid %d: %w", pid, proc.ErrNotVerified)
	}
	return id, err
}

func (f *fakeRunner) SignalIdentity(id proc.Identity, sig syscall.Signal) (bool, error) {
	if ok, _ := f.Check(id); !ok {
		return false, nil
	}
	return true, f.Signal(id.PID, sig)
}

func (f *fakeRunner) Signal(pid int, sig syscall.Signal) error {
	f.mu.Lock()
	if f.alive[pid] {
		f.signals[pid] = append(f.signals[pid], sig)
	}
	ends := f.alive[pid] && (sig == syscall.SIGKILL || !f.ignoreTE[pid])
	if ends {
		delete(f.alive, pid)
	}
	f.mu.Unlock()
	if ends {
		go f.onExit(proc.Exit{PID: pid, Known: true, Signal: sig, Code: 128 + int(sig)})
	}
	return nil
}

// SignalGroup: the group is its leader alone.
func (f *fakeRunner) SignalGroup(pgid int, sig syscall.Signal) error { return f.Signal(pgid, sig) }

// crash ends pid by itself with code, and waits (in a synctest bubble)
// for the supervisor to handle it.
func (f *fakeRunner) crash(pid, code int) {
	f.mu.Lock()
	delete(f.alive, pid)
	f.mu.Unlock()
	f.onExit(proc.Exit{PID: pid, Known: true, Code: code})
	synctest.Wait()
}

func (f *fakeRunner) spawnCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.spawns)
}

func (f *fakeRunner) last() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spawns[len(f.spawns)-1]
}

func newTestSupervisor(t *testing.T) (*Supervisor, *fakeRunner) {
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	s := New(Config{Store: st, Runner: f})
	f.onExit = s.handleExit
	t.Cleanup(s.Close)
	return s, f
}

func startFake(t *testing.T, s *Supervisor, name string, extra func(*StartRequest)) store.Meta {
	t.Helper()
	req := StartRequest{Request: spec.Request{
		Argv: []string{"sleep", "300"}, Cwd: t.TempDir(), Env: []string{"PATH=" + os.Getenv("PATH")}, Name: name,
	}}
	if extra != nil {
		extra(&req)
	}
	out, err := s.Start(req)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return out.Meta
}

func (s *Supervisor) metaOf(t *testing.T, name string) store.Meta {
	t.Helper()
	m, err := s.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A crash loop backs off 100 ms, 200 ms, 400 ms ... on the fake clock,
// counts unstable restarts, and ends errored with nothing scheduled.
func TestCrashLoopBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		three := 3
		startFake(t, s, "loop", func(r *StartRequest) { r.MaxRestarts = &three })
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
		for i, delay := range want {
			f.crash(f.last(), 1)
			m := s.metaOf(t, "loop")
			if m.Status != store.StatusCrashed || m.NextRestart == 0 {
				t.Fatalf("after crash %d: status %s, next restart %d", i+1, m.Status, m.NextRestart)
			}
			before := f.spawnCount()
			time.Sleep(delay - time.Millisecond)
			synctest.Wait()
			if f.spawnCount() != before {
				t.Fatalf("crash %d: restarted before its %v backoff", i+1, delay)
			}
			time.Sleep(time.Millisecond)
			synctest.Wait()
			if f.spawnCount() != before+1 {
				t.Fatalf("crash %d: not restarted after %v", i+1, delay)
			}
		}
		f.crash(f.last(), 1)
		m := s.metaOf(t, "loop")
		if m.Status != store.StatusErrored || m.NextRestart != 0 || m.Restarts != 3 || m.UnstableRestarts != 3 {
			t.Fatalf("after the 4th crash: %+v; want errored, 3 restarts, 3 unstable, nothing scheduled", m)
		}
		spawns := f.spawnCount()
		time.Sleep(time.Hour)
		synctest.Wait()
		if f.spawnCount() != spawns {
			t.Errorf("an errored process was spawned again")
		}
	})
}

// A crash after a run longer than min-uptime is restarted at once, and
// resets the backoff.
func TestStableRunRestartsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startFake(t, s, "web", nil)
		f.crash(f.last(), 1) // short run: backoff
		time.Sleep(DefaultBackoff.Initial)
		synctest.Wait()
		time.Sleep(2 * DefaultBackoff.MinUptime)
		before := f.spawnCount()
		f.crash(f.last(), 1)
		if f.spawnCount() != before+1 {
			t.Fatalf("a crash after a stable run was not restarted at once")
		}
		m := s.metaOf(t, "web")
		if m.Status != store.StatusOnline || m.Restarts != 2 || m.UnstableRestarts != 1 {
			t.Errorf("meta %+v; want online, 2 restarts, 1 unstable", m)
		}
	})
}

// on-failure leaves a clean exit alone; never leaves a crash alone.
func TestPolicies(t *testing.T) {
	for _, tt := range []struct {
		policy string
		code   int
		want   string
	}{
		{"on-failure", 0, store.StatusStopped},
		{"never", 1, store.StatusCrashed},
		{"always", 0, store.StatusOnline},
	} {
		t.Run(fmt.Sprintf("%s/%d", tt.policy, tt.code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, f := newTestSupervisor(t)
				startFake(t, s, "p", func(r *StartRequest) { r.Restart = tt.policy })
				time.Sleep(2 * DefaultBackoff.MinUptime)
				f.crash(f.last(), tt.code)
				synctest.Wait()
				if m := s.metaOf(t, "p"); m.Status != tt.want || *m.ExitCode != tt.code {
					t.Errorf("status %s exit %d, want %s", m.Status, *m.ExitCode, tt.want)
				}
			})
		})
	}
}

// A stop during a backoff cancels the pending restart.
func TestStopCancelsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startFake(t, s, "w", nil)
		f.crash(f.last(), 1)
		out, err := s.Stop("w", time.Second)
		if err != nil || out.Action != "not-running" {
			t.Fatalf("stop = %+v, %v", out, err)
		}
		spawns := f.spawnCount()
		time.Sleep(time.Minute)
		synctest.Wait()
		if f.spawnCount() != spawns || s.metaOf(t, "w").Status != store.StatusStopped {
			t.Errorf("restarted after stop: %d spawns, %+v", f.spawnCount(), s.metaOf(t, "w"))
		}
	})
}

// A process that ignores SIGTERM gets SIGKILL when the grace period ends,
// not before.
func TestStopGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startStubborn(t, s, f, "stubborn")
		start := time.Now()
		out, err := s.Stop("stubborn", 3*time.Second)
		if err != nil || !out.Forced || out.Meta.Status != store.StatusStopped {
			t.Fatalf("stop = %+v, %v; want forced", out, err)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("SIGKILL after %v, want exactly the 3s grace period", took)
		}
		if *out.Meta.ExitCode != 128+int(syscall.SIGKILL) || out.Meta.ExitSignal != "SIGKILL" {
			t.Errorf("exit %d %s", *out.Meta.ExitCode, out.Meta.ExitSignal)
		}
	})
}

// A process that dies inside the settle window fails its start and is not
// restarted.
func TestDeathInSettleWindowFailsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		go func() {
			time.Sleep(Settle / 2)
			f.crash(f.last(), 2)
		}()
		_, err := s.Start(StartRequest{Request: spec.Request{
			Argv: []string{"sleep", "300"}, Cwd: t.TempDir(), Env: []string{"PATH=" + os.Getenv("PATH")}, Name: "early",
		}})
		fail, ok := err.(*StartFailedError)
		if !ok || fail.Exit.Code != 2 {
			t.Fatalf("start error = %v, want StartFailedError with code 2", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := f.spawnCount(); n != 1 {
			t.Errorf("%d spawns, want 1: a failed start is not a restart loop", n)
		}
	})
}
