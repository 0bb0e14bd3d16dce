package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tetra/tsm/internal/execctx"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/envfile"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/release"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/supervisor"
	"github.com/tetra/tsm/internal/target"
)

// fakeSup is a supervisor of fixed processes. Operations succeed with the
// process's meta unless fail names an error for it; every call is recorded.
type fakeSup struct {
	metas      []store.Meta
	problems   []string
	resolveErr error            // from Resolve and ResolveAll
	all        []string         // what ResolveAll makes of "all" (nil: "all" itself)
	fail       map[string]error // by process name
	startOut   supervisor.Outcome
	startErr   error

	mu       sync.Mutex
	calls    []string // "stop web 1.5s", sorted by the test when order is free
	startReq supervisor.StartRequest
}

func (f *fakeSup) record(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeSup) meta(name string) store.Meta {
	for _, m := range f.metas {
		if m.Name == name {
			return m
		}
	}
	return store.Meta{Name: name}
}

func (f *fakeSup) op(action, name string) (supervisor.Outcome, error) {
	if err := f.fail[name]; err != nil {
		return supervisor.Outcome{}, err
	}
	return supervisor.Outcome{Meta: f.meta(name), Action: action}, nil
}

func (f *fakeSup) Plan(r supervisor.StartRequest) (spec.Spec, error) {
	f.record("plan")
	f.startReq = r
	return spec.Spec{Name: r.Name, Argv: r.Argv, Command: strings.Join(r.Argv, " "), Cwd: r.Cwd}, f.startErr
}

func (f *fakeSup) Start(r supervisor.StartRequest) (supervisor.Outcome, error) {
	f.record("start")
	f.startReq = r
	return f.startOut, f.startErr
}

func (f *fakeSup) StopBatch(names []string, grace time.Duration, kill bool) (func(string) (supervisor.Outcome, error), func()) {
	return func(name string) (supervisor.Outcome, error) {
		if kill {
			f.record("kill %s", name)
			return f.op("killed", name)
		}
		f.record("stop %s %s", name, grace)
		return f.op("stopped", name)
	}, func() {}
}

func (f *fakeSup) Restart(name string, grace, wait time.Duration, env []string, updateEnv bool, _ *execctx.Context) (supervisor.Outcome, error) {
	f.record("restart %s %s %s %v %v", name, grace, wait, env, updateEnv)
	return f.op("restarted", name)
}

func (f *fakeSup) Delete(name string, grace time.Duration) (supervisor.Outcome, error) {
	f.record("delete %s %s", name, grace)
	return f.op("deleted", name)
}

func (f *fakeSup) Signal(name string, sig syscall.Signal, group bool) (supervisor.Outcome, error) {
	f.record("signal %s %d %v", name, sig, group)
	return f.op("signalled", name)
}

func (f *fakeSup) Reload(name string, grace, wait time.Duration, env []string) (supervisor.Outcome, error) {
	f.record("reload %s %s", name, grace)
	return f.op("reloaded", name)
}

func (f *fakeSup) Ports() ([]supervisor.PortUse, map[int]store.Meta, error) {
	f.record("ports")
	var uses []supervisor.PortUse
	for _, m := range f.metas {
		uses = append(uses, supervisor.PortUse{Meta: m, Bindings: []proc.Binding{{PID: m.PID, Proto: "tcp", Port: int(m.Port) + 1}}})
	}
	return uses, nil, nil
}

func (f *fakeSup) Snapshot() ([]store.Meta, []string) { return f.metas, f.problems }

func (f *fakeSup) Resolve(t string) (store.Meta, error) {
	f.record("resolve %s", t)
	return f.meta(t), f.resolveErr
}

func (f *fakeSup) ResolveAll(targets []string) ([]string, error) {
	f.record("resolveall %v", targets)
	if f.all != nil && slices.Equal(targets, []string{"all"}) {
		return f.all, f.resolveErr
	}
	return targets, f.resolveErr
}

