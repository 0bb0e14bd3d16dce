package supervisor

import (
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetra/tsm/internal/store"
)

// recordJournalAndAdopt writes m and a stop journal naming stops, as a
// daemon that stopped them and then lost its records (a power loss) or
// died would leave them, and starts a supervisor on them.
func recordJournalAndAdopt(t *testing.T, f *fakeRunner, m store.Meta, stops ...store.StopRun) *Supervisor {
	t.Helper()
	st := record(t, m)
	if err := st.Journal().Append(store.StopBatch{At: time.Now().UnixMilli(), Pending: "stop", GraceMS: 5000, Runs: stops}); err != nil {
		t.Fatal(err)
	}
	return adopt(t, st, f, f)
}

// A stop the journal holds is never undone by the loss of the record that
// it ended: the record still says the run is up, its process is gone (the
// machine went down with it), and the next daemon records it stopped
// rather than restarting it by its policy. A journal entry that is not
// about the recorded run — another entry of the name, an earlier run — is
// not applied.
func TestJournaledStopOutlivesItsRecord(t *testing.T) {
	for _, tt := range []struct {
		name      string
		stop      store.StopRun
		wantState string
		wantSpawn int
	}{
		{"this run", store.StopRun{Name: "web", RunBase: "web/0/1", Run: 3}, "stopped", 0},
		{"an earlier run", store.StopRun{Name: "web", RunBase: "web/0/1", Run: 2}, "online", 1},
		{"another entry of the name", store.StopRun{Name: "web", RunBase: "web/0/9", Run: 3}, "online", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				m := store.Meta{Name: "web", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline, State: "online",
					RunBase: "web/0/1", Run: 3, RestartPolicy: "always"}
				s := recordJournalAndAdopt(t, f, m, tt.stop)
				time.Sleep(time.Second)
				synctest.Wait()
				if got := s.metaOf(t, "web"); got.State != tt.wantState || f.spawnCount() != tt.wantSpawn {
					t.Errorf("state %s, %d spawns; want %s, %d", got.State, f.spawnCount(), tt.wantState, tt.wantSpawn)
				}
				if disk, err := s.store.ReadMeta("web"); err != nil || disk.State != tt.wantState {
					t.Errorf("meta.json: state %q, %v; want %s", disk.State, err, tt.wantState)
				}
				time.Sleep(retireAfter)
				synctest.Wait()
				if got, err := s.stops.j.Read(); err != nil || len(got) != 0 {
					t.Errorf("journal after its records were synced: %v, %v; want empty", got, err)
				}
			})
		})
	}
}

// A daemon that died after journaling a stop and before signalling the
// run (its record still says online, the process runs) is followed by one
// that stops it: the stop signal, no restart.
func TestJournaledStopOfARunStillGoing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.alive[4000] = true
		m := store.Meta{Name: "web", PID: 4000, PIDStartTicks: 4000, Status: store.StatusOnline, State: "online",
			RunBase: "web/0/1", Run: 1, RestartPolicy: "always"}
		s := recordJournalAndAdopt(t, f, m, store.StopRun{Name: "web", RunBase: "web/0/1", Run: 1})
		time.Sleep(time.Second)
		synctest.Wait()
		if got := f.signalsOf(4000); !slices.Equal(got, []syscall.Signal{syscall.SIGTERM}) {
			t.Errorf("signals %v, want SIGTERM", got)
		}
		if got := s.metaOf(t, "web"); got.State != "stopped" || f.spawnCount() != 0 {
			t.Errorf("state %s, %d spawns; want stopped, none", got.State, f.spawnCount())
		}
	})
}

// A stop of a batch is journaled before its signal; the record that the
// run ended says stopped; once the batch is over and retireAfter has
// passed, the journal is empty again.
func TestStopBatchJournal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newTestSupervisor(t)
		startFake(t, s, "a", nil)
		startFake(t, s, "b", nil)
		pid := f.last()
		stop, end := s.StopBatch([]string{"a", "b", "a-missing"}, 0, false)
		batches, err := s.stops.j.Read()
		if err != nil || len(batches) != 1 || len(batches[0].Runs) != 2 || f.signalsOf(pid) != nil {
			t.Fatalf("journal before the signals: %+v, %v; signals %v", batches, err, f.signalsOf(pid))
		}
		for _, name := range []string{"a", "b"} {
			if out, err := stop(name); err != nil || out.Action != "stopped" {
				t.Errorf("stop %s: %+v, %v", name, out, err)
			}
			if disk, err := s.store.ReadMeta(name); err != nil || disk.State != "stopped" {
				t.Errorf("meta.json of %s: %q, %v; want stopped", name, disk.State, err)
			}
		}
		if _, err := stop("a-missing"); err == nil {
			t.Error("stop of a process that does not exist: no error")
		}
		end()
		time.Sleep(retireAfter)
		synctest.Wait()
		if got, err := s.stops.j.Read(); err != nil || len(got) != 0 {
			t.Errorf("journal after the batch: %v, %v; want empty", got, err)
		}
	})
}

// A script that stops a process every second, without ever pausing for
// retireAfter, does not keep the journal from being emptied: the records
// of its stops are synced and the journal cut within retireAfter of the
// first unretired stop, so it holds a few records, not one per stop.
func TestStopJournalRetiresUnderSteadyStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTestSupervisor(t)
		startFake(t, s, "a", nil)
		const rounds = 20
		for i := range rounds {
			stop, end := s.StopBatch([]string{"a"}, 0, false)
			if out, err := stop("a"); err != nil || out.Action != "stopped" {
				t.Fatalf("stop %d: %+v, %v", i, out, err)
			}
			end()
			if _, err := s.Restart("a", 0, 0, nil, false, nil); err != nil {
				t.Fatalf("restart %d: %v", i, err)
			}
			time.Sleep(retireAfter / 2)
			synctest.Wait()
		}
		if got, err := s.stops.j.Read(); err != nil || len(got) > 3 {
			t.Errorf("journal after %d stops %s apart: %d records, %v; want it emptied along the way", rounds, retireAfter/2, len(got), err)
		}
	})
}

// A batch that appends to the journal just after a retirement emptied it
// (its count taken before) is counted anew: the next retirement empties
// the journal again instead of finding a stale count and keeping it, with
// a sync every retireAfter, until some later stop.
func TestStopJournalCountsAppendsAfterAClear(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTestSupervisor(t)
		startFake(t, s, "a", nil)
		stop, end := s.StopBatch([]string{"a"}, 0, false)
		stop("a")
		end()
		time.Sleep(retireAfter)
		synctest.Wait()
		// What a batch's append between the count and the cut leaves: a
		// record in a journal the retirement believes empty.
		if err := s.stops.j.Append(store.StopBatch{Pending: "stop", Runs: []store.StopRun{{Name: "a", RunBase: "x", Run: 1}}}); err != nil {
			t.Fatal(err)
		}
		s.stops.mu.Lock()
		s.stops.unsynced["a"] = true
		s.scheduleRetireLocked()
		s.stops.mu.Unlock()
		time.Sleep(retireAfter)
		synctest.Wait()
		if got, err := s.stops.j.Read(); err != nil || len(got) != 0 {
			t.Errorf("journal after the next retirement: %d records, %v; want it emptied", len(got), err)
		}
	})
}
