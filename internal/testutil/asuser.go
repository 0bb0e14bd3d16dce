// Package testutil holds what tests of several packages need and that no
// production code uses: running the test binary as another user.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the user RunAs runs as: a UID that owns nothing tsm makes.
const Nobody = 65534

// RunAs runs the test named test of the current test binary as user uid
// (gid the same), with env added to this process's environment, and
// returns what it printed. It needs root; the binary is copied into a
// directory other users can read, since the build cache is private.
func RunAs(t *testing.T, uid int, test string, env ...string) []byte {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("testutil.RunAs needs root")
	}
	// Not t.TempDir: its parent directory is closed to other users.
	dir, err := os.MkdirTemp("", "tsm-as-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, filepath.Base(os.Args[0]))
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, _ := cmd.CombinedOutput()
	return out
}
