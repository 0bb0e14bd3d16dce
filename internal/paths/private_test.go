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
