package daemon

import (
	"os"
	"testing"
	"time"

	"github.com/tetra/tsm/internal/proc"
)

// The program of a process is served again for exeTTL only, and only to
// the same process: a PID reused by another process is read anew.
func TestExeCache(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var c exeCache
	id := proc.Identity{PID: os.Getpid(), StartTime: 1}
	if got := c.get(id); got != self {
		t.Fatalf("get = %q, want %q", got, self)
	}
	c.m[id] = exeAt{exe: "/cached", at: time.Now()}
	if got := c.get(id); got != "/cached" {
		t.Errorf("within exeTTL: %q, want the cached /cached", got)
	}
	if got := c.get(proc.Identity{PID: id.PID, StartTime: 2}); got != self {
		t.Errorf("another process on the PID: %q, want %q read anew", got, self)
	}
	c.m[id] = exeAt{exe: "/cached", at: time.Now().Add(-exeTTL)}
	if got := c.get(id); got != self {
		t.Errorf("after exeTTL: %q, want %q read anew", got, self)
	}
}