func (f *fakeSup) Live(ms []store.Meta) []supervisor.Live {
	out := make([]supervisor.Live, len(ms))
	for i, m := range ms {
		if m.Status == store.StatusOnline {
			out[i] = supervisor.Live{Stats: proc.Stats{CPUPercent: 12.5, RSSBytes: 4096, Threads: 3}, Ports: []int{int(m.Port)}, OK: true}
		}
	}
	return out
}

// serveFake runs the handlers over sup and returns the server's URL.
func serveFake(t *testing.T, sup *fakeSup) string {
	t.Helper()
	h := &handler{
		sup: sup, store: &store.Store{Root: "/state"}, log: slog.New(slog.DiscardHandler),
		started: time.Unix(1700000000, 0), shutdown: make(chan struct{}, 1),
	}
	srv := httptest.NewServer(h.routes())
	t.Cleanup(srv.Close)
	return srv.URL
}

// send makes one request and decodes the answer into out (if not nil).
func send(t *testing.T, url, method, route, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url+route, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s answered %s %q: %v", method, route, resp.Status, b, err)
		}
	}
	return resp
}

// sendError makes a request that must fail and returns its envelope.
func sendError(t *testing.T, url, method, route, body string) (int, api.Error) {
	t.Helper()
	var eb api.ErrorBody
	resp := send(t, url, method, route, body, &eb)
	if eb.Error.Message == "" {
		t.Fatalf("%s %s: %s without an error message", method, route, resp.Status)
	}
	return resp.StatusCode, eb.Error
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		want   api.Error
	}{
		{"not found", &target.NotFoundError{Target: "web"}, http.StatusNotFound,
			api.Error{Code: api.CodeNotFound, Message: `no process matches "web" (see ` + "`tsm list all`)"}},
		{"ambiguous", &target.AmbiguousError{Target: "web", Matches: []target.Candidate{{ID: 1, Name: "web-1"}, {ID: 4, Name: "web-2"}}},
			http.StatusConflict, api.Error{Code: api.CodeAmbiguous, Candidates: []api.Candidate{{ID: 1, Name: "web-1"}, {ID: 4, Name: "web-2"}}}},
		{"usage", fmt.Errorf("%w: bad port", spec.ErrUsage), http.StatusBadRequest,
			api.Error{Code: api.CodeUsage, Message: "invalid usage: bad port"}},
		{"bad data", fmt.Errorf("%w: PORT=x", spec.ErrBadData), http.StatusBadRequest,
			api.Error{Code: api.CodeBadData, Message: "bad data: PORT=x"}},
		{"env file syntax", fmt.Errorf("read env: %w", &envfile.SyntaxError{Path: "env/local.env", Line: 2, Msg: "no ="}), http.StatusBadRequest,
			api.Error{Code: api.CodeBadData, Message: "read env: env/local.env:2: no ="}},
		{"missing file", fmt.Errorf("%w: app.py", spec.ErrMissingFile), http.StatusBadRequest,
			api.Error{Code: api.CodeMissingFile, Message: "missing file: app.py"}},
		{"anything else", errors.New("disk full"), http.StatusInternalServerError,
			api.Error{Code: api.CodeFailure, Message: "disk full"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serveFake(t, &fakeSup{resolveErr: tt.err})
			for _, r := range []struct{ method, route, body string }{
				{"GET", api.RouteInfo + "?target=web", ""},
				{"POST", api.RouteStop, `{"targets":["web"]}`},
			} {
				status, got := sendError(t, url, r.method, r.route, r.body)
				if tt.want.Message == "" {
					tt.want.Message = tt.err.Error()
				}
				if status != tt.status || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s %s: %d %+v\nwant %d %+v", r.method, r.route, status, got, tt.status, tt.want)
				}
			}
		})
	}
}

