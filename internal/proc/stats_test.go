package proc

import (
	"errors"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestSamplerBusyChild(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sh", "-c", "while :; do :; done")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSampler()
	var st Stats
	eventually(t, "the busy child to show CPU use", func() bool {
		st, err = s.Sample(id)
		if err != nil {
			t.Fatal(err)
		}
		return st.CPUPercent > 0
	})
	if st.RSSBytes == 0 || st.Threads < 1 {
		t.Errorf("Sample = %+v, want RSS and at least one thread", st)
	}

	// Concurrent callers share baselines; the race detector checks the lock.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.Sample(id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s.Forget(id.PID)
	if _, err := s.Sample(id); err != nil {
		t.Errorf("Sample after Forget: %v", err)
	}

	cmd.Process.Kill()
	cmd.Wait()
	// The supervisor forgets a process when it reaps it: the cached sample
	// must not outlive it.
	s.Forget(id.PID)
	if _, err := s.Sample(id); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Sample of the reaped child after Forget: err = %v, want ErrNoProcess", err)
	}
}

func TestSamplerMismatch(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSampler()
	if _, err := s.Sample(id); err != nil {
		t.Fatal(err)
	}
	other := id
	other.StartTime++
	if _, err := s.Sample(other); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Sample(wrong start time) error = %v, want ErrNoProcess", err)
	}
	other = id
	other.BootID += "x"
	if _, err := s.Sample(other); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Sample(wrong boot id) error = %v, want ErrNoProcess", err)
	}
}

func BenchmarkSample(b *testing.B) {
	id, err := Identify(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	s := NewSampler()
	for b.Loop() {
		if _, err := s.Sample(id); err != nil {
			b.Fatal(err)
		}
	}
}

// A sample past statsTTL but within staleTTL is served at once and read
// anew in the background; an older one is read before it is served; a
// forgotten process's baseline is not brought back by a refresh.
func TestSamplerServesStaleAndRefreshes(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		s := NewSampler()
		readAt := func() time.Time {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.last[id.PID].read
		}
		if _, err := s.Sample(id); err != nil {
			t.Fatal(err)
		}
		first := readAt()
		time.Sleep(statsTTL + statsTTL/2)
		if _, err := s.Sample(id); err != nil {
			t.Fatal(err)
		}
		if readAt() != first {
			t.Fatal("a stale sample was read before it was served")
		}
		synctest.Wait()
		if readAt() != first {
			t.Fatal("a stale sample was read anew before backgroundDelay (beside the caller)")
		}
		time.Sleep(backgroundDelay) // the background refresh
		synctest.Wait()
		refreshed := readAt()
		if !refreshed.After(first) {
			t.Fatal("a stale sample was not read anew in the background")
		}
		time.Sleep(staleTTL + time.Second)
		if _, err := s.Sample(id); err != nil {
			t.Fatal(err)
		}
		if !readAt().After(refreshed) {
			t.Fatal("a sample older than staleTTL was served without reading")
		}
		time.Sleep(statsTTL + statsTTL/2)
		s.Sample(id) // stale: a refresh is started
		s.Forget(id.PID)
		time.Sleep(backgroundDelay)
		synctest.Wait()
		s.mu.Lock()
		_, kept := s.last[id.PID]
		s.mu.Unlock()
		if kept {
			t.Error("a refresh brought back the baseline of a forgotten process")
		}
	})
}
