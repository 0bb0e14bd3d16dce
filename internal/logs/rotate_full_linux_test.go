package logs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// On a full file system there is no room for the copy of the head: rotation
// drops the head instead, so the live file comes back within its cap and
// the disk does not stay full (before: "no space left on device" at every
// look, for good, with the file and the disk as they were).
func TestRotateFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("needs a small tmpfs to fill (run as root): %v", err)
	}
	defer unix.Unmount(dir, 0)
	path := filepath.Join(dir, "current.out")
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyz\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(line); err != nil {
			break // full
		}
	}
	f.Close()
	fi, _ := os.Stat(path)
	full := fi.Size()
	p := Policy{MaxSize: 64 << 10, Keep: 2}
	m, err := Rotate(path, p)
	if m != Dropped || err == nil {
		t.Fatalf("Rotate on a full disk = %q, %v; want %q and an error saying what was dropped", m, err, Dropped)
	}
	t.Log(err)
	fi, _ = os.Stat(path)
	if fi.Size() > p.MaxSize {
		t.Errorf("live file %d bytes after the rotation, cap %d", fi.Size(), p.MaxSize)
	}
	if got := Base(path); got != full-fi.Size() {
		t.Errorf("Base = %d, want the %d bytes dropped", got, full-fi.Size())
	}
	// Room again: the next rotation copies as usual.
	if err := os.WriteFile(path, bytes.Repeat(line, 4000), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := Rotate(path, p); err != nil || m == Dropped {
		t.Errorf("Rotate with room = %q, %v; want a copy", m, err)
	}
}
