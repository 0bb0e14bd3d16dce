package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/prefetch"
)

// stateDir returns a fresh state directory short enough for a socket path
// (sun_path is ~104 bytes; t.TempDir() can be longer).
func stateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newClient returns a client whose daemon, if it ever tried to start one,
// would fail at once: /bin/false exits 1 and leaves a daemon.log behind.
func newClient(root string) *Client {
	c := New(root)
	c.Exe = "/bin/false"
	return c
}

// serve runs h as the daemon of a fresh state directory and returns a
// client for it.
func serve(t *testing.T, h http.Handler) *Client {
	t.Helper()
	root := stateDir(t)
	ln, err := net.Listen("unix", paths.Socket(root))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return newClient(root)
}

// request is what the fake daemon saw.
type request struct {
	Method, Path, Query string
	Body                map[string]any
}

// recorder answers every request with status and body, and keeps the
// request.
func recorder(t *testing.T, status int, body any) (http.Handler, *request) {
	got := &request{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Method, got.Path, got.Query = r.Method, r.URL.Path, r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, &got.Body); err != nil {
				t.Errorf("request body %q: %v", b, err)
			}
		}
		w.Header().Set(api.BuildHeader, "v9")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}), got
}

func TestMethods(t *testing.T) {
	ctx := context.Background()
	targets := api.TargetsRequest{Targets: []string{"web", "3"}, TimeoutMillis: new(1500)}
	results := []api.Result{{ID: 3, Name: "web-8000", Action: "stopped", Port: 8000}}
	process := api.Process{TsmID: 3, ID: 3, Name: "web-8000", PID: 42, Port: float64(8000), Status: "online"}
	tests := []struct {
		name         string
		answer       any
		call         func(*Client) (any, error)
		method, path string
		query        string
		body         map[string]any // nil: no body
	}{
		{"Ping", api.Ping{Version: "1", PID: 7}, func(c *Client) (any, error) { return c.Ping(ctx) },
			"GET", api.RoutePing, "", nil},
		{"Shutdown", api.Ping{Version: "1", PID: 7, Processes: 2}, func(c *Client) (any, error) { return c.Shutdown(ctx) },
			"POST", api.RouteShutdown, "", nil},
		{"Start", process, func(c *Client) (any, error) {
			return c.Start(ctx, api.StartRequest{Argv: []string{"python3", "-m", "http.server"}, Cwd: "/srv", Port: "8000+", WaitMillis: 500})
		}, "POST", api.RouteStart, "",
			map[string]any{"argv": []any{"python3", "-m", "http.server"}, "cwd": "/srv", "env": nil, "port": "8000+", "wait_ms": float64(500)}},
		{"Stop", results, func(c *Client) (any, error) { return c.Stop(ctx, targets) },
			"POST", api.RouteStop, "", map[string]any{"targets": []any{"web", "3"}, "timeout_ms": float64(1500)}},
		{"Kill", results, func(c *Client) (any, error) { return c.Kill(ctx, api.TargetsRequest{Targets: []string{"all"}}) },
			"POST", api.RouteKill, "", map[string]any{"targets": []any{"all"}}},
		{"Restart", results, func(c *Client) (any, error) {
			return c.Restart(ctx, api.TargetsRequest{Targets: []string{"web"}, UpdateEnv: true, Env: []string{"A=1"}})
		}, "POST", api.RouteRestart, "", map[string]any{"targets": []any{"web"}, "update_env": true, "env": []any{"A=1"}}},
		{"Delete", results, func(c *Client) (any, error) { return c.Delete(ctx, targets) },
			"POST", api.RouteDelete, "", map[string]any{"targets": []any{"web", "3"}, "timeout_ms": float64(1500)}},
		{"List", api.ListResponse{Processes: []api.Process{process}, Problems: []string{"x: bad meta.json"}},
			func(c *Client) (any, error) { return c.List(ctx) }, "GET", api.RouteList, "", nil},
		{"Info", process, func(c *Client) (any, error) { return c.Info(ctx, "web &x=1") },
			"GET", api.RouteInfo, "target=web+%26x%3D1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, got := recorder(t, http.StatusOK, tt.answer)
			c := serve(t, h)
			out, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			want := &request{Method: tt.method, Path: tt.path, Query: tt.query, Body: tt.body}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("daemon saw %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(out, tt.answer) {
				t.Errorf("decoded %#v\nwant %#v", out, tt.answer)
			}
			if tt.name != "Shutdown" && c.DaemonBuild != "v9" {
				t.Errorf("DaemonBuild = %q, want the header's v9", c.DaemonBuild)
			}
		})
	}
}

