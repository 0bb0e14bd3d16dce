package proc

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLookPathSkipsEmptyEntries puts a program in the current directory
// and checks that no PATH with an empty entry finds it there.
func TestLookPathSkipsEmptyEntries(t *testing.T) {
	const name = "tsm-lookpath-probe"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, path := range []string{"", ":", "/nonexistent:", ":/nonexistent", "/nonexistent::/nonexistent2"} {
		if got, err := lookPath(name, []string{"PATH=" + path}); err == nil {
			t.Errorf("PATH=%q: lookPath found %q in the current directory", path, got)
		}
	}
	want := filepath.Join(dir, name)
	for _, path := range []string{dir, ":" + dir, "/nonexistent::" + dir} {
		if got, err := lookPath(name, []string{"PATH=" + path}); err != nil || got != want {
			t.Errorf("PATH=%q: lookPath = %q, %v; want %q", path, got, err, want)
		}
	}
}
