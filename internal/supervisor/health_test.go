package supervisor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetra/tsm/internal/health"
	"github.com/tetra/tsm/internal/store"
)

// fakeProbe answers as told, counts its checks and the most that ran at
// once; with slow, a check lasts until its timeout.
type fakeProbe struct {
	mu        sync.Mutex
	fail      error
	slow      bool
	checks    int
	running   int
	maxAtOnce int
}

func (f *fakeProbe) Check(ctx context.Context) error {
	f.mu.Lock()
	f.checks++
	f.running++
	f.maxAtOnce = max(f.maxAtOnce, f.running)
	slow, fail := f.slow, f.fail
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	if slow {
		<-ctx.Done()
		return ctx.Err()
	}
	return fail
}

func (f *fakeProbe) set(fail error, slow bool) {
	f.mu.Lock()
	f.fail, f.slow = fail, slow
	f.mu.Unlock()
}

func (f *fakeProbe) stats() (checks, maxAtOnce int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks, f.maxAtOnce
}

// withProbe makes every health check of s use probe, and counts how many
// probes were made.
func withProbe(s *Supervisor, probe health.Probe) *int {
	made := new(int)
	s.newProbe = func(string, int, store.Launch) (health.Probe, error) {
		*made++
		return probe, nil
	}
	return made
}

func withHealth(retries int) func(*StartRequest) {
	return func(r *StartRequest) {
		r.Health = health.Settings{Spec: "tcp:1", Interval: time.Second, Timeout: 500 * time.Millisecond, Retries: retries}
	}
}

// step advances the fake clock by d and lets everything settle.
func step(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// Failing checks make the process unhealthy (with the reason), and after
// the configured number in a row it is restarted, the reason recorded;
// the new run is checked afresh.
func TestHealthFailuresRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		probe := &fakeProbe{}
		withProbe(s, probe)
		m := startFake(t, s, "web", withHealth(3))
		step(time.Second)
		if got := s.metaOf(t, "web"); got.State != "online" {
			t.Fatalf("after a passing check: %s, want online", got.State)
		}
		probe.set(errors.New("GET /health: 503 Service Unavailable"), false)
		for i := 1; i <= 2; i++ {
			step(time.Second)
			got := s.metaOf(t, "web")
			if got.State != "unhealthy" || got.Status != store.StatusOnline || got.PID != m.PID || !strings.Contains(got.HealthError, "503") {
				t.Fatalf("after %d failures: state %s status %s pid %d error %q; want unhealthy, online, pid %d, the 503", i, got.State, got.Status, got.PID, got.HealthError, m.PID)
			}
		}
		step(time.Second) // the third failure in a row
		if f.isAlive(m.PID) {
			t.Fatal("the unhealthy run was not ended")
		}
		probe.set(nil, false)
		step(Settle)
		got := s.metaOf(t, "web")
		if got.PID == m.PID || got.Restarts != 1 || !strings.Contains(got.RestartReason, "3 health checks failed in a row") || !strings.Contains(got.RestartReason, "503") {
			t.Fatalf("after the restart: pid %d restarts %d reason %q", got.PID, got.Restarts, got.RestartReason)
		}
		step(3 * time.Second)
		if got := s.metaOf(t, "web"); got.State != "online" || got.HealthError != "" || got.PID != f.last() {
			t.Errorf("new run with passing checks: %s %q pid %d", got.State, got.HealthError, got.PID)
		}
	})
}

// One passing check brings an unhealthy process back to online, and the
// count of failures starts again: no restart.
func TestHealthRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		probe := &fakeProbe{}
		withProbe(s, probe)
		m := startFake(t, s, "api", withHealth(2))
		probe.set(errors.New("refused"), false)
		step(time.Second)
		if got := s.metaOf(t, "api"); got.State != "unhealthy" {
			t.Fatalf("after a failure: %s", got.State)
		}
		probe.set(nil, false)
		step(time.Second)
		if got := s.metaOf(t, "api"); got.State != "online" || got.HealthError != "" {
			t.Fatalf("after a pass: %s %q", got.State, got.HealthError)
		}
		probe.set(errors.New("refused"), false)
		step(time.Second) // one failure: the count started again
		if !f.isAlive(m.PID) || f.spawnCount() != 1 {
			t.Errorf("restarted after failures that were not in a row")
		}
		if _, err := s.Stop("api", time.Second); err != nil {
			t.Fatal(err)
		}
		if got := s.metaOf(t, "api"); got.State != "stopped" {
			t.Errorf("stop of an unhealthy process: %s", got.State)
		}
	})
}

// A check slower than the interval never starts a second one: at most one
// runs at once, and it fails at its timeout.
func TestHealthNoPileUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTestSupervisor(t)
		probe := &fakeProbe{}
		probe.set(nil, true)
		withProbe(s, probe)
		startFake(t, s, "slow", func(r *StartRequest) {
			r.Health = health.Settings{Spec: "tcp:1", Interval: 100 * time.Millisecond, Timeout: 2 * time.Second, Retries: 100}
		})
		step(10 * time.Second)
		checks, most := probe.stats()
		if most != 1 {
			t.Errorf("%d checks ran at once", most)
		}
		// One every interval + timeout: 2.1 s each over 10 s.
		if checks < 4 || checks > 5 {
			t.Errorf("%d checks in 10 s, want 4 or 5 (2.1 s each)", checks)
		}
		if got := s.metaOf(t, "slow"); got.State != "unhealthy" || !strings.Contains(got.HealthError, "no answer within 2s") {
			t.Errorf("state %s error %q", got.State, got.HealthError)
		}
	})
}

// A process without a health check costs nothing: no probe is made.
func TestHealthAbsentCostsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTestSupervisor(t)
		made := withProbe(s, &fakeProbe{})
		startFake(t, s, "plain", nil)
		step(time.Minute)
		if *made != 0 {
			t.Errorf("%d probes made for a process without a health check", *made)
		}
	})
}

// A new daemon adopts an unhealthy run as it is, and checks it again: a
// passing check makes it online.
func TestHealthAdoptedUnhealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.alive[4000] = true
		st, err := store.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		m := store.Meta{Name: "sick", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline, State: "unhealthy",
			HealthCheck: "tcp:1", HealthIntervalMS: 1000, HealthError: "refused"}
		if err := st.WriteMeta(m); err != nil {
			t.Fatal(err)
		}
		s := New(Config{Store: st, Runner: f})
		f.onExit = s.handleExit
		t.Cleanup(s.Close)
		withProbe(s, &fakeProbe{})
		if err := s.Adopt(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := s.metaOf(t, "sick"); got.State != "unhealthy" || got.PID != 4000 {
			t.Fatalf("adopted: %s pid %d, want unhealthy 4000", got.State, got.PID)
		}
		step(time.Second)
		if got := s.metaOf(t, "sick"); got.State != "online" || got.HealthError != "" || f.spawnCount() != 0 {
			t.Errorf("after a passing check: %s %q, %d spawns", got.State, got.HealthError, f.spawnCount())
		}
	})
}
