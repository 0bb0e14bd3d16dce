package supervisor

import (
	"os"
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/testutil"
)

// A start that loses to another start of the same name, still before its
// fork, is told so, not "already running (pid 0)" (red team: six parallel
// starts of one name).
func TestAlreadyRunningWhileStarting(t *testing.T) {
	if msg := alreadyRunning(store.Meta{Name: "web", TsmID: 3}).Error(); strings.Contains(msg, "pid 0") || !strings.Contains(msg, "being started") {
		t.Errorf("starting: %q", msg)
	}
	if msg := alreadyRunning(store.Meta{Name: "web", TsmID: 3, PID: 42}).Error(); !strings.Contains(msg, "pid 42") {
		t.Errorf("running: %q", msg)
	}
}

// A port an unprivileged user may not bind is described as such, not as
// held by "another user's" process (red team: --port 80 as a user). As
// root (CI), the check runs in a copy of this test as another user.
func TestPrivilegedPortDescribed(t *testing.T) {
	if os.Geteuid() == 0 {
		out := testutil.RunAs(t, testutil.Nobody, "TestPrivilegedPortDescribed")
		if !strings.Contains(string(out), "--- PASS: TestPrivilegedPortDescribed") {
			t.Errorf("as uid %d:\n%s", testutil.Nobody, out)
		}
		return
	}
	if !privilegedPort(1) {
		t.Skip("port 1 is bindable by a user here: this system has no privileged ports")
	}
	s := &Supervisor{procs: map[string]*process{}}
	if msg := s.describeHolder(1); !strings.Contains(msg, "privileges") {
		t.Errorf("describeHolder(1) = %q", msg)
	}
}
