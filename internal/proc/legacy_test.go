package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A record without an identity is believed only if its process started
// when the record says and runs what the record says.
func TestVerifyLegacy(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid, now := cmd.Process.Pid, time.Now()
	// Under load the first look can come before the child's exec shows in
	// /proc (a helper saw it fail once): wait until it does.
	if runtime.GOOS == "linux" {
		eventually(t, "the child to run sleep", func() bool {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			return strings.HasPrefix(string(b), "sleep\x00")
		})
	}
	for _, tt := range []struct {
		started time.Time
		command string
		want    error
	}{
		{now, "sleep 1000", nil},
		{now.Add(-2 * time.Second), "/bin/sleep 1000", nil},
		{now.Add(-772 * 24 * time.Hour), "sleep 1000", ErrNotVerified}, // a recycled PID
		{now.Add(time.Hour), "sleep 1000", ErrNotVerified},
		{now, "sleep 100", ErrNotVerified},
		{now, "python3 -m http.server", ErrNotVerified},
		{now, "", ErrNotVerified},
	} {
		id, err := VerifyLegacy(pid, tt.started, tt.command)
		if tt.want == nil && (err != nil || id.PID != pid || id.StartTime == 0) {
			t.Errorf("VerifyLegacy(%s, %q) = %+v, %v; want its identity", tt.started, tt.command, id, err)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("VerifyLegacy(%s, %q) = %v, want %v", tt.started, tt.command, err, tt.want)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := VerifyLegacy(pid, now, "sleep 1000"); !errors.Is(err, ErrNoProcess) {
		t.Errorf("a gone process: %v", err)
	}
}

func TestSameCommand(t *testing.T) {
	for _, tt := range []struct {
		cmdline, recorded string
		want              bool
	}{
		{"/usr/bin/python3 -m http.server 3000", "/usr/bin/python3 -m http.server 3000", true},
		{"python3 -m http.server 3000", "/usr/bin/python3 -m http.server 3000", true},
		{"bash -c node server.js", "node server.js", true},
		{"node server.js", "node   server.js", true},
		{"node evil.js server.js", "node server.js", false},
		{"node server.js --inspect", "node server.js", false},
		{"server.js", "node server.js", false},
		{"sshd: root", "sshd: root@pts/0", false},
		{"anything", "", false},
	} {
		if got := sameCommand(tt.cmdline, tt.recorded); got != tt.want {
			t.Errorf("sameCommand(%q, %q) = %v", tt.cmdline, tt.recorded, got)
		}
	}
}