// A process that dies during start is a failure whose detail is its last
// lines of output, for the CLI to show under the message.
func TestStartFailed(t *testing.T) {
	fail := &supervisor.StartFailedError{Name: "app",
		Tail: []string{"Traceback (most recent call last):", "ImportError: no module named flask"}, Stream: "stderr"}
	url := serveFake(t, &fakeSup{startErr: fmt.Errorf("start: %w", fail)})
	status, got := sendError(t, url, "POST", api.RouteStart, `{"argv":["python3","app.py"],"cwd":"/srv"}`)
	want := api.Error{Code: api.CodeFailure, Message: "start: " + fail.Error(), Detail: fail.Tail}
	if status != http.StatusInternalServerError || !reflect.DeepEqual(got, want) {
		t.Errorf("got %d %+v\nwant 500 %+v", status, got, want)
	}
}

func TestStart(t *testing.T) {
	maxRestarts := 3
	sup := &fakeSup{startOut: supervisor.Outcome{
		Meta:  store.Meta{TsmID: 2, Name: "app-8000", PID: 42, Port: 8000, Status: store.StatusOnline, StartTime: time.Now().Unix()},
		Ready: "port",
	}}
	url := serveFake(t, sup)
	var p api.Process
	body := `{"argv":["python3","app.py"],"cwd":"/srv","env":["A=1"],"name":"app","port":"8000+","env_file":"local",
		"workdir":"sub","prehook":"true","restart":"always","max_restarts":3,"min_uptime_ms":1500,"wait_ms":200}`
	if resp := send(t, url, "POST", api.RouteStart, body, &p); resp.StatusCode != http.StatusOK {
		t.Fatalf("start: %s", resp.Status)
	}
	wantReq := supervisor.StartRequest{
		Request: spec.Request{Argv: []string{"python3", "app.py"}, Cwd: "/srv", Env: []string{"A=1"}, Name: "app", Port: "8000+",
			EnvFile: "local", WorkDir: "sub", PreHook: "true"},
		Restart: "always", MaxRestarts: &maxRestarts, MinUptime: 1500 * time.Millisecond, Wait: 200 * time.Millisecond,
	}
	if !reflect.DeepEqual(sup.startReq, wantReq) {
		t.Errorf("supervisor got %+v\nwant %+v", sup.startReq, wantReq)
	}
	if p.Name != "app-8000" || p.TsmID != 2 || p.ID != 2 || p.Port != float64(8000) || p.Ready != "port" ||
		p.OutLog != "/state/runtime/processes/app-8000/current.out" {
		t.Errorf("answer %+v", p)
	}
	// Start answers before the first sample: no live stats.
	if p.CPU != 0 || p.Memory != 0 {
		t.Errorf("start reported live stats: cpu %v, memory %v", p.CPU, p.Memory)
	}
}

// Every target is acted on; when one fails, the answer is its error with
// the results of the ones that were done, so the user knows.
// A process deleted by another command between the expansion of `all` and
// the act is not a failure of `stop all` (red team: stop all beside delete
// all failed with "no process matches p4"); a name given explicitly is.
func TestTargetsAllSkipsDeleted(t *testing.T) {
	gone := &target.NotFoundError{Target: "web"}
	sup := &fakeSup{all: []string{"db", "web", "worker"}, fail: map[string]error{"web": gone},
		metas: []store.Meta{{TsmID: 0, Name: "db"}, {TsmID: 2, Name: "worker"}}}
	url := serveFake(t, sup)
	var got []api.Result
	if resp := send(t, url, "POST", api.RouteStop, `{"targets":["all"]}`, &got); resp.StatusCode != http.StatusOK {
		t.Fatalf("stop all: status %d, %+v", resp.StatusCode, got)
	}
	if names := []string{got[0].Name, got[1].Name}; len(got) != 2 || !slices.Equal(names, []string{"db", "worker"}) {
		t.Errorf("stop all = %+v, want db and worker", got)
	}
	if status, _ := sendError(t, url, "POST", api.RouteStop, `{"targets":["db","web"]}`); status == http.StatusOK {
		t.Errorf("stop db web with web gone: status %d, want an error", status)
	}
}

