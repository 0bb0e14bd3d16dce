package supervisor

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"testing/synctest"
	"unsafe"

	"github.com/tetra/tsm/internal/execctx"
)

// Processes started with the same environment and context share one copy
// of each (issue 12: a copy each was 1.5 KB of every managed process); a
// process with another environment keeps its own, and an append to a shared
// environment never writes into it.
func TestLaunchesShareEnvAndContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTestSupervisor(t)
		umask := 0o22
		ctx := execctx.Context{Umask: &umask, Limits: []execctx.Limit{{Resource: "nofile", Soft: 1024, Hard: 4096}}}
		cwd := t.TempDir() // the environment has its PWD
		for i := range 3 {
			startFake(t, s, fmt.Sprintf("p%d", i), func(r *StartRequest) {
				c := ctx
				c.Limits = append([]execctx.Limit(nil), ctx.Limits...)
				r.Context = &c
				r.Env, r.Cwd = []string{"PATH=" + os.Getenv("PATH"), "A=1"}, cwd
			})
		}
		startFake(t, s, "other", func(r *StartRequest) { r.Env, r.Cwd = []string{"PATH=" + os.Getenv("PATH"), "A=2"}, cwd })
		synctest.Wait() // every owner is done
		launch := func(name string) ([]string, *execctx.Context) {
			// Under the table's lock: after the owner's last publish.
			s.mu.Lock()
			defer s.mu.Unlock()
			p := s.procs[name]
			return p.launch.Env, p.launch.Context
		}
		e0, c0 := launch("p0")
		for _, name := range []string{"p1", "p2"} {
			e, c := launch(name)
			if unsafe.SliceData(e) != unsafe.SliceData(e0) || c != c0 {
				t.Errorf("%s does not share p0's environment and context", name)
			}
		}
		if e, _ := launch("other"); unsafe.SliceData(e) == unsafe.SliceData(e0) || !slices.Contains(e, "A=2") {
			t.Errorf("other runs with %q", e)
		}
		if grown := append(e0, "B=1"); unsafe.SliceData(grown) == unsafe.SliceData(e0) {
			t.Error("an append writes into the shared environment")
		}
	})
}
