package daemon

import (
	"sync"
	"time"

	"github.com/tetra/tsm/internal/proc"
)

// exeTTL is how long exeCache serves a program again: the age CPU and
// memory figures may have in a listing too (proc's sample cache).
const exeTTL = time.Second

// exeCache remembers the program each live process runs (proc.Executable,
// a readlink of /proc/<pid>/exe) for exeTTL: the readlinks were a fifth of
// the daemon's CPU in a `tsm list --json` of 100 processes. Entries are
// keyed by process identity, so a reused PID is read anew. `tsm info`
// reads the link itself, every time. The zero value is ready to use.
type exeCache struct {
	mu sync.Mutex
	m  map[proc.Identity]exeAt
}

type exeAt struct {
	exe string
	at  time.Time
}

// get returns the program id runs, read at most exeTTL ago.
func (c *exeCache) get(id proc.Identity) string {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < exeTTL {
		return e.exe
	}
	exe := proc.Executable(id.PID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[proc.Identity]exeAt{}
	}
	if len(c.m) >= 1024 {
		// Processes come and go; what has expired is read anew anyway.
		for k, e := range c.m {
			if now.Sub(e.at) >= exeTTL {
				delete(c.m, k)
			}
		}
	}
	c.m[id] = exeAt{exe: exe, at: now}
	return exe
}
