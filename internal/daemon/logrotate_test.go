package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/store"
)

// A rotation failure that persists is said once in daemon.log, not at every
// look (ten a second while the loop is busy), and again once it changes.
func TestRotateFailureSaidOnce(t *testing.T) {
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A directory where current.out should be: bigger than the cap, and
	// it cannot be opened for writing.
	if err := os.MkdirAll(filepath.Join(st.Dir("app"), "current.out"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	cfg := logs.DefaultConfig()
	cfg.Policy = logs.Policy{MaxSize: 100, Keep: 1}
	rot := newRotator(st, log)
	for range 5 {
		rot.all(cfg)
	}
	if n := strings.Count(buf.String(), "log rotation failed"); n != 1 {
		t.Errorf("%d warnings in 5 looks, want 1:\n%s", n, buf.String())
	}
}

// meta.json is written by exchanging it with its spare, so its inode
// alternates between two; a file system's clock is coarse (a few ms), so
// the third write of a quick series (a restart's intent and records) can
// leave meta.json with the inode and the mtime it had at the first. The
// policy read between them must not be kept for good.
func TestPolicyCacheCoarseClock(t *testing.T) {
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(pid int, maxSize int64) {
		t.Helper()
		m := store.Meta{Name: "app", PID: pid, Status: store.StatusOnline, LogMaxSize: &maxSize}
		if err := st.WriteIntent(m); err != nil {
			t.Fatal(err)
		}
	}
	path := st.MetaPath("app")
	write(100, 1000)
	write(100, 1000) // both names exist: the next writes alternate inodes
	var c policyCache
	def := logs.Policy{MaxSize: 1 << 20, Keep: 3}
	if pol, pid, _ := c.policy(st, "app", def); pol.MaxSize != 1000 || pid != 100 {
		t.Fatalf("first read: %d, pid %d", pol.MaxSize, pid)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	write(200, 2000)
	write(300, 3000) // the first inode again
	// What a coarse clock does: the same mtime as at the first read.
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if pol, pid, _ := c.policy(st, "app", def); pol.MaxSize != 3000 || pid != 300 {
		t.Errorf("after two more writes: max size %d, pid %d; want 3000, pid 300", pol.MaxSize, pid)
	}
}