func TestTargetsPartialFailure(t *testing.T) {
	sup := &fakeSup{
		metas: []store.Meta{{TsmID: 0, Name: "db"}, {TsmID: 1, Name: "web"}, {TsmID: 2, Name: "worker"}},
		fail:  map[string]error{"web": errors.New("web: permission denied (is it another user's process?)")},
	}
	url := serveFake(t, sup)
	status, got := sendError(t, url, "POST", api.RouteStop, `{"targets":["db","web","worker"]}`)
	want := api.Error{Code: api.CodeFailure, Message: "web: permission denied (is it another user's process?)",
		Done: []api.Result{{ID: 0, Name: "db", Action: "stopped"}, {ID: 2, Name: "worker", Action: "stopped"}}}
	if status != http.StatusInternalServerError || !reflect.DeepEqual(got, want) {
		t.Errorf("got %d %+v\nwant 500 %+v", status, got, want)
	}
	slices.Sort(sup.calls)
	wantCalls := []string{"resolveall [db web worker]", "stop db 0s", "stop web 0s", "stop worker 0s"}
	if !reflect.DeepEqual(sup.calls, wantCalls) {
		t.Errorf("calls %q, want %q", sup.calls, wantCalls)
	}
}

// Each route calls its operation, with the daemon's default grace period
// unless the request gives one.
func TestTargets(t *testing.T) {
	tests := []struct {
		route, body string
		call        string
		action      string
	}{
		{api.RouteStop, `{"targets":["web"]}`, "stop web 0s", "stopped"},
		{api.RouteStop, `{"targets":["web"],"timeout_ms":1500}`, "stop web 1.5s", "stopped"},
		{api.RouteKill, `{"targets":["web"],"timeout_ms":1500}`, "kill web", "killed"},
		{api.RouteRestart, `{"targets":["web"]}`, "restart web 0s 0s [] false", "restarted"},
		{api.RouteRestart, `{"targets":["web"],"timeout_ms":200,"update_env":true,"env":["A=1"]}`, "restart web 200ms 0s [A=1] true", "restarted"},
		{api.RouteDelete, `{"targets":["web"]}`, "delete web 0s", "deleted"},
		{api.RouteSignal, `{"targets":["web"],"signal":"HUP"}`, "signal web 1 false", "signalled"},
		{api.RouteSignal, `{"targets":["web"],"signal":"SIGUSR1","group":true}`, "signal web 10 true", "signalled"},
		{api.RouteReload, `{"targets":["web"],"timeout_ms":200}`, "reload web 200ms", "reloaded"},
	}
	for _, tt := range tests {
		sup := &fakeSup{metas: []store.Meta{{TsmID: 5, Name: "web", PID: 99, Port: 8080}}}
		url := serveFake(t, sup)
		var rs []api.Result
		if resp := send(t, url, "POST", tt.route, tt.body, &rs); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s", tt.route, tt.body, resp.Status)
		}
		want := []api.Result{{ID: 5, Name: "web", PID: 99, Port: 8080, Action: tt.action}}
		if !reflect.DeepEqual(rs, want) {
			t.Errorf("%s: results %+v, want %+v", tt.route, rs, want)
		}
		if len(sup.calls) != 2 || sup.calls[1] != tt.call {
			t.Errorf("%s %s: calls %q, want %q after resolving", tt.route, tt.body, sup.calls, tt.call)
		}
	}
}

// A request that names nothing is a usage error, and touches nothing.
func TestTargetsEmpty(t *testing.T) {
	for _, body := range []string{`{"targets":[]}`, `{}`} {
		sup := &fakeSup{}
		url := serveFake(t, sup)
		status, got := sendError(t, url, "POST", api.RouteStop, body)
		if status != http.StatusBadRequest || got.Code != api.CodeUsage || !strings.Contains(got.Message, "no target given") {
			t.Errorf("%s: %d %+v, want 400 usage", body, status, got)
		}
		if len(sup.calls) != 0 {
			t.Errorf("%s: supervisor called: %q", body, sup.calls)
		}
	}
}

