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
