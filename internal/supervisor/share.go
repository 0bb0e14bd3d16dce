package supervisor

import (
	"reflect"
	"slices"
	"sync"

	"github.com/tetra/tsm/internal/execctx"
	"github.com/tetra/tsm/internal/store"
)

// launchShare keeps one copy of each environment and execution context that
// processes run with, for the ones met most recently: processes started from
// one shell or one stack file all have the same, and a copy each was the
// biggest part of a managed process's memory after its own record (at 1000
// processes, 40 variables were 0.7 KB of slice a process and the 16
// resource limits of its context 0.8 KB). The variables' strings themselves
// are interned already (spec.envList, store.ReadLaunch); this shares the
// slices that hold them.
//
// Shared values are never changed in place: a launch's Env is only read or
// copied (withEnv), and its capacity is cut to its length, so that even an
// append copies; a Context is only read.
type launchShare struct {
	mu   sync.Mutex // guards envs and ctxs
	envs [][]string
	ctxs []*execctx.Context
}

// shareRecent is how many distinct environments (and contexts) are kept for
// sharing: a bound, so that a daemon that has seen many (restarts with
// --update-env, starts from many shells) keeps only what its processes use,
// plus a few. One not among them is merely not shared.
const shareRecent = 8

// share returns l with its Env and Context replaced by the copies kept, when
// equal ones are kept, and keeps its own otherwise.
func (c *launchShare) share(l store.Launch) store.Launch {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(l.Env) > 0 {
		l.Env = recent(&c.envs, slices.Clip(l.Env), slices.Equal[[]string])
	}
	if l.Context != nil {
		l.Context = recent(&c.ctxs, l.Context, func(a, b *execctx.Context) bool { return reflect.DeepEqual(a, b) })
	}
	return l
}

// recent returns the kept value equal to v (now the most recently used), or
// keeps v, dropping the least recently used beyond shareRecent.
func recent[T any](kept *[]T, v T, eq func(a, b T) bool) T {
	s := *kept
	for i, k := range s {
		if eq(k, v) {
			copy(s[i:], s[i+1:])
			s[len(s)-1] = k
			return k
		}
	}
	if len(s) == shareRecent {
		copy(s, s[1:])
		s[len(s)-1] = v
	} else {
		*kept = append(s, v)
	}
	return v
}