// An unknown signal is a usage error before any target is touched.
func TestSignalUnknown(t *testing.T) {
	sup := &fakeSup{metas: []store.Meta{{TsmID: 5, Name: "web"}}}
	url := serveFake(t, sup)
	status, got := sendError(t, url, "POST", api.RouteSignal, `{"targets":["web"],"signal":"SIGNOPE"}`)
	if status != http.StatusBadRequest || got.Code != api.CodeUsage || !strings.Contains(got.Message, `unknown signal "SIGNOPE"`) {
		t.Errorf("%d %+v, want 400 usage naming the signal", status, got)
	}
	if len(sup.calls) != 0 {
		t.Errorf("supervisor called: %q", sup.calls)
	}
}

func TestBadJSON(t *testing.T) {
	for _, route := range []string{api.RouteStart, api.RouteStop, api.RouteKill, api.RouteRestart, api.RouteDelete} {
		sup := &fakeSup{}
		url := serveFake(t, sup)
		status, got := sendError(t, url, "POST", route, `{"targets": "web"`)
		if status != http.StatusBadRequest || got.Code != api.CodeUsage || !strings.HasPrefix(got.Message, "bad request: ") {
			t.Errorf("%s: %d %+v, want 400 usage", route, status, got)
		}
		if len(sup.calls) != 0 {
			t.Errorf("%s: supervisor called: %q", route, sup.calls)
		}
	}
}

func TestListAndInfo(t *testing.T) {
	online := store.Meta{TsmID: 0, Name: "web", PID: 42, Port: 8000, Status: store.StatusOnline, StartTime: time.Now().Add(-90 * time.Second).Unix()}
	stopped := store.Meta{TsmID: 1, Name: "job", Status: store.StatusStopped}
	url := serveFake(t, &fakeSup{metas: []store.Meta{online, stopped}, problems: []string{"x: bad meta.json"}})

	var l api.ListResponse
	send(t, url, "GET", api.RouteList, "", &l)
	if len(l.Processes) != 2 || !reflect.DeepEqual(l.Problems, []string{"x: bad meta.json"}) {
		t.Fatalf("list %+v", l)
	}
	web, job := l.Processes[0], l.Processes[1]
	if web.CPU != 12.5 || web.Memory != 4096 || web.Threads != 3 || !reflect.DeepEqual(web.ListeningPorts, []int{8000}) ||
		web.Uptime != "1m" || web.Port != float64(8000) {
		t.Errorf("online process %+v", web)
	}
	if job.Port != "none" || job.Uptime != "" || job.CPU != 0 {
		t.Errorf("stopped process %+v", job)
	}

	var p api.Process
	send(t, url, "GET", api.RouteInfo+"?target=web", "", &p)
	if p.Name != "web" || p.CPU != 12.5 || p.PIDFile != "/state/runtime/processes/web/web.pid" {
		t.Errorf("info %+v", p)
	}
}

// The table the daemon renders for `tsm list` is the table of what the
// rows route sends (the stopped process only with ?all), with the problems
// in headers and, with ?color, painted status words.
func TestListTable(t *testing.T) {
	online := store.Meta{TsmID: 0, Name: "web", PID: 42, Port: 8000, Command: "app --token s3cret", Status: store.StatusOnline, StartTime: time.Now().Add(-90 * time.Second).Unix()}
	stopped := store.Meta{TsmID: 1, Name: "job", Status: store.StatusStopped}
	url := serveFake(t, &fakeSup{metas: []store.Meta{online, stopped}, problems: []string{"x: bad meta.json"}})
	for _, q := range []string{"", "?all=1", "?color=1", "?all=1&color=1"} {
		var rows api.Rows
		send(t, url, "GET", api.RouteListRows+q, "", &rows)
		var want bytes.Buffer
		api.WriteTable(&want, rows.Rows, strings.Contains(q, "all"), strings.Contains(q, "color"))
		resp, err := http.Get(url + api.RouteListTable + q)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != want.String() || !strings.Contains(string(got), "web") || strings.Contains(string(got), "job") != strings.Contains(q, "all") {
			t.Errorf("table%s:\n%s\nwant\n%s", q, got, want.String())
		}
		if strings.Contains(string(got), "\x1b[32monline") != strings.Contains(q, "color") {
			t.Errorf("table%s colors:\n%q", q, got)
		}
		if p := resp.Header.Values(api.ProblemHeader); !reflect.DeepEqual(p, []string{"x: bad meta.json"}) {
			t.Errorf("table%s problems %q", q, p)
		}
	}
}

