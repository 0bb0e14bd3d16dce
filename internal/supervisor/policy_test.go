package supervisor

import (
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": OnFailure, "always": Always, "on-failure": OnFailure, "never": Never} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParsePolicy("sometimes"); err == nil {
		t.Error("ParsePolicy(sometimes) succeeded")
	}
}

func TestDecidePolicy(t *testing.T) {
	b := DefaultBackoff
	long := 10 * time.Second
	tests := []struct {
		policy  Policy
		failed  bool
		restart bool
	}{
		{OnFailure, true, true},
		{OnFailure, false, false}, // exit 0 under on-failure: stopped
		{Always, false, true},
		{Always, true, true},
		{Never, true, false},
		{Never, false, false},
	}
	for _, tt := range tests {
		d, _ := b.Decide(tt.policy, tt.failed, long, RunState{})
		if d.Restart != tt.restart {
			t.Errorf("Decide(%s, failed=%v) restart = %v, want %v", tt.policy, tt.failed, d.Restart, tt.restart)
		}
	}
}

// A process that crashes at once every time backs off exponentially up to
// the cap and is declared errored after MaxUnstable restarts, well within a
// minute.
func TestDecideCrashLoop(t *testing.T) {
	b := DefaultBackoff
	var st RunState
	var d Decision
	var delays []time.Duration
	var total time.Duration
	for i := 0; i < 100; i++ {
		d, st = b.Decide(OnFailure, true, 10*time.Millisecond, st)
		if !d.Restart {
			break
		}
		if !d.Unstable {
			t.Fatalf("restart %d not counted unstable", i)
		}
		delays = append(delays, d.Delay)
		total += d.Delay
	}
	if !d.Errored {
		t.Fatalf("never errored; delays %v", delays)
	}
	if len(delays) != b.MaxUnstable {
		t.Errorf("%d restarts before errored, want %d", len(delays), b.MaxUnstable)
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000}
	for i, w := range want {
		if delays[i] != w*time.Millisecond {
			t.Errorf("delay %d = %v, want %v", i, delays[i], w*time.Millisecond)
		}
	}
	if total > time.Minute {
		t.Errorf("errored after %v of backoff, want < 1m", total)
	}
}

// A run that stayed up longer than MinUptime resets the backoff and the
// unstable count.
func TestDecideStableRunResets(t *testing.T) {
	b := DefaultBackoff
	var st RunState
	for i := 0; i < 5; i++ {
		_, st = b.Decide(OnFailure, true, 0, st)
	}
	d, st := b.Decide(OnFailure, true, 2*b.MinUptime, st)
	if !d.Restart || d.Unstable || d.Delay != 0 || st != (RunState{}) {
		t.Errorf("after a stable run: %+v %+v; want an immediate restart and a clean history", d, st)
	}
	// The next crash loop starts from the initial delay again.
	d, _ = b.Decide(OnFailure, true, 0, st)
	if d.Delay != b.Initial {
		t.Errorf("first unstable restart after a stable run waits %v, want %v", d.Delay, b.Initial)
	}
}
