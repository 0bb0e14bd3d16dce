package paths

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tsm")
	if err := CheckPrivate(root); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
	if err := os.MkdirAll(Processes(root), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(root); err != nil {
		t.Errorf("a directory of ours, 0755: %v", err)
	}
	os.Chmod(filepath.Join(root, "runtime"), 0o777)
	if err := CheckPrivate(root); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("a world-writable runtime: %v", err)
	}
	os.Chmod(filepath.Join(root, "runtime"), 0o755)
	if os.Geteuid() == 0 {
		// Another owner: only root can make one here.
		os.Chown(root, 65534, 65534)
		if err := CheckPrivate(root); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("a directory of another user: %v", err)
		}
	}
}

// A symbolic link below the state directory is refused with advice that
// fits it: TSM_DIR pointed at where runtime leads would be another state
// directory, with runtime/ nested in the old one's runtime.
func TestCheckPrivateLinkAdvice(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "tsm")
	if err := os.MkdirAll(filepath.Join(tmp, "elsewhere"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(tmp, "elsewhere"), filepath.Join(root, "runtime")); err != nil {
		t.Fatal(err)
	}
	err := CheckPrivate(root)
	if err == nil || !strings.Contains(err.Error(), "runtime is a symbolic link") {
		t.Fatalf("CheckPrivate = %v, want runtime refused as a symbolic link", err)
	}
	if strings.Contains(err.Error(), "set TSM_DIR to the directory it points to") {
		t.Errorf("CheckPrivate advises TSM_DIR at runtime's target: %v", err)
	}
	if !strings.Contains(err.Error(), "a directory of its own") {
		t.Errorf("CheckPrivate does not say to make runtime a real directory: %v", err)
	}
}
