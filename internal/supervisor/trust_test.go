package supervisor

import (
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
)

// legacy is a record as the bash TSM wrote it: a PID, no identity.
func legacy(name string, pid int) store.Meta {
	return store.Meta{TsmID: 0, Name: name, PID: pid, Command: "node server.js", Status: store.StatusOnline,
		StartTime: time.Now().Add(-772 * 24 * time.Hour).Unix()}
}

// A bash-TSM record whose PID now belongs to another process is shown as
// not verified; stop, kill and the restart policy never touch that process.
func TestLegacyStrangerIsNeverSignalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.alive[4000] = true
		f.strangers = map[int]bool{4000: true}
		s := recordAndAdopt(t, f, f, legacy("old", 4000))
		synctest.Wait()
		m := s.metaOf(t, "old")
		if m.State != "stopped" || m.PID != 0 || !strings.Contains(m.Unverified, "not verified") {
			t.Errorf("state %s pid %d unverified %q; want stopped, no pid, a reason", m.State, m.PID, m.Unverified)
		}
		if _, problems := s.Snapshot(); len(problems) != 1 || !strings.Contains(problems[0], "old: not verified") {
			t.Errorf("problems %q", problems)
		}
		s.Stop("old", time.Second)
		s.Kill("old")
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := f.signalsOf(4000); len(got) != 0 || f.spawnCount() != 0 {
			t.Errorf("the stranger got %v; %d spawns", got, f.spawnCount())
		}
	})
}

// One that passes the check is adopted and pinned by its identity from
// then on; stop ends it.
func TestLegacyVerifiedIsAdopted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.alive[4000] = true
		s := recordAndAdopt(t, f, f, legacy("old", 4000))
		synctest.Wait()
		if m := s.metaOf(t, "old"); m.State != "online" || m.PID != 4000 || m.PIDStartTicks != 4000 {
			t.Errorf("state %s pid %d ticks %d; want online 4000 pinned", m.State, m.PID, m.PIDStartTicks)
		}
		s.Stop("old", time.Second)
		synctest.Wait()
		if got := f.signalsOf(4000); len(got) == 0 {
			t.Error("stop did not signal the verified process")
		}
	})
}

// The marker that finds a dead run's leftovers is derived by the daemon
// from run_base and run; a marker field planted in meta.json (one every
// process carries, or another entry's) finds nothing.
func TestPlantedMarkerIsIgnored(t *testing.T) {
	for name, m := range map[string]store.Meta{
		"no run_base":      {Name: "p", PID: 4000, PIDStartTicks: 4000, Marker: "PATH=/usr/bin:/bin"},
		"foreign run_base": {Name: "p", PID: 4000, PIDStartTicks: 4000, RunBase: "other/3/1", Run: 1, Marker: "PATH=/usr/bin:/bin"},
		"own run_base":     {Name: "p", PID: 4000, PIDStartTicks: 4000, RunBase: "p/0/1", Run: 1, Marker: "PATH=/usr/bin:/bin"},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				f.alive[6000] = true
				f.marked = map[string][]proc.Member{
					"PATH=/usr/bin:/bin":       {{Identity: proc.Identity{PID: 6000, StartTime: 6000}, PGID: 6000, SID: 6000}},
					markerKey + "=other/3/1/1": {{Identity: proc.Identity{PID: 6000, StartTime: 6000}, PGID: 6000, SID: 6000}},
				}
				m.Status, m.State, m.RestartPolicy = store.StatusOnline, "online", "never"
				recordAndAdopt(t, f, f, m)
				time.Sleep(time.Minute)
				synctest.Wait()
				if got := f.signalsOf(6000); len(got) != 0 {
					t.Errorf("a process matched by a planted marker got %v", got)
				}
			})
		})
	}
}

// A corrupt launch.json is reported, and restart refuses to guess instead
// of running meta.json's command in the restarting shell's environment;
// once the file is removed, the documented rebuild from meta.json applies.
func TestCorruptLaunchRefusesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		st, err := store.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		m := store.Meta{Name: "web", Command: "sleep 300", Cwd: t.TempDir(), Status: store.StatusStopped, State: "stopped"}
		st.WriteMeta(m)
		os.WriteFile(st.LaunchPath("web"), []byte(`{"argv": ["sle`), 0o600)
		s := adopt(t, st, f, f)
		if _, problems := s.Snapshot(); len(problems) != 1 || !strings.Contains(problems[0], "corrupt launch.json") {
			t.Errorf("problems %q", problems)
		}
		_, err = s.Restart("web", time.Second, time.Second, []string{"PATH=/usr/bin:/bin", "API_TOKEN=x"}, false, nil)
		if err == nil || !strings.Contains(err.Error(), "will not guess") || f.spawnCount() != 0 {
			t.Errorf("restart: %v, %d spawns; want a refusal", err, f.spawnCount())
		}
		os.Remove(st.LaunchPath("web"))
		if _, err := s.Restart("web", time.Second, time.Second, []string{"PATH=/usr/bin:/bin"}, false, nil); err != nil || f.spawnCount() != 1 {
			t.Errorf("restart without launch.json: %v, %d spawns", err, f.spawnCount())
		}
	})
}
