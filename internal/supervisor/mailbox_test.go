package supervisor

import (
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

// An idle process costs no goroutine: its owner runs only while its
// mailbox has messages (issue 12: a goroutine parked per process was 5–6
// KiB of the daemon's memory each). Messages to an idle process still
// start an owner, and are handled in order.
func TestIdleProcessHasNoGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTestSupervisor(t)
		synctest.Wait()
		before := runtime.NumGoroutine()
		const n = 20
		for i := range n {
			startFake(t, s, fmt.Sprintf("p%d", i), nil)
		}
		synctest.Wait()
		if extra := runtime.NumGoroutine() - before; extra >= n {
			t.Errorf("%d goroutines more with %d idle processes, want fewer than one each", extra, n)
		}
		// Idle owners come back for a request: a stop and a start again.
		if _, err := s.Stop("p3", time.Second); err != nil {
			t.Fatal(err)
		}
		if st := s.metaOf(t, "p3").State; st != Stopped.String() {
			t.Errorf("p3 %s after stop, want stopped", st)
		}
		startFake(t, s, "p3", nil)
		if st := s.metaOf(t, "p3").State; st != Online.String() {
			t.Errorf("p3 %s after start, want online", st)
		}
	})
}
