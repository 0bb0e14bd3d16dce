package supervisor

import (
	"errors"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/target"
)

// Every state names itself and parses back; deleted is terminal; a move
// outside the table is an error that leaves the state alone.
func TestTransitionTable(t *testing.T) {
	for st := Stopped; st <= Deleted; st++ {
		if got, ok := ParseState(st.String()); !ok || got != st {
			t.Errorf("ParseState(%q) = %v, %v", st, got, ok)
		}
	}
	if len(moves[Deleted]) != 0 {
		t.Errorf("deleted has moves: %v", moves[Deleted])
	}
	for _, bad := range [][2]State{{Stopped, Online}, {Deleted, Starting}, {Exited, Online}, {BackingOff, Online}} {
		p := &process{s: &Supervisor{log: discard()}, state: bad[0]}
		err := p.move(bad[1])
		var ill *IllegalMoveError
		if !errors.As(err, &ill) || p.state != bad[0] {
			t.Errorf("move %v → %v: err %v, state %v", bad[0], bad[1], err, p.state)
		}
	}
}

// startStubborn starts a fake process that ignores SIGTERM.
func startStubborn(t *testing.T, s *Supervisor, f *fakeRunner, name string) store.Meta {
	t.Helper()
	m := startFake(t, s, name, nil)
	f.mu.Lock()
	f.ignoreTE[m.PID] = true
	f.mu.Unlock()
	return m
}

func (f *fakeRunner) signalsOf(pid int) []syscall.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.signals[pid])
}

func (f *fakeRunner) isAlive(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[pid]
}

// A graceful stop sends the stop signal once (not to the group and then
// the process again), and the kill signal once if the grace runs out.
func TestOneSignalPerStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		m := startFake(t, s, "polite", nil)
		if _, err := s.Stop("polite", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := f.signalsOf(m.PID); !slices.Equal(got, []syscall.Signal{syscall.SIGTERM}) {
			t.Errorf("signals %v, want one SIGTERM", got)
		}
		m = startStubborn(t, s, f, "stubborn")
		if _, err := s.Stop("stubborn", time.Second); err != nil {
			t.Fatal(err)
		}
		if got := f.signalsOf(m.PID); !slices.Equal(got, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
			t.Errorf("signals %v, want SIGTERM then SIGKILL", got)
		}
	})
}

// --signal and --kill-signal replace SIGTERM and SIGKILL.
func TestStopSignals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		m := startFake(t, s, "nginx", func(r *StartRequest) { r.StopSignal, r.KillSignal = "QUIT", "SIGKILL" })
		if _, err := s.Stop("nginx", 0); err != nil {
			t.Fatal(err)
		}
		if got := f.signalsOf(m.PID); len(got) == 0 || got[0] != syscall.SIGQUIT {
			t.Errorf("signals %v, want SIGQUIT first", got)
		}
		if _, err := s.Start(StartRequest{Request: spec.Request{Argv: []string{"sleep", "1"}, Cwd: t.TempDir(), Name: "x"}, StopSignal: "SIGNOPE"}); !errors.Is(err, spec.ErrUsage) {
			t.Errorf("unknown signal: %v, want a usage error", err)
		}
	})
}

// A stop that races a delete never brings the deleted process back: the
// stop waits for the delete and finds nothing, nothing is written to the
// deleted directory, and the freed ID is not shared after a daemon
// restart.
func TestStopRacingDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		m := startStubborn(t, s, f, "ghost")
		deleted := make(chan error, 1)
		go func() {
			_, err := s.Delete("ghost", time.Second)
			deleted <- err
		}()
		synctest.Wait()
		_, err := s.Stop("ghost", time.Second)
		var nf *target.NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("stop during delete: %v, want not found", err)
		}
		if err := <-deleted; err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.store.Dir("ghost")); !os.IsNotExist(err) {
			t.Errorf("the deleted directory is back: %v", err)
		}
		next := startFake(t, s, "next", nil)
		if next.TsmID != m.TsmID {
			t.Errorf("the freed ID %d was not reused (got %d)", m.TsmID, next.TsmID)
		}
		s2 := adopt(t, s.store, f, f)
		synctest.Wait()
		if metas, _ := s2.Snapshot(); len(metas) != 1 || metas[0].Name != "next" {
			t.Errorf("after a daemon restart: %+v, want only next", metas)
		}
	})
}

