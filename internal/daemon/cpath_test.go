package daemon

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/store"
)

// stat of a cpath is unix.Stat or unix.Lstat of its path.
func TestStatCPath(t *testing.T) {
	dir := t.TempDir()
	file, link := filepath.Join(dir, "file"), filepath.Join(dir, "link")
	if err := os.WriteFile(file, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := stat(newCPath(link), &st, true); err != nil || st.Size != 5 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("stat of the link: size %d, mode %o, %v; want the file's", st.Size, st.Mode, err)
	}
	if err := stat(newCPath(link), &st, false); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("lstat of the link: mode %o, %v; want the link's", st.Mode, err)
	}
	if err := stat(newCPath(filepath.Join(dir, "missing")), &st, true); !errors.Is(err, unix.ENOENT) {
		t.Errorf("stat of a missing file: %v, want ENOENT", err)
	}
}

// The rotation loop's look at a process whose meta.json did not change
// allocates nothing (issue 12: its stats copied every path, three a process
// a second, half of an idle daemon's garbage at 1000 processes; each
// collection mapped back code pages the idle trim had dropped).
func TestPolicyLookAllocatesNothing(t *testing.T) {
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteIntent(store.Meta{Name: "app", PID: 100, Status: store.StatusOnline}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute) // settled: older than the coarse clock
	if err := os.Chtimes(st.MetaPath("app"), old, old); err != nil {
		t.Fatal(err)
	}
	var c policyCache
	def := logs.Policy{MaxSize: 1 << 20, Keep: 3}
	c.policy(st, "app", def)
	if n := testing.AllocsPerRun(100, func() { c.policy(st, "app", def) }); n != 0 {
		t.Errorf("%v allocations a look at an unchanged meta.json, want 0", n)
	}
}

// The rotation loop reads the processes directory again only when it
// changed: a process made or deleted since the last look is seen at the
// next one all the same, and a look at an unchanged directory allocates
// nothing (issue 12: at 1000 processes, a read each second was most of
// what an idle daemon still allocated).
func TestRotatorListsOnlyWhenChanged(t *testing.T) {
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var rot *rotator
	add := func(name string) {
		t.Helper()
		if err := st.WriteIntent(store.Meta{Name: name, Status: store.StatusOnline}); err != nil {
			t.Fatal(err)
		}
	}
	age := func() { // settled: older than the coarse clock
		t.Helper()
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(st.ProcessesDir(), old, old); err != nil {
			t.Fatal(err)
		}
	}
	has := func(want ...string) {
		t.Helper()
		if len(rot.procs) != len(want) {
			t.Fatalf("look %d: %d processes, want %v", rot.look, len(rot.procs), want)
		}
		for _, n := range want {
			if rot.procs[n] == nil {
				t.Fatalf("look %d: %s not seen, want %v", rot.look, n, want)
			}
		}
	}
	add("a")
	add("b")
	age()
	rot = newRotator(st, slog.New(slog.DiscardHandler))
	cfg := logs.DefaultConfig()
	rot.all(cfg)
	has("a", "b")
	if n := testing.AllocsPerRun(20, func() { rot.names() }); n != 0 {
		t.Errorf("%v allocations a look at an unchanged processes directory, want 0", n)
	}
	add("c")
	rot.all(cfg)
	has("a", "b", "c")
	age()
	rot.all(cfg)
	if err := os.RemoveAll(st.Dir("b")); err != nil {
		t.Fatal(err)
	}
	rot.all(cfg)
	has("a", "c")
}
