package supervisor

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
)

// memFake reports a settable tree size and records the kernel limit set.
type memFake struct {
	*fakeRunner
	bytes   atomic.Int64
	limited atomic.Int64
}

func (m *memFake) TreeMemory(proc.Identity, string, string) (uint64, int, error) {
	return uint64(m.bytes.Load()), 3, nil
}

func (m *memFake) LimitMemory(cgroup string, limit int64) error {
	m.limited.Store(limit)
	return nil
}

func newMemSupervisor(t *testing.T) (*Supervisor, *memFake) {
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mf := &memFake{fakeRunner: newFake()}
	s := New(Config{Store: st, Runner: mf})
	mf.onExit = s.handleExit
	t.Cleanup(s.Close)
	return s, mf
}

// A tree that grows past --max-memory is restarted gracefully (SIGTERM
// first), once, with the reason recorded; below it nothing happens.
func TestMaxMemoryRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newMemSupervisor(t)
		f.bytes.Store(100 << 20)
		m := startFake(t, s, "hog", func(r *StartRequest) { r.MaxMemory = 256 << 20 })
		step(10 * time.Second)
		if f.spawnCount() != 1 {
			t.Fatalf("restarted below the limit")
		}
		f.bytes.Store(300 << 20)
		step(memEvery)
		if sig := f.signalsOf(m.PID); len(sig) == 0 || sig[0] != sigTerm {
			t.Fatalf("signals %v, want a graceful SIGTERM first", sig)
		}
		f.bytes.Store(100 << 20)
		step(Settle)
		got := s.metaOf(t, "hog")
		if got.Restarts != 1 || got.PID == m.PID || !strings.Contains(got.RestartReason, "memory 300.0M (3 processes) exceeds --max-memory 256.0M") {
			t.Errorf("restarts %d pid %d reason %q", got.Restarts, got.PID, got.RestartReason)
		}
		step(10 * time.Second)
		if f.spawnCount() != 2 {
			t.Errorf("%d spawns, want 2", f.spawnCount())
		}
	})
}

// --cron-restart restarts a running process on its schedule and leaves a
// stopped one alone.
func TestCronRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startFake(t, s, "nightly", func(r *StartRequest) { r.CronRestart = "@every 1h" })
		step(59 * time.Minute)
		if f.spawnCount() != 1 {
			t.Fatal("restarted before its time")
		}
		step(time.Minute + Settle)
		got := s.metaOf(t, "nightly")
		if f.spawnCount() != 2 || got.Restarts != 1 || !strings.Contains(got.RestartReason, "--cron-restart @every 1h") {
			t.Fatalf("%d spawns, restarts %d, reason %q", f.spawnCount(), got.Restarts, got.RestartReason)
		}
		if _, err := s.Stop("nightly", time.Second); err != nil {
			t.Fatal(err)
		}
		step(2 * time.Hour)
		if got := s.metaOf(t, "nightly"); got.State != "stopped" || f.spawnCount() != 2 {
			t.Errorf("a stopped process: %s, %d spawns", got.State, f.spawnCount())
		}
		if err := parseCron("61 * * * *"); err == nil || !strings.Contains(err.Error(), "five fields") {
			t.Errorf("bad schedule: %v", err)
		}
	})
}

// A run whose --ready check has not passed within --wait stays starting,
// and --max-memory still covers it: a leak while it waits is restarted
// like one while it is online.
func TestMaxMemoryWhileNotReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newMemSupervisor(t)
		f.bytes.Store(100 << 20)
		m := startFake(t, s, "slowpoke", func(r *StartRequest) {
			r.MaxMemory, r.Ready, r.Wait = 256<<20, "log:never printed", time.Second
		})
		step(10 * time.Second)
		if got := s.metaOf(t, "slowpoke"); got.State != "starting" || f.spawnCount() != 1 {
			t.Fatalf("state %s, %d spawns; want starting, 1", got.State, f.spawnCount())
		}
		f.bytes.Store(300 << 20)
		step(memEvery)
		if sig := f.signalsOf(m.PID); len(sig) == 0 || sig[0] != sigTerm {
			t.Fatalf("signals %v, want a graceful SIGTERM", sig)
		}
	})
}