func TestErrorEnvelope(t *testing.T) {
	want := api.Error{
		Code: api.CodeAmbiguous, Message: `"web" matches 2 processes; name one exactly`,
		Candidates: []api.Candidate{{ID: 1, Name: "web-1"}, {ID: 2, Name: "web-2"}},
		Detail:     []string{"meanwhile stopped db (id 0)"},
	}
	h, _ := recorder(t, http.StatusConflict, api.ErrorBody{Error: want})
	c := serve(t, h)
	_, err := c.Stop(context.Background(), api.TargetsRequest{Targets: []string{"web"}})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %T %v, want *APIError", err, err)
	}
	if !reflect.DeepEqual(ae.Body, want) {
		t.Errorf("body = %+v, want %+v", ae.Body, want)
	}
	if err.Error() != want.Message {
		t.Errorf("Error() = %q, want the message", err.Error())
	}
}

// An answer that is not an envelope (a proxy, a crash) is still an error
// that names the route, not an *APIError with an empty message.
func TestErrorWithoutEnvelope(t *testing.T) {
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	_, err := c.List(context.Background())
	var ae *APIError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), api.RouteList) {
		t.Fatalf("err = %v, want a plain error naming the status and route", err)
	}
}

// Ping and Shutdown answer "not running" without starting a daemon; the
// other methods do start one, which the /bin/false Exe turns into an
// error and a daemon.log — the sign the first check relies on.
func TestNeverStartsDaemon(t *testing.T) {
	ctx := context.Background()
	root := stateDir(t)
	c := newClient(root)
	if _, err := c.Ping(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Ping: err = %v, want ErrNotRunning", err)
	}
	if _, err := c.Shutdown(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Shutdown: err = %v, want ErrNotRunning", err)
	}
	if c.Running(ctx) {
		t.Error("Running = true with no daemon")
	}
	if _, err := os.Stat(paths.DaemonLog(root)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("daemon.log exists after Ping/Shutdown/Running (err %v): they tried to start a daemon", err)
	}

	_, err := c.List(ctx)
	if err == nil || !strings.Contains(err.Error(), "failed to start (exit status 1): see "+paths.DaemonLog(root)) {
		t.Errorf("List: err = %v, want a failed daemon start", err)
	}
	if _, err := os.Stat(paths.DaemonLog(root)); err != nil {
		t.Errorf("List did not try to start a daemon: %v", err)
	}
}

// A stale socket (its daemon died without removing it) is "not running"
// too.
func TestStaleSocketIsNotRunning(t *testing.T) {
	root := stateDir(t)
	ln, err := net.Listen("unix", paths.Socket(root))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := newClient(root).Shutdown(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Shutdown over a stale socket: err = %v, want ErrNotRunning", err)
	}
}

// dropping answers the first n requests by closing the connection, as a
// daemon dying of kill -9 may; then it answers with body.
func dropping(n int32, body any) (http.Handler, *atomic.Int32) {
	var seen atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		json.NewEncoder(w).Encode(body)
	}), &seen
}

// Reads are repeated over a dropped connection; writes are not, since the
// daemon may have acted on them, and the error says what happened.
func TestDroppedConnection(t *testing.T) {
	ctx := context.Background()
	h, seen := dropping(2, api.ListResponse{Processes: []api.Process{}})
	if _, err := serve(t, h).List(ctx); err != nil || seen.Load() != 3 {
		t.Errorf("List: err = %v after %d requests, want success on the 3rd", err, seen.Load())
	}
	h, seen = dropping(1, []api.Result{})
	_, err := serve(t, h).Stop(ctx, api.TargetsRequest{Targets: []string{"all"}})
	if err == nil || !strings.Contains(err.Error(), "lost the connection to the tsm daemon") || seen.Load() != 1 {
		t.Errorf("Stop: err = %v after %d requests, want one request and the lost-connection advice", err, seen.Load())
	}
	// The daemon may have stopped some before it went: look first.
	if err == nil || !strings.Contains(err.Error(), "may have been done, in part or in full: check `tsm list all` before repeating it") {
		t.Errorf("Stop: err = %v, want the advice to look before repeating it", err)
	}
}

// ListJSON hands over the daemon's bytes as they came, with the problems
// from their header; a daemon that predates the route is ErrUnsupported,
// for the caller to fall back on List.
func TestListJSON(t *testing.T) {
	ctx := context.Background()
	body := "[\n  {\n    \"name\": \"a\"\n  }\n]\n"
	var query string
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		if r.URL.Path != api.RouteListJSON {
			http.NotFound(w, r)
			return
		}
		w.Header().Add(api.ProblemHeader, "x: corrupt meta.json")
		w.Header().Add(api.ProblemHeader, "y: corrupt meta.json")
		io.WriteString(w, body)
	}))
	got, problems, err := c.ListJSON(ctx, true)
	if err != nil || string(got) != body || query != "all=1" || len(problems) != 2 || problems[1] != "y: corrupt meta.json" {
		t.Errorf("ListJSON = %q, %q, %v (query %q)", got, problems, err, query)
	}

	old := serve(t, http.NotFoundHandler())
	if _, _, err := old.ListJSON(ctx, false); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ListJSON from an older daemon: err = %v, want ErrUnsupported", err)
	}
}

