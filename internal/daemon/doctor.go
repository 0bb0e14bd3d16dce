package daemon

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/redact"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/supervisor"
)

// doctorOps is what `tsm doctor` needs of the supervisor.
type doctorOps interface {
	Orphans() ([]supervisor.Orphan, error)
	Clean(ids []proc.Identity, grace time.Duration) ([]supervisor.CleanResult, error)
	GoneRecords() []store.Meta
	PortClashes() ([]supervisor.PortClash, error)
}

var doctorChecks = []string{"cgroups", "records", "orphans", "ports"}

// doctor runs the daemon's side of `tsm doctor`: what only the daemon
// knows (its cgroups, its runs) or should look at (the process table).
func (h *handler) doctor(w http.ResponseWriter, r *http.Request) {
	only := r.URL.Query().Get("only")
	if only != "" && !slices.Contains(doctorChecks, only) {
		writeError(w, fmt.Errorf("%w: unknown check %q: use one of %s", spec.ErrUsage, only, strings.Join(doctorChecks, ", ")))
		return
	}
	want := func(c string) bool { return only == "" || only == c }
	rep := api.DoctorReport{Checks: []api.Check{}}
	add := func(name, level, msg, fix string) {
		rep.Checks = append(rep.Checks, api.Check{Name: name, Level: level, Message: msg, Fix: fix})
	}
	if want("cgroups") {
		if h.cgroups == "" {
			add("cgroups", api.CheckOK, "each run gets a cgroup of its own: a stop ends every process it started", "")
		} else {
			add("cgroups", api.CheckWarn, "no delegated cgroup ("+h.cgroups+"): stop finds a run's processes by walking the process table, and a descendant that leaves the session and clears its environment escapes it",
				"run the daemon in a delegated cgroup: `tsm daemon stop; systemd-run --user --scope -p Delegate=yes tsm daemon run &` (or a systemd user service with Delegate=yes); services keep running meanwhile")
		}
	}
	if want("records") {
		_, problems := h.sup.Snapshot()
		for _, p := range problems {
			add("records", api.CheckError, "unreadable record: "+p, "fix or remove that process directory under "+h.store.ProcessesDir()+", then run `tsm daemon stop` so the next daemon reads it again")
		}
		gone := h.doc.GoneRecords()
		for _, m := range gone {
			add("records", api.CheckError, fmt.Sprintf("%s (id %d) is recorded as running with pid %d, which is gone", m.Name, m.TsmID, m.PID),
				fmt.Sprintf("`tsm restart %d` to run it again, or `tsm stop %d`", m.TsmID, m.TsmID))
		}
		if len(problems) == 0 && len(gone) == 0 {
			add("records", api.CheckOK, "every record is readable and every process recorded as running runs", "")
		}
	}
	if want("orphans") {
		orphans, err := h.doc.Orphans()
		if err != nil {
			add("orphans", api.CheckWarn, "the process table could not be read completely: "+err.Error(), "run `tsm doctor orphans` again")
		}
		for _, o := range orphans {
			// An orphan's command is a run's, masked as list masks it;
			// clean goes by the identity alone.
			command := redact.Command(o.Command)
			rep.Orphans = append(rep.Orphans, api.Orphan{PID: o.PID, StartTime: o.StartTime, BootID: o.BootID, Command: command, Name: o.Name})
			add("orphans", api.CheckError, fmt.Sprintf("pid %d (%s) was started by a run of %s that tsm no longer tracks", o.PID, command, o.Name),
				fmt.Sprintf("`tsm doctor clean` ends it (or `kill %d`)", o.PID))
		}
		if len(orphans) == 0 && err == nil {
			add("orphans", api.CheckOK, "no process of a run tsm no longer tracks", "")
		}
	}
	if want("ports") {
		clashes, err := h.doc.PortClashes()
		if err != nil {
			add("ports", api.CheckWarn, "listening sockets could not be read: "+err.Error(), "run `tsm doctor ports` again")
		}
		for _, c := range clashes {
			var who []string
			for i, b := range c.Holders {
				s := fmt.Sprintf("pid %d (%s)", b.PID, redact.Command(proc.CommandLine(b.PID)))
				if c.Owners[i].Name != "" {
					s += fmt.Sprintf(" of tsm process %s (id %d)", c.Owners[i].Name, c.Owners[i].TsmID)
				}
				who = append(who, s)
			}
			level, what := api.CheckError, "is held by"
			if c.Meta.Status != "online" {
				level, what = api.CheckWarn, "(not running) would not start: its port is held by"
			}
			add("ports", level, fmt.Sprintf("port %d of %s %s %s", c.Meta.Port, c.Meta.Name, what, strings.Join(who, ", ")),
				fmt.Sprintf("stop the holder (`kill %d`), or give %s another port: `tsm delete %d` and start it with --port %d+", c.Holders[0].PID, c.Meta.Name, c.Meta.TsmID, c.Meta.Port))
		}
		if len(clashes) == 0 && err == nil {
			add("ports", api.CheckOK, "no declared port is held outside its process", "")
		}
	}
	writeJSON(w, http.StatusOK, rep)
}

// clean ends the orphans the request lists, and only those that still are.
func (h *handler) clean(w http.ResponseWriter, r *http.Request) {
	var req api.CleanRequest
	if !readJSON(w, r, &req) {
		return
	}
	ids := make([]proc.Identity, 0, len(req.Orphans))
	for _, o := range req.Orphans {
		ids = append(ids, proc.Identity{PID: o.PID, StartTime: o.StartTime, BootID: o.BootID})
	}
	res, err := h.doc.Clean(ids, 5*time.Second)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]api.CleanResult, 0, len(res))
	for _, c := range res {
		out = append(out, api.CleanResult{Orphan: api.Orphan{PID: c.PID, StartTime: c.StartTime, BootID: c.BootID, Command: redact.Command(c.Command), Name: c.Name}, Action: c.Action})
	}
	writeJSON(w, http.StatusOK, out)
}
