// Package execctx owns the part of a process's execution context that is
// not its environment: resource limits, umask, scheduling priority (nice)
// and, on Linux, the OOM score adjustment. The CLI captures the caller's at
// `tsm start` (and `restart --update-env`); the daemon replays it on every
// run, through a trampoline — the tsm binary re-executed as
// `tsm __exec-context` in the forked child — because Go's os/exec cannot
// set limits or umask between fork and exec, and setting them after the
// start (prlimit) would race with the program.
//
// It imports no tsm package: api, store, proc and cli share its types.
package execctx

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Unlimited is RLIM_INFINITY as Getrlimit reports it.
const Unlimited = math.MaxUint64

// Limit is one resource limit.
type Limit struct {
	Resource string `json:"resource"` // nofile, nproc, core, stack ... (ulimit's names, lower case)
	Soft     uint64 `json:"soft"`     // Unlimited for "unlimited"
	Hard     uint64 `json:"hard"`
}

// Context is a captured execution context. Every field is what the
// process gets; a nil pointer means "not captured" (left as inherited).
type Context struct {
	Limits      []Limit `json:"limits,omitempty"`
	Umask       *int    `json:"umask,omitempty"`
	Nice        *int    `json:"nice,omitempty"`
	OOMScoreAdj *int    `json:"oom_score_adj,omitempty"` // Linux only
}

// Capture reads the calling process's context. The soft open-files limit
// is the one exception to reading it directly: the Go runtime raised this
// process's to the hard limit at start-up (and gives the original back only
// to children), so it is read from a child shell.
func Capture() Context {
	var c Context
	for _, r := range resources {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(r.id, &rl); err != nil {
			continue
		}
		if r.name == "nofile" {
			if soft, ok := childNofile(); ok {
				rl.Cur = soft
			}
		}
		c.Limits = append(c.Limits, Limit{Resource: r.name, Soft: rl.Cur, Hard: rl.Max})
	}
	if m, ok := umask(); ok {
		c.Umask = &m
	}
	if n, ok := nice(); ok {
		c.Nice = &n
	}
	if o, ok := oomScoreAdj(); ok {
		c.OOMScoreAdj = &o
	}
	return c
}

func childNofile() (uint64, bool) {
	out, err := exec.Command("/bin/sh", "-c", "ulimit -Sn").Output()
	if err != nil {
		return 0, false
	}
	return parseLimit(strings.TrimSpace(string(out)))
}

