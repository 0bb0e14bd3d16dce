package supervisor

import (
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/store"
)

// PortUse is one managed process: its declared port (in Meta) and what
// every process of its current run listens on.
type PortUse struct {
	Meta     store.Meta
	Bindings []proc.Binding
}

// Ports returns every managed process with the listening TCP and bound UDP
// sockets of its whole run (main process and family), in ID order, and
// runOf, which maps each of those PIDs to its process's metadata (for
// naming a port's holder). Nothing is read under the table lock.
func (s *Supervisor) Ports() (uses []PortUse, runOf map[int]store.Meta, err error) {
	metas, _ := s.Snapshot()
	runOf = map[int]store.Meta{}
	var pids []int
	for _, m := range metas {
		if m.Status != store.StatusOnline || m.PID <= 1 {
			continue
		}
		id := proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID}
		if ok, _ := s.runner.Check(id); !ok {
			continue // a recycled PID is not this run
		}
		runOf[m.PID] = m
		pids = append(pids, m.PID)
		fam, _ := s.runner.Family(m.PID, m.Marker, m.PIDStartTicks, m.Cgroup)
		for _, f := range fam {
			if _, seen := runOf[f.PID]; !seen {
				runOf[f.PID] = m
				pids = append(pids, f.PID)
			}
		}
	}
	var bs []proc.Binding
	if len(pids) > 0 {
		if bs, err = proc.Bindings(pids, 0); err != nil {
			return nil, nil, err
		}
	}
	byName := map[string][]proc.Binding{}
	for _, b := range bs {
		n := runOf[b.PID].Name
		byName[n] = append(byName[n], b)
	}
	for _, m := range metas {
		uses = append(uses, PortUse{Meta: m, Bindings: byName[m.Name]})
	}
	return uses, runOf, nil
}
