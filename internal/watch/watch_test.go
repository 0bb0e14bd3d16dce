package watch

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

type calls struct {
	mu  sync.Mutex
	got [][]string
}

func (c *calls) fn(changed []string) {
	c.mu.Lock()
	c.got = append(c.got, changed)
	c.mu.Unlock()
}

func (c *calls) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *calls) last() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[len(c.got)-1]
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A burst of writes is one call; ignored paths are not reported; a
// directory created later is watched too; Remove ends it.
func TestWatch(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "src"), 0o755)
	os.MkdirAll(filepath.Join(root, "node_modules", "x"), 0o755)
	w := New(200*time.Millisecond, nil)
	defer w.Close()
	var c calls
	if err := w.Add("app", []string{root}, DefaultIgnore, c.fn); err != nil {
		t.Fatal(err)
	}
	if got := w.watches(); got != 3 {
		t.Errorf("%d directories watched, want 3 (root's parent, root and src; node_modules ignored)", got)
	}
	for i := 0; i < 20; i++ {
		write(t, filepath.Join(root, "src", "main.go"), string(rune('a'+i)))
	}
	eventually(t, "one call", func() bool { return c.n() == 1 })
	if got := c.last(); !slices.Equal(got, []string{filepath.Join(root, "src", "main.go")}) {
		t.Errorf("changed %v", got)
	}

	write(t, filepath.Join(root, "node_modules", "x", "index.js"), "x")
	os.Mkdir(filepath.Join(root, "lib"), 0o755)
	eventually(t, "the new directory reported", func() bool { return c.n() == 2 })
	if got := c.last(); slices.ContainsFunc(got, func(p string) bool { return filepath.Base(filepath.Dir(p)) == "x" }) {
		t.Errorf("an ignored path was reported: %v", got)
	}
	write(t, filepath.Join(root, "lib", "util.go"), "x")
	eventually(t, "a file in the new directory", func() bool { return c.n() == 3 })

	w.Remove("app")
	if got := w.watches(); got != 0 {
		t.Errorf("%d watches left after Remove", got)
	}
	w.Close()
	if err := w.Add("late", []string{root}, nil, c.fn); err == nil {
		t.Error("Add after Close succeeded")
	}
}

// Two subscribers of one tree share its watches; a single file is
// watched through its directory and only it is reported.
func TestWatchShared(t *testing.T) {
	root := t.TempDir()
	w := New(50*time.Millisecond, nil)
	defer w.Close()
	var a, b calls
	conf := filepath.Join(root, "app.conf")
	write(t, conf, "1")
	if err := w.Add("a", []string{root}, nil, a.fn); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("b", []string{conf}, nil, b.fn); err != nil {
		t.Fatal(err)
	}
	if got := w.watches(); got != 2 {
		t.Errorf("%d watches, want 2: root shared, and a's root's parent", got)
	}
	write(t, filepath.Join(root, "other"), "x")
	eventually(t, "a hears of other", func() bool { return a.n() == 1 })
	write(t, conf, "2")
	eventually(t, "b hears of its file", func() bool { return b.n() == 1 })
	if got := b.last(); !slices.Equal(got, []string{conf}) {
		t.Errorf("b got %v", got)
	}
	w.Remove("a")
	if got := w.watches(); got != 1 {
		t.Errorf("%d watches after removing a, want b's 1", got)
	}
	if err := w.Add("c", []string{filepath.Join(root, "missing")}, nil, a.fn); err == nil {
		t.Error("a missing root was accepted")
	}
}

func TestIgnored(t *testing.T) {
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"/p/src/a.go", false},
		{"/p/.git/HEAD", true},
		{"/p/web/node_modules/x/y.js", true},
		{"/p/app.log", true},
		{"/p/logs/out", true},
		// Path patterns (made absolute by AbsPattern), globs included.
		{"/p/out/gen/x.go", true},
		{"/p/src/out/gen/x.go", false},
		{"/p/dist/app.js.map", true},
		{"/p/dist/app.js", false},
		{"/p/build-1/deep/f", true},
		{"/p/build/f", false},
	} {
		patterns := []string{".git", "node_modules", "*.log", "/p/logs"}
		for _, p := range []string{"out/gen", "./dist/*.map", "build-[0-9]/"} {
			patterns = append(patterns, AbsPattern(p, "/p"))
		}
		if got := ignored(tt.path, "/p", patterns); got != tt.want {
			t.Errorf("ignored(%s) = %v", tt.path, got)
		}
	}
}

// watches reports how many directories (and single files) are watched.
func (w *Watcher) watches() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

// A directory deleted and made again — a subdirectory (git checkout) or
// the watched root itself (a build that cleans dist/) — is watched again:
// edits inside the new one are still reported.
func TestWatchRecreated(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "dist")
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	w := New(50*time.Millisecond, nil)
	defer w.Close()
	var c calls
	if err := w.Add("app", []string{root}, nil, c.fn); err != nil {
		t.Fatal(err)
	}
	n := 0
	changed := func(what string, act func()) {
		t.Helper()
		act()
		n++
		eventually(t, what, func() bool { return c.n() >= n })
		time.Sleep(150 * time.Millisecond) // quiet: the next act is a call of its own
		n = c.n()
	}
	changed("src removed and made again", func() {
		os.RemoveAll(src)
		os.Mkdir(src, 0o755)
	})
	changed("an edit in the new src", func() { write(t, filepath.Join(src, "a.js"), "a") })
	changed("the root removed and made again", func() {
		os.RemoveAll(root)
		os.Mkdir(root, 0o755)
	})
	changed("an edit in the new root", func() { write(t, filepath.Join(root, "b.js"), "b") })
}