func parseLimit(s string) (uint64, bool) {
	if s == "unlimited" {
		return Unlimited, true
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// Equal reports whether a process started with c would get exactly what
// one started without it gets under base.
func (c Context) Equal(base Context) bool {
	a, _ := json.Marshal(c.normal(base))
	b, _ := json.Marshal(base)
	return string(a) == string(b)
}

// normal fills what c did not capture from base, so comparing only looks
// at what c would change.
func (c Context) normal(base Context) Context {
	if c.Umask == nil {
		c.Umask = base.Umask
	}
	if c.Nice == nil {
		c.Nice = base.Nice
	}
	if c.OOMScoreAdj == nil {
		c.OOMScoreAdj = base.OOMScoreAdj
	}
	limits := slices.Clone(base.Limits)
	for _, l := range c.Limits {
		if i := slices.IndexFunc(limits, func(b Limit) bool { return b.Resource == l.Resource }); i >= 0 {
			limits[i] = l
		}
	}
	c.Limits = limits
	return c
}

// Lines describes c for `tsm info`, one setting a line: "umask 0022",
// "nofile 1024/524288" (soft/hard). Limits with no bound at all are left
// out and counted ("9 more limits unlimited"): they say nothing.
func (c Context) Lines() []string {
	var out []string
	if c.Umask != nil {
		out = append(out, fmt.Sprintf("umask %04o", *c.Umask))
	}
	unbounded := 0
	for _, l := range c.Limits {
		if l.Soft == Unlimited && l.Hard == Unlimited {
			unbounded++
			continue
		}
		out = append(out, fmt.Sprintf("%s %s/%s", l.Resource, limitString(l.Soft), limitString(l.Hard)))
	}
	if unbounded > 0 {
		out = append(out, fmt.Sprintf("%d more limits unlimited", unbounded))
	}
	if c.Nice != nil {
		out = append(out, fmt.Sprintf("nice %d", *c.Nice))
	}
	if c.OOMScoreAdj != nil {
		out = append(out, fmt.Sprintf("oom_score_adj %d", *c.OOMScoreAdj))
	}
	return out
}

func limitString(n uint64) string {
	if n == Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(n, 10)
}

// TrampolineArg is the hidden first argument that makes the tsm binary
// apply a context and exec a program: tsm __exec-context <context JSON>
// <path> <argv...>. cmd/tsm hands it to Main before anything else runs.
const TrampolineArg = "__exec-context"

// Wrap returns the argv that runs path with argv under c through the
// trampoline binary self.
func Wrap(self string, c Context, path string, argv []string) []string {
	b, _ := json.Marshal(c)
	return append([]string{"tsm", TrampolineArg, string(b), path}, argv...)
}

// Main is the trampoline: it applies the context in args[0] to this
// process and execs args[1] with argv args[2:], keeping the environment. A
// setting that cannot be applied (a hard limit above the daemon's, which
// only root may raise) is reported on stderr, which is the process's log,
// and the program runs with what could be set. It returns only on failure,
// with the exit status a shell would give (127 not found, 126 not runnable).
func Main(args []string) int {
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "tsm: usage: tsm "+TrampolineArg+" <context> <path> <argv...> (internal; used by the daemon)")
		return 2
	}
	var c Context
	if err := json.Unmarshal([]byte(args[0]), &c); err != nil {
		fmt.Fprintf(os.Stderr, "tsm: bad execution context: %v\n", err)
		return 2
	}
	for _, err := range c.apply() {
		fmt.Fprintf(os.Stderr, "tsm: warning: %v\n", err)
	}
	err := syscall.Exec(args[1], args[2:], os.Environ())
	fmt.Fprintf(os.Stderr, "tsm: exec %s: %v\n", args[1], err)
	if err == syscall.ENOENT {
		return 127
	}
	return 126
}

// apply sets c on the calling process. Setting RLIMIT_NOFILE through
// syscall.Setrlimit also stops the Go runtime from restoring its own
// start-up value at exec.
func (c Context) apply() []error {
	var errs []error
	for _, l := range c.Limits {
		id, ok := resourceID(l.Resource)
		if !ok {
			continue
		}
		rl := syscall.Rlimit{Cur: l.Soft, Max: l.Hard}
		if err := syscall.Setrlimit(id, &rl); err != nil {
			errs = append(errs, fmt.Errorf("cannot set the %s limit to %s/%s (%v): the daemon's hard limit is lower; stop the daemon (tsm daemon stop) and let this shell start it", l.Resource, limitString(l.Soft), limitString(l.Hard), err))
		}
	}
	if c.Umask != nil {
		syscall.Umask(*c.Umask)
	}
	if c.Nice != nil {
		if err := setNice(*c.Nice); err != nil {
			errs = append(errs, fmt.Errorf("cannot set nice %d: %v", *c.Nice, err))
		}
	}
	if c.OOMScoreAdj != nil {
		if err := setOOMScoreAdj(*c.OOMScoreAdj); err != nil {
			errs = append(errs, fmt.Errorf("cannot set oom_score_adj %d: %v", *c.OOMScoreAdj, err))
		}
	}
	return errs
}

type resource struct {
	name string
	id   int
}

func resourceID(name string) (int, bool) {
	for _, r := range resources {
		if r.name == name {
			return r.id, true
		}
	}
	return 0, false
}