// A cancelled request returns at once, even from a daemon that never
// answers.
func TestCancelledRequest(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.List(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("List: err = %v, want DeadlineExceeded", err)
	}
}

func TestLastLine(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "daemon.log")
	var b strings.Builder
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&b, "tsm: line %d of an earlier daemon\n", i)
	}
	b.WriteString("tsm: cannot listen: address in use\n\n")
	if err := os.WriteFile(big, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := lastLine(big, 0); got != "cannot listen: address in use" {
		t.Errorf("lastLine(big) = %q", got)
	}
	one := filepath.Join(dir, "one.log")
	os.WriteFile(one, []byte("only line"), 0o600)
	if got := lastLine(one, 0); got != "only line" {
		t.Errorf("lastLine(one) = %q", got)
	}
	// A daemon that failed without a word is not blamed on an earlier one.
	size := int64(len(b.String()))
	if got := lastLine(big, size); got != "see "+big {
		t.Errorf("lastLine(big, its size) = %q, want a pointer to the file", got)
	}
	f, _ := os.OpenFile(big, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("tsm: state directory: mine\n")
	f.Close()
	if got := lastLine(big, size); got != "state directory: mine" {
		t.Errorf("lastLine(big, its size before) = %q", got)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, filepath.Join(dir, "missing"), dir} {
		if got := lastLine(p, 0); got != "see "+p {
			t.Errorf("lastLine(%s) = %q, want a pointer to the file", p, got)
		}
	}
}

// Package prefetch sends a plain list's request before the client exists;
// the client uses that connection only for the same request URI, so the two
// must build it alike.
func TestPrefetchSendsTheClientsRequest(t *testing.T) {
	var uri string
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri = r.URL.RequestURI()
	}))
	for _, l := range []prefetch.List{{}, {All: true}, {Filter: "all"}, {Filter: "running"}, {JSON: true}, {JSON: true, Filter: "all"}, {JSON: true, All: true}} {
		for _, color := range []bool{false, true} {
			all := l.All || l.Filter == "all"
			var err error
			if l.JSON {
				_, _, err = c.ListJSON(context.Background(), all)
			} else {
				_, _, err = c.ListTable(context.Background(), all, color)
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := prefetch.RequestURI(l, color); uri != want {
				t.Errorf("%+v color %v: the client asks %s, prefetch %s", l, color, uri, want)
			}
		}
	}
}

// A FIFO at daemon.log is refused with an error, not opened for writing,
// which would wait for a reader forever.
func TestDaemonLogFIFO(t *testing.T) {
	root := stateDir(t)
	if err := syscall.Mkfifo(paths.DaemonLog(root), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- newClient(root).StartDaemon(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("StartDaemon with a FIFO at daemon.log: %v, want a 'not a regular file' error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("StartDaemon with a FIFO at daemon.log hangs (opened it for writing, waiting for a reader)")
	}
}

// A daemon killed while the request is written (EPIPE, as `tsm list`
// sees when the daemon dies right after it said it listens) is a dropped
// connection: repeated for a read, else explained with what to do.
func TestBrokenPipeIsReset(t *testing.T) {
	err := &net.OpError{Op: "write", Net: "unix", Err: os.NewSyscallError("write", syscall.EPIPE)}
	if !isReset(err) {
		t.Fatalf("isReset(%v) = false, want true", err)
	}
	if got := newClient("/r").explainReset(err, false).Error(); !strings.Contains(got, "next command starts a new one") {
		t.Fatalf("explainReset(EPIPE) = %q, want the advice", got)
	}
}

// A daemon that gave no ready byte, exited 0 (it lost the lock to another)
// and left no daemon answering is reported with what it logged, not only
// "did not answer".
func TestAwaitDaemonSaysWhyNoneAnswers(t *testing.T) {
	root := t.TempDir()
	log := paths.DaemonLog(root)
	os.WriteFile(log, []byte("tsm: an earlier daemon's line\n"), 0o600)
	from := int64(len("tsm: an earlier daemon's line\n"))
	f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`time=2026-11-30T20:00:00.000Z level=INFO msg="another daemon already serves this directory; exiting"` + "\n")
	f.Close()
	ready, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close() // no ready byte
	defer ready.Close()
	exited := make(chan error, 1)
	exited <- nil // exit status 0
	err = newClient(root).awaitDaemon(context.Background(), ready, exited, from)
	if err == nil || !strings.Contains(err.Error(), "did not answer within 10s: ") || !strings.Contains(err.Error(), "another daemon already serves this directory") {
		t.Errorf("awaitDaemon: %v; want the daemon's own last line", err)
	}
}
