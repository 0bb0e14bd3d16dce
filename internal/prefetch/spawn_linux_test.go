package prefetch_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/prefetch"
)

// private is paths.CheckPrivate's rule for a state directory that exists;
// a missing one is left to the client (which makes it).
func TestPrivateAsCheckPrivate(t *testing.T) {
	base := t.TempDir()
	for _, c := range []struct {
		name  string
		setup func(root string)
	}{
		{"own 0700", func(root string) { os.Mkdir(root, 0o700) }},
		{"own 0755 with runtime", func(root string) { os.Mkdir(root, 0o755); os.Mkdir(filepath.Join(root, "runtime"), 0o700) }},
		{"writable by others", func(root string) { os.Mkdir(root, 0o700); os.Chmod(root, 0o777) }},
		{"runtime writable by group", func(root string) {
			os.Mkdir(root, 0o700)
			os.Mkdir(filepath.Join(root, "runtime"), 0o700)
			os.Chmod(filepath.Join(root, "runtime"), 0o770)
		}},
		{"processes writable by others", func(root string) {
			os.MkdirAll(filepath.Join(root, "runtime", "processes"), 0o700)
			os.Chmod(filepath.Join(root, "runtime", "processes"), 0o707)
		}},
		{"a file", func(root string) { os.WriteFile(root, nil, 0o600) }},
		{"a link to an own 0700", func(root string) { os.Mkdir(root+".real", 0o700); os.Symlink(root+".real", root) }},
		{"runtime a link", func(root string) {
			os.MkdirAll(root+".rt", 0o700)
			os.Mkdir(root, 0o700)
			os.Symlink(root+".rt", filepath.Join(root, "runtime"))
		}},
		{"missing", func(string) {}},
	} {
		root := filepath.Join(base, c.name)
		c.setup(root)
		_, statErr := os.Stat(root)
		want := statErr == nil && paths.CheckPrivate(root) == nil
		if got := prefetch.Private(root); got != want {
			t.Errorf("%s: private = %v, CheckPrivate and existence say %v", c.name, got, want)
		}
	}
}