// A delete that runs beside a start of the same name finishes first: the
// new process's files are its own, never removed under it.
func TestDeleteThenStartSameName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		m := startStubborn(t, s, f, "x")
		go s.Delete("x", time.Second)
		synctest.Wait()
		n := startFake(t, s, "x", nil)
		if n.PID == m.PID || f.isAlive(m.PID) {
			t.Fatalf("new %d, old %d alive %v", n.PID, m.PID, f.isAlive(m.PID))
		}
		got, err := s.store.ReadMeta("x")
		if err != nil || got.PID != n.PID {
			t.Errorf("meta.json of the new x: %+v, %v", got, err)
		}
	})
}

// A clean exit is "exited" whatever its timing, never "crashed" and never
// the "stopped" of a user stop; inside start's settle window it is not a
// failed start.
func TestCleanExitLabel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startFake(t, s, "late", nil)
		time.Sleep(2 * DefaultBackoff.MinUptime)
		f.crash(f.last(), 0)
		if m := s.metaOf(t, "late"); m.State != "exited" || m.Status != store.StatusStopped {
			t.Errorf("late clean exit: state %s status %s", m.State, m.Status)
		}
		go func() {
			time.Sleep(Settle / 2)
			f.crash(f.last(), 0)
		}()
		out, err := s.Start(StartRequest{Request: spec.Request{
			Argv: []string{"sleep", "300"}, Cwd: t.TempDir(), Env: []string{"PATH=" + os.Getenv("PATH")}, Name: "quick",
		}})
		if err != nil || out.Ready != "exited" || out.Restarting {
			t.Fatalf("start = %+v, %v; want finished, not restarted", out, err)
		}
		spawns := f.spawnCount()
		time.Sleep(time.Minute)
		synctest.Wait()
		if m := s.metaOf(t, "quick"); m.State != "exited" || f.spawnCount() != spawns {
			t.Errorf("quick: state %s, %d spawns after", m.State, f.spawnCount()-spawns)
		}
	})
}

// A spawn whose record cannot be written is ended again, and reported.
func TestSpawnRecordFailureRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startFake(t, s, "full", nil)
		dir := s.store.Dir("full")
		f.mu.Lock()
		f.onSpawn = func(pid int) {
			// As a full disk would: the record after the fork fails.
			os.RemoveAll(dir)
			os.WriteFile(dir, nil, 0o644)
		}
		f.mu.Unlock()
		_, err := s.Restart("full", time.Second, 0, nil, false, nil)
		if err == nil {
			t.Fatal("restart succeeded although its record could not be written")
		}
		pid := f.last()
		if f.isAlive(pid) || !slices.Contains(f.signalsOf(pid), syscall.SIGKILL) {
			t.Errorf("the unrecorded process %d runs on (signals %v)", pid, f.signalsOf(pid))
		}
		if m := s.metaOf(t, "full"); m.State != "errored" || m.PID != 0 {
			t.Errorf("state %s pid %d, want errored with no pid", m.State, m.PID)
		}
	})
}

// recordAndAdopt writes a record as a previous daemon would have, then
// starts a supervisor on it.
func recordAndAdopt(t *testing.T, r Runner, f *fakeRunner, m store.Meta) *Supervisor {
	t.Helper()
	return adopt(t, record(t, m), r, f)
}

