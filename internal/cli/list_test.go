package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/api"
)

// A daemon older than the list routes that render what is shown still
// gets a listing out of the CLI: the whole table, filtered here.
func TestListFromOlderDaemon(t *testing.T) {
	app, out := serveApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.RouteList {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(api.ListResponse{
			Processes: []api.Process{
				{TsmID: 0, Name: "web", PID: 42, Port: 8000, Status: "online", State: "online", Uptime: "3m", Memory: 3 << 20},
				{TsmID: 1, Name: "idle", Port: "none", Status: "stopped", State: "stopped"},
			},
			Problems: []string{"skipped bad: corrupt meta.json"},
		})
	}))
	for _, c := range []struct {
		args        []string
		want, never []string
	}{
		{[]string{"list"}, []string{"web", "8000", "online", "3.0M", "skipped bad"}, []string{"idle"}},
		{[]string{"list", "all"}, []string{"web", "idle", "stopped"}, nil},
		{[]string{"list", "--json"}, []string{`"name": "web"`, "skipped bad"}, []string{"idle"}},
		{[]string{"list", "all", "--json"}, []string{`"name": "idle"`}, nil},
	} {
		out.Reset()
		if code := app.Main(c.args); code != 0 {
			t.Errorf("%v: exit %d: %s", c.args, code, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
		for _, n := range c.never {
			if strings.Contains(out.String(), n) {
				t.Errorf("%v: output has %q:\n%s", c.args, n, out)
			}
		}
	}
}
