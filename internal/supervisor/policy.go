package supervisor

import (
	"fmt"
	"time"
)

// Policy says whether a process that ended by itself is started again.
type Policy string

const (
	OnFailure Policy = "on-failure" // non-zero exit, or death by a signal tsm did not send
	Always    Policy = "always"
	Never     Policy = "never"
)

// ParsePolicy accepts "" (the default, on-failure) and the three names.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case "":
		return OnFailure, nil
	case OnFailure, Always, Never:
		return Policy(s), nil
	}
	return "", fmt.Errorf("unknown restart policy %q: use always, on-failure or never", s)
}

// Backoff tunes automatic restarts.
type Backoff struct {
	Initial     time.Duration // delay before the first restart of a crash loop
	Max         time.Duration // the doubling stops here
	MinUptime   time.Duration // a run shorter than this is unstable
	MaxUnstable int           // unstable restarts in a row before status errored
}

// DefaultBackoff restarts a crash after a stable run at once, and reaches
// errored in about 26 s for a process that crashes at once every time:
// 0.1+0.2+0.4+0.8+1.6+3.2 s, then 5 s four times.
var DefaultBackoff = Backoff{
	Initial:     100 * time.Millisecond,
	Max:         5 * time.Second,
	MinUptime:   time.Second,
	MaxUnstable: 10,
}

// Decision is what to do after a run ended on its own.
type Decision struct {
	Restart  bool
	Delay    time.Duration
	Errored  bool // too many unstable restarts in a row: stop trying
	Unstable bool // this run was shorter than MinUptime
}

// RunState is the restart history the decision depends on.
type RunState struct {
	ConsecutiveUnstable int
	NextDelay           time.Duration // 0 = Initial
}

// Decide applies the policy to one exit. failed is a non-zero exit code or a
// signal tsm did not send (or an unknown status of a process that died while
// no daemon watched it). It returns the decision and the updated history.
//
// A crash after a stable run is restarted at once: the service was healthy,
// every millisecond down counts. Only runs shorter than MinUptime back off.
func (b Backoff) Decide(p Policy, failed bool, uptime time.Duration, st RunState) (Decision, RunState) {
	if p == Never || (p == OnFailure && !failed) {
		return Decision{}, RunState{}
	}
	if uptime >= b.MinUptime {
		return Decision{Restart: true}, RunState{}
	}
	st.ConsecutiveUnstable++
	if st.ConsecutiveUnstable > b.MaxUnstable {
		return Decision{Errored: true, Unstable: true}, st
	}
	d := Decision{Restart: true, Unstable: true, Delay: st.NextDelay}
	if d.Delay == 0 {
		d.Delay = b.Initial
	}
	st.NextDelay = min(d.Delay*2, b.Max)
	return d, st
}
