package paths

import (
	"slices"
	"strings"
	"testing"
)

func TestRoot(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TSM_DIR": "/x/tsm", "TETRA_DIR": "/t", "HOME": "/h"}, "/x/tsm"},
		{map[string]string{"TETRA_DIR": "/t", "HOME": "/h"}, "/t/tsm"},
		{map[string]string{"HOME": "/h"}, "/h/tetra/tsm"},
		{map[string]string{"TSM_DIR": "/x//tsm/"}, "/x/tsm"},
	}
	for _, tt := range tests {
		got, err := Root(func(k string) string { return tt.env[k] })
		if err != nil || got != tt.want {
			t.Errorf("Root(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}

// A relative TSM_DIR, TETRA_DIR or HOME is refused with the fix (red team:
// each working directory got its own state directory and daemon; with a
// relative HOME the CLI made relhome/tetra in the working directory and the
// daemon refused it naming TSM_DIR, which the user had not set).
func TestRootRelative(t *testing.T) {
	for _, env := range []map[string]string{{"TSM_DIR": "rel"}, {"TETRA_DIR": "./t", "HOME": "/h"}, {"TSM_DIR": "../x", "TETRA_DIR": "/t"}, {"HOME": "relhome"}} {
		got, err := Root(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), "absolute path") {
			t.Errorf("Root(%v) = %q, %v; want a refusal", env, got, err)
		}
	}
}

// The names are the bash TSM's layout, which other tools read: a rename
// here breaks them, so it must be deliberate.
func TestFiles(t *testing.T) {
	for got, want := range map[string]string{
		Socket("/r"):    "/r/tsm.sock",
		DaemonLog("/r"): "/r/daemon.log",
		DaemonPID("/r"): "/r/daemon.pid",
		Lock("/r"):      "/r/daemon.lock",
		Events("/r"):    "/r/events.jsonl",
		Ports("/r"):     "/r/ports",
		Processes("/r"): "/r/runtime/processes",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// The daemon keeps what locates the user and tsm's own settings, never
// the caller's secrets.
func TestDaemonEnv(t *testing.T) {
	got := DaemonEnv([]string{"PATH=/bin", "API_TOKEN=s3cret", "HOME=/h", "TSM_DIR=/elsewhere", "TSM_NO_CGROUPS=1", "TSM_READY_FD=9",
		"LC_ALL=C", "AWS_SECRET_ACCESS_KEY=x", "SSH_AUTH_SOCK=/tmp/a"}, "/r")
	want := []string{"TSM_DIR=/r", "PATH=/bin", "HOME=/h", "TSM_NO_CGROUPS=1", "LC_ALL=C"}
	if !slices.Equal(got, want) {
		t.Errorf("DaemonEnv = %q, want %q", got, want)
	}
}