// A problem naming a record directory with control bytes in its name
// reaches the CLI escaped: net/http refuses them in a header (the whole
// listing failed), and raw they would drive the user's terminal.
func TestListTableProblemEscaped(t *testing.T) {
	url := serveFake(t, &fakeSup{problems: []string{"skipped \x1b[31mx\a\n: bad meta.json"}})
	for _, route := range []string{api.RouteListTable, api.RouteListJSON} {
		resp, err := http.Get(url + route)
		if err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		resp.Body.Close()
		if p := resp.Header.Values(api.ProblemHeader); !reflect.DeepEqual(p, []string{`skipped \x1b[31mx\x07\x0a: bad meta.json`}) {
			t.Errorf("%s problems %q", route, p)
		}
	}
}

// Every answer, errors and unknown routes included, names the protocol
// version and build, so a CLI can tell an older daemon answered.
func TestVersionHeaders(t *testing.T) {
	url := serveFake(t, &fakeSup{resolveErr: &target.NotFoundError{Target: "x"}})
	for _, r := range []struct{ method, route, body string }{
		{"GET", api.RoutePing, ""},
		{"GET", api.RouteList, ""},
		{"GET", api.RouteInfo + "?target=x", ""},
		{"POST", api.RouteStop, `{"targets":["x"]}`},
		{"POST", api.RouteStop, `not json`},
		{"GET", api.RouteStop, ""},
		{"GET", "/v1/nothing", ""},
		{"POST", api.RouteShutdown, ""},
	} {
		resp := send(t, url, r.method, r.route, r.body, nil)
		if v, b := resp.Header.Get(api.VersionHeader), resp.Header.Get(api.BuildHeader); v != api.Version || b != release.Build {
			t.Errorf("%s %s (%s): %s=%q %s=%q, want %q and %q", r.method, r.route, resp.Status,
				api.VersionHeader, v, api.BuildHeader, b, api.Version, release.Build)
		}
	}
}

func TestPingAndShutdown(t *testing.T) {
	sup := &fakeSup{metas: []store.Meta{{Name: "a"}, {Name: "b"}}}
	shutdown := make(chan struct{}, 1)
	h := &handler{sup: sup, store: &store.Store{Root: "/state"}, log: slog.New(slog.DiscardHandler),
		started: time.Unix(1700000000, 0), shutdown: shutdown}
	srv := httptest.NewServer(h.routes())
	defer srv.Close()
	var p api.Ping
	send(t, srv.URL, "GET", api.RoutePing, "", &p)
	want := api.Ping{Version: api.Version, Build: release.Build, PID: p.PID, StartedAt: 1700000000, Dir: "/state", Processes: 2}
	if !reflect.DeepEqual(p, want) || p.PID == 0 {
		t.Errorf("ping %+v, want %+v", p, want)
	}
	select {
	case <-shutdown:
		t.Fatal("ping asked for a shutdown")
	default:
	}
	var q api.Ping
	send(t, srv.URL, "POST", api.RouteShutdown, "", &q)
	if !reflect.DeepEqual(q, p) {
		t.Errorf("shutdown answered %+v, want the ping %+v", q, p)
	}
	select {
	case <-shutdown:
	default:
		t.Error("shutdown did not tell the daemon to stop")
	}
}
