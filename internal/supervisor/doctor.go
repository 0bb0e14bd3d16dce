package supervisor

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
)

// Orphan is a live process started by a run of this state directory (its
// environment names one of our process directories and carries a run
// marker) that no current run tracks: left behind by a run tsm lost, or by
// one whose ending failed.
type Orphan struct {
	proc.Identity
	Command string
	// Name is the entry whose directory the process names (it may be
	// deleted); Marker its run marker entry.
	Name, Marker string
}

// Orphans lists the orphans of this state directory. The process table is
// read before the table of runs: a run spawned in between has its marker
// published before its fork, so none of its processes is taken for an
// orphan.
func (s *Supervisor) Orphans() ([]Orphan, error) {
	dirs := s.store.ProcessesDir() + string(filepath.Separator)
	cs, err := proc.FindCarriers("TSM_PROCESS_DIR="+dirs, "TSM_PROCESS_DIR", markerKey)
	if err != nil && len(cs) == 0 {
		return nil, err
	}
	metas, _ := s.Snapshot()
	live := map[string]bool{}
	for _, m := range metas {
		if st, ok := ParseState(m.State); ok && st.active() && m.Marker != "" {
			live[m.Marker] = true
		}
	}
	var out []Orphan
	for _, c := range cs {
		v, ok := c.Env[markerKey]
		marker := markerKey + "=" + v
		// Without a marker it may be a service the bash TSM started (it
		// exports TSM_PROCESS_DIR too), adopted and running: never ours
		// to call an orphan.
		if !ok || live[marker] || s.isMain(c.PID) {
			continue
		}
		name := strings.TrimPrefix(c.Env["TSM_PROCESS_DIR"], dirs)
		out = append(out, Orphan{Identity: c.Identity, Command: c.Command, Name: name, Marker: marker})
	}
	return out, err
}

// CleanResult says what Clean did to one process.
type CleanResult struct {
	Orphan
	Action string // ended, killed (SIGKILL was needed), skipped (no longer an orphan, or another process now)
}

// Clean ends the given orphans, and only those that still are orphans
// with the same identity: SIGTERM, then SIGKILL to what is left after
// grace.
func (s *Supervisor) Clean(want []proc.Identity, grace time.Duration) ([]CleanResult, error) {
	now, err := s.Orphans()
	if err != nil && len(now) == 0 {
		return nil, err
	}
	current := map[proc.Identity]Orphan{}
	for _, o := range now {
		current[o.Identity] = o
	}
	var res []CleanResult
	var ending []int
	for _, id := range want {
		o, ok := current[id]
		if !ok {
			res = append(res, CleanResult{Orphan: Orphan{Identity: id}, Action: "skipped"})
			continue
		}
		s.runner.Signal(id.PID, syscall.SIGTERM)
		ending = append(ending, len(res))
		res = append(res, CleanResult{Orphan: o, Action: "ended"})
	}
	deadline := time.Now().Add(grace)
	for _, i := range ending {
		id := res[i].Identity
		for {
			if ok, _ := s.runner.Check(id); !ok {
				break
			}
			if time.Now().After(deadline) {
				s.runner.Signal(id.PID, syscall.SIGKILL)
				res[i].Action = "killed"
				break
			}
			time.Sleep(pollEvery)
		}
	}
	return res, nil
}

// GoneRecords lists the records that say a main process runs when it does
// not (a daemon that has not heard of the exit yet is rechecked once).
func (s *Supervisor) GoneRecords() []store.Meta {
	var gone []store.Meta
	check := func() []store.Meta {
		var out []store.Meta
		metas, _ := s.Snapshot()
		for _, m := range metas {
			if m.Status != store.StatusOnline || m.PID <= 0 {
				continue
			}
			id := proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID}
			if ok, err := s.runner.Check(id); !ok && err == nil {
				out = append(out, m)
			}
		}
		return out
	}
	if gone = check(); len(gone) > 0 {
		time.Sleep(200 * time.Millisecond) // an exit on its way
		gone = check()
	}
	return gone
}

// PortClash is a declared port that someone outside the process's run
// holds.
type PortClash struct {
	Meta    store.Meta
	Holders []proc.Binding
	Owners  []store.Meta // the tsm process of each holder, zero when it is none
}

// PortClashes lists, for every process that declares a port, the holders
// of that port outside its own run.
func (s *Supervisor) PortClashes() ([]PortClash, error) {
	uses, runOf, err := s.Ports()
	if err != nil {
		return nil, err
	}
	var out []PortClash
	for _, u := range uses {
		if u.Meta.Port <= 0 {
			continue
		}
		bs, err := proc.Bindings(nil, int(u.Meta.Port))
		if err != nil {
			return nil, fmt.Errorf("port %d: %w", u.Meta.Port, err)
		}
		c := PortClash{Meta: u.Meta}
		for _, b := range bs {
			if owner, ok := runOf[b.PID]; !ok || owner.Name != u.Meta.Name {
				c.Holders = append(c.Holders, b)
				c.Owners = append(c.Owners, owner)
			}
		}
		if len(c.Holders) > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}
