package proc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// SetMemory writes memory.high at the limit and memory.max a quarter
// above; without the controller it says so (ErrUnsupported).
func TestSetMemory(t *testing.T) {
	base := t.TempDir()
	c := &Cgroups{base: base}
	svc := filepath.Join(base, "web")
	os.Mkdir(svc, 0o755)
	if err := c.SetMemory(svc, 400<<20); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("without the controller: %v, want ErrUnsupported", err)
	}
	for _, f := range []string{"memory.high", "memory.max"} {
		os.WriteFile(filepath.Join(svc, f), nil, 0o644)
	}
	if err := c.SetMemory(svc, 400<<20); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"memory.high": "419430400", "memory.max": "524288000"} {
		if b, _ := os.ReadFile(filepath.Join(svc, f)); string(b) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
	if err := c.SetMemory("/sys/fs/cgroup/elsewhere", 1); err == nil {
		t.Error("a path outside the subtree was accepted")
	}
}
