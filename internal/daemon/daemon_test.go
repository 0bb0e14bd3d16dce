package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// removeOwn removes the file it noted, and leaves alone a new file at the
// same path — also when the new file got the removed one's inode number,
// as ext4 gives it at once (the next daemon's PID file and socket, after
// the state directory was removed and made again).
func TestRemoveOwnLeavesANewFileAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "daemon.pid")
	os.WriteFile(path, []byte("1\n"), 0o600)
	removeOwn(path)()
	if _, err := os.Lstat(path); err == nil {
		t.Fatal("its own file was left")
	}
	os.WriteFile(path, []byte("1\n"), 0o600)
	remove := removeOwn(path)
	os.RemoveAll(dir)
	os.Mkdir(dir, 0o700)
	os.WriteFile(path, []byte("2\n"), 0o600)
	remove()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the next daemon's file was removed: %v", err)
	}
}
