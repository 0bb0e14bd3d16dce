package daemon

import (
	"fmt"
	"net/http"
	"os/user"
	"strconv"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/redact"
	"github.com/tetra/tsm/internal/spec"
)

// ports answers `tsm ports` and, with ?port=N, `tsm ports who N`.
func (h *handler) ports(w http.ResponseWriter, r *http.Request) {
	port := 0
	if q := r.URL.Query().Get("port"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 65535 {
			writeError(w, fmt.Errorf("%w: %q is not a port: use a number from 1 to 65535", spec.ErrUsage, q))
			return
		}
		port = n
	}
	uses, runOf, err := h.sup.Ports()
	if err != nil {
		writeError(w, err)
		return
	}
	resp := api.PortsResponse{Processes: make([]api.PortsEntry, 0, len(uses))}
	for _, u := range uses {
		e := api.PortsEntry{ID: u.Meta.TsmID, Name: u.Meta.Name, PID: u.Meta.PID, State: u.Meta.State, Declared: "none", Listening: []api.Socket{}}
		if u.Meta.Port > 0 {
			e.Declared = int(u.Meta.Port)
		}
		for _, b := range u.Bindings {
			e.Listening = append(e.Listening, socket(b))
		}
		resp.Processes = append(resp.Processes, e)
	}
	if port > 0 {
		bs, err := proc.Bindings(nil, port)
		if err != nil {
			writeError(w, err)
			return
		}
		resp.Holders = []api.PortHolder{}
		for _, b := range bs {
			ph := api.PortHolder{Socket: socket(b), Command: redact.Command(proc.CommandLine(b.PID)), UID: -1}
			if uid, err := proc.Owner(b.PID); err == nil {
				ph.UID, ph.User = uid, strconv.Itoa(uid)
				if u, err := user.LookupId(ph.User); err == nil {
					ph.User = u.Username
				}
			}
			if m, ok := runOf[b.PID]; ok {
				id := m.TsmID
				ph.ID, ph.Name = &id, m.Name
			}
			resp.Holders = append(resp.Holders, ph)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func socket(b proc.Binding) api.Socket { return api.Socket{PID: b.PID, Proto: b.Proto, Port: b.Port} }
