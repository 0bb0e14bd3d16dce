package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/store"
)

// BenchmarkListHandler is the list handler's own cost (table snapshot,
// wire form, JSON encoding) at 100 and 1000 processes; the live /proc
// reads are proc's BenchmarkSample and BenchmarkListeningPorts.
func BenchmarkListHandler(b *testing.B) {
	for _, route := range []string{api.RouteList, api.RouteListJSON, api.RouteListRows, api.RouteListTable} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/procs=%d", route, n), func(b *testing.B) {
				sup := &fakeSup{}
				for i := range n {
					sup.metas = append(sup.metas, store.Meta{TsmID: i, Name: fmt.Sprintf("svc-%d", i), PID: 1000 + i,
						Command: "/usr/bin/python3 -m http.server", Port: store.Port(8000 + i), Cwd: "/srv",
						StartTime: time.Now().Unix(), Status: store.StatusOnline})
				}
				h := &handler{sup: sup, store: &store.Store{Root: "/state"}, log: slog.New(slog.DiscardHandler), started: time.Now()}
				routes := h.routes()
				req := httptest.NewRequest("GET", route, nil)
				for b.Loop() {
					w := httptest.NewRecorder()
					routes.ServeHTTP(w, req)
					io.Copy(io.Discard, w.Body)
				}
			})
		}
	}
}
