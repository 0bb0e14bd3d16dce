package cli

import (
	"encoding/json"
	"fmt"
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

// The plain forms of `tsm list` skip cobra (listFast); they must print
// exactly what the same request spelled so that cobra parses it prints,
// exit code and warnings included.
func TestListFastSameAsCobra(t *testing.T) {
	code := 1
	app, out := serveApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all := r.URL.Query().Has("all")
		switch r.URL.Path {
		case api.RouteListTable:
			rows := []api.Row{{TsmID: 0, Name: "web", PID: 42, Port: 8000, Status: "online", State: "online", Uptime: "3m", CPU: 1.5, Memory: 3 << 20}}
			if all {
				rows = append(rows, api.Row{TsmID: 1, Name: "idle", Status: "stopped", State: "crashed", ExitCode: &code})
			}
			w.Header().Add(api.ProblemHeader, "skipped bad: corrupt meta.json")
			api.WriteTable(w, rows, all, r.URL.Query().Has("color"))
		case api.RouteListJSON:
			w.Header().Add(api.ProblemHeader, "skipped bad: corrupt meta.json")
			fmt.Fprintf(w, "[{\"name\": \"web\", \"all\": %v}]\n", all)
		default:
			http.NotFound(w, r)
		}
	}))
	for _, c := range []struct{ fast, cobra []string }{
		{[]string{"list"}, []string{"list", "--json=false"}},
		{[]string{"ls", "-a"}, []string{"list", "--all=true"}},
		{[]string{"list", "all"}, []string{"list", "all", "--"}},
		{[]string{"list", "running", "--all"}, []string{"list", "--all=true", "running"}},
		{[]string{"ls", "--json"}, []string{"list", "--json=true"}},
		{[]string{"list", "--json", "all"}, []string{"list", "--json=true", "--", "all"}},
	} {
		if _, ok := listFast(c.cobra); ok {
			t.Fatalf("%v takes the fast path; the test needs a form that does not", c.cobra)
		}
		out.Reset()
		fastCode := app.Main(c.fast)
		fast := out.String()
		out.Reset()
		if cobraCode := app.Main(c.cobra); fastCode != cobraCode || fast != out.String() {
			t.Errorf("%v: exit %d:\n%s\n%v: exit %d:\n%s", c.fast, fastCode, fast, c.cobra, cobraCode, out)
		}
		if !strings.Contains(fast, "skipped bad") && fastCode == 0 {
			t.Errorf("%v: no warning:\n%s", c.fast, fast)
		}
	}
	for _, args := range [][]string{{"list", "--help"}, {"ls", "-h"}, {"list", "available"}, {"list", "all", "running"}, {"list", "-aj"}, {"lis"}} {
		if _, ok := listFast(args); ok {
			t.Errorf("listFast(%v) took it; cobra must", args)
		}
	}
}

// A problem that names a record directory with control bytes in it (an
// escape sequence) is printed escaped, whatever daemon sent it: a daemon
// from before the rendered routes sends it raw in its JSON.
func TestWarnProblemsEscapesControls(t *testing.T) {
	var b strings.Builder
	warnProblems(&b, []string{"skipped e\x1b[31mRED\a: corrupt meta.json", "renumbered x"})
	want := "tsm: warning: skipped e\\x1b[31mRED\\x07: corrupt meta.json\ntsm: warning: renumbered x\n"
	if b.String() != want {
		t.Errorf("warnProblems printed %q, want %q", b.String(), want)
	}
}
