package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/release"
)

// start --dry-run against a daemon older than POST /v1/start/plan (it
// answers 404): the CLI says so and how to get a daemon that knows it,
// and asks for nothing else — above all, no start.
func TestDryRunOlderDaemon(t *testing.T) {
	var routes []string
	app, out := serveApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		routes = append(routes, r.Method+" "+r.URL.Path)
		w.Header().Set(api.BuildHeader, release.Build)
		if r.URL.Path == api.RoutePing {
			json.NewEncoder(w).Encode(api.Ping{Version: "old", Build: release.Build})
			return
		}
		http.NotFound(w, r)
	}))
	if code := app.Main([]string{"start", "--dry-run", "sleep", "5"}); code == ExitOK {
		t.Fatalf("exit 0 against a daemon without the plan route; output:\n%s", out)
	}
	for _, r := range routes {
		if r == "POST "+api.RouteStart {
			t.Fatalf("the dry run asked for a start; requests %v", routes)
		}
	}
	if s := out.String(); !strings.Contains(s, "predates start --dry-run") || !strings.Contains(s, "tsm daemon stop") {
		t.Fatalf("output does not say the daemon is older and how to fix it:\n%s", s)
	}
}