// record writes m and its launch record into a new state directory.
func record(t *testing.T, m store.Meta) *store.Store {
	t.Helper()
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteMeta(m); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteLaunch(m.Name, store.Launch{Argv: []string{"sleep", "300"}, Cwd: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return st
}

// adopt starts a supervisor on the records in st, as a new daemon does.
func adopt(t *testing.T, st *store.Store, r Runner, f *fakeRunner) *Supervisor {
	t.Helper()
	s := New(Config{Store: st, Runner: r})
	f.onExit = s.handleExit
	t.Cleanup(s.Close)
	if err := s.Adopt(); err != nil {
		t.Fatal(err)
	}
	return s
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A daemon that died in the middle of a stop is followed by one that
// finishes it: the stop signal only if the record says it did not go out
// yet, the kill signal at the recorded deadline, and no restart.
func TestRecoveryFinishesStop(t *testing.T) {
	for _, tt := range []struct {
		name string
		sent bool
		want []syscall.Signal
	}{
		{"signal sent", true, []syscall.Signal{syscall.SIGKILL}},
		{"signal not sent yet", false, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				f.alive[4000], f.ignoreTE[4000] = true, true
				m := store.Meta{TsmID: 0, Name: "slow", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline,
					State: "stopping", Pending: "stop", StopDeadline: time.Now().Add(3 * time.Second).UnixMilli(), RestartPolicy: "on-failure"}
				if tt.sent {
					m.StopSent = time.Now().UnixMilli()
				}
				s := recordAndAdopt(t, f, f, m)
				synctest.Wait()
				if got := f.signalsOf(4000); len(got) != len(tt.want)-1 {
					t.Errorf("signals before the deadline: %v", got)
				}
				time.Sleep(4 * time.Second)
				synctest.Wait()
				if got := f.signalsOf(4000); !slices.Equal(got, tt.want) {
					t.Errorf("signals %v, want %v", got, tt.want)
				}
				if m := s.metaOf(t, "slow"); m.State != "stopped" || f.spawnCount() != 0 {
					t.Errorf("state %s, %d spawns; want stopped, none", m.State, f.spawnCount())
				}
			})
		})
	}
}

// A run spawned just before the daemon died, whose PID never reached the
// record, is found by its marker and adopted: never a second instance.
func TestRecoveryAdoptsUnrecordedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		marker := markerKey + "=s/0/1/1"
		f.alive[5000] = true
		f.marked = map[string][]proc.Member{marker: {{Identity: proc.Identity{PID: 5000, StartTime: 5000}, PGID: 5000, SID: 5000}}}
		s := recordAndAdopt(t, f, f, store.Meta{Name: "s", State: "starting", RunBase: "s/0/1", Run: 1, RestartPolicy: "on-failure"})
		time.Sleep(time.Second)
		synctest.Wait()
		m := s.metaOf(t, "s")
		if m.PID != 5000 || m.State != "online" || f.spawnCount() != 0 {
			t.Errorf("pid %d state %s, %d spawns; want the marked run adopted", m.PID, m.State, f.spawnCount())
		}
	})
}

// A recorded PID that is not the run's any more is never published, not
// even in the instant before the recovery has handled it.
func TestRecoveryNeverPublishesADeadPID(t *testing.T) {
	for range 20 {
		f := newFake()
		s := recordAndAdopt(t, f, f, store.Meta{Name: "svc", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline, State: "online", RestartPolicy: "never"})
		metas, _ := s.Snapshot()
		if len(metas) != 1 || metas[0].PID == 4000 {
			t.Fatalf("right after Adopt: %+v; want the dead PID hidden", metas)
		}
	}
}

// A recorded process whose identity cannot be checked (EMFILE, EACCES) is
// not taken for dead: no "lost", no restart.
func TestRecoveryCannotTellIsNotDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &unsureRunner{newFake()}
		f.alive[4000] = true
		s := recordAndAdopt(t, f, f.fakeRunner, store.Meta{Name: "busy", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline, State: "online"})
		time.Sleep(time.Second)
		synctest.Wait()
		if m := s.metaOf(t, "busy"); m.State != "online" || f.spawnCount() != 0 {
			t.Errorf("state %s, %d spawns; want online and untouched", m.State, f.spawnCount())
		}
	})
}

// unsureRunner cannot tell whether any process is alive.
type unsureRunner struct{ *fakeRunner }

func (unsureRunner) Check(proc.Identity) (bool, error) { return false, syscall.EMFILE }

// Restarts and stops sent at once are all answered, in order, and leave
// one run.
func TestConcurrentOperations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startFake(t, s, "web", nil)
		errs := make(chan error, 4)
		for _, op := range []func() error{
			func() error { _, err := s.Restart("web", time.Second, 0, nil, false, nil); return err },
			func() error { _, err := s.Restart("web", time.Second, 0, nil, false, nil); return err },
			func() error { _, err := s.Stop("web", time.Second); return err },
			func() error { _, err := s.Restart("web", time.Second, 0, nil, false, nil); return err },
		} {
			go func() { errs <- op() }()
			synctest.Wait()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Errorf("an operation failed: %v", err)
			}
		}
		live := 0
		for _, pid := range f.spawns {
			if f.isAlive(pid) {
				live++
			}
		}
		if m := s.metaOf(t, "web"); live != 1 || m.State != "online" || m.Restarts != 3 {
			t.Errorf("%d live, state %s, restarts %d; want 1 online run after 3 restarts", live, m.State, m.Restarts)
		}
	})
}

// A first start the daemon died in before the command was stored leaves
// no entry and no directory behind (it never ran); one that got as far as
// the launch record is started by the next daemon, once.
func TestRecoveryOfAnInterruptedFirstStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		st, err := store.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.WriteMeta(store.Meta{Name: "early", State: "starting", RestartPolicy: "on-failure"}); err != nil {
			t.Fatal(err)
		}
		s := adopt(t, st, f, f)
		synctest.Wait()
		if _, err := os.Stat(st.Dir("early")); !os.IsNotExist(err) || s.Count() != 0 || f.spawnCount() != 0 {
			t.Errorf("dir: %v, %d entries, %d spawns; want nothing left", err, s.Count(), f.spawnCount())
		}

		s2 := recordAndAdopt(t, f, f, store.Meta{Name: "later", State: "starting", RestartPolicy: "on-failure"})
		time.Sleep(time.Second)
		synctest.Wait()
		if m := s2.metaOf(t, "later"); m.State != "online" || f.spawnCount() != 1 || m.Restarts != 0 {
			t.Errorf("state %s, %d spawns, %d restarts; want started once, not counted as a restart", m.State, f.spawnCount(), m.Restarts)
		}
	})
}

// A quick automatic respawn writes nothing before its fork; a daemon that
// dies right after it leaves a record of the run before, and the next one
// adopts the new run by the successor's marker instead of starting a
// second one.
func TestRecoveryAdoptsUnrecordedRespawn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		m := store.Meta{Name: "r", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline, State: "online",
			RunBase: "r/0/1", Run: 3, Restarts: 2, RestartPolicy: "on-failure"}
		m.Marker = markerKey + "=r/0/1/3"
		f.alive[5000] = true
		f.marked = map[string][]proc.Member{nextMarker(m): {{Identity: proc.Identity{PID: 5000, StartTime: 5000}, PGID: 5000, SID: 5000}}}
		s := recordAndAdopt(t, f, f, m)
		time.Sleep(time.Second)
		synctest.Wait()
		got := s.metaOf(t, "r")
		if got.PID != 5000 || got.Run != 4 || got.Restarts != 3 || got.State != "online" || f.spawnCount() != 0 {
			t.Errorf("pid %d run %d restarts %d state %s, %d spawns; want the respawned run adopted", got.PID, got.Run, got.Restarts, got.State, f.spawnCount())
		}
	})
}

// A main process that died while no daemon watched is lost, even if a
// process of its run (a setsid'd child) lives on: that leftover is ended,
// never adopted as the main process, and the policy restarts the service.
func TestRecoveryNeverAdoptsALeftover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		m := store.Meta{Name: "crashy", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline, State: "online",
			RunBase: "crashy/0/1", Run: 1, RestartPolicy: "on-failure", StartTime: time.Now().Add(-time.Hour).Unix()}
		m.Marker = markerKey + "=crashy/0/1/1"
		f.alive[6000] = true
		f.marked = map[string][]proc.Member{m.Marker: {{Identity: proc.Identity{PID: 6000, StartTime: 6000}, PGID: 6000, SID: 6000}}}
		s := recordAndAdopt(t, f, f, m)
		time.Sleep(time.Second)
		synctest.Wait()
		got := s.metaOf(t, "crashy")
		if got.PID == 6000 || f.isAlive(6000) || f.spawnCount() != 1 {
			t.Errorf("pid %d, leftover alive %v, %d spawns; want the leftover ended and one restart", got.PID, f.isAlive(6000), f.spawnCount())
		}
	})
}
