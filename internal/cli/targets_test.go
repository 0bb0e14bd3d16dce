package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/release"
)

// fakeDaemon serves the state directory of app with a handler that records
// the last TargetsRequest and answers with no results.
func fakeDaemon(t *testing.T) (*App, *bytes.Buffer, *map[string]any) {
	t.Helper()
	var got map[string]any
	app, out := serveApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = nil
		json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set(api.BuildHeader, release.Build)
		json.NewEncoder(w).Encode([]api.Result{})
	}))
	return app, out, &got
}

// serveApp runs h as the daemon of a fresh state directory and returns an
// App that talks to it, and the App's output (stdout and stderr).
func serveApp(t *testing.T, h http.Handler) (*App, *bytes.Buffer) {
	t.Helper()
	root, err := os.MkdirTemp("", "c") // short: sun_path is ~104 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	ln, err := net.Listen("unix", paths.Socket(root))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	app := &App{
		Stdout: &out, Stderr: &out,
		Getenv:  func(k string) string { return map[string]string{"TSM_DIR": root}[k] },
		Environ: func() []string { return []string{"A=1"} },
		Getwd:   func() (string, error) { return root, nil },
		RunDaemon: func(string) error {
			t.Error("the CLI ran a daemon")
			return nil
		},
	}
	return app, &out
}

// The grace period goes on the wire only when --timeout was given, so that
// the daemon's own default applies otherwise.
func TestTimeoutOnlyWhenGiven(t *testing.T) {
	tests := []struct {
		args []string
		want any // timeout_ms in the request; nil: absent
	}{
		{[]string{"stop", "web"}, nil},
		{[]string{"stop", "--timeout", "2s", "web"}, float64(2000)},
		{[]string{"restart", "web"}, nil},
		{[]string{"restart", "--timeout=300ms", "web"}, float64(300)},
		{[]string{"delete", "web"}, nil},
		{[]string{"rm", "--timeout", "1m", "web"}, float64(60000)},
		{[]string{"kill", "web"}, nil},
	}
	for _, tt := range tests {
		app, out, got := fakeDaemon(t)
		if code := app.Main(tt.args); code != ExitOK {
			t.Fatalf("tsm %s: exit %d\n%s", strings.Join(tt.args, " "), code, out)
		}
		ms, sent := (*got)["timeout_ms"]
		if tt.want == nil && sent || tt.want != nil && ms != tt.want {
			t.Errorf("tsm %s sent timeout_ms %v (present: %v), want %v", strings.Join(tt.args, " "), ms, sent, tt.want)
		}
	}
}

// --timeout 0 means no grace period (sent as 0, not left out, which would
// mean the 10 s default); a negative one is refused before the daemon.
func TestTimeoutZeroAndNegative(t *testing.T) {
	for d, want := range map[string]any{"0": float64(0), "0s": float64(0), "500us": float64(0), "-1s": nil, "-5ms": nil} {
		app, out, got := fakeDaemon(t)
		code := app.Main([]string{"stop", "--timeout", d, "web"})
		if want == nil {
			if code != ExitUsage || *got != nil || !strings.Contains(out.String(), "must not be negative") {
				t.Errorf("stop --timeout %s: exit %d, sent %v, want a usage error\n%s", d, code, *got, out)
			}
			continue
		}
		if ms, sent := (*got)["timeout_ms"]; code != ExitOK || !sent || ms != want {
			t.Errorf("stop --timeout %s: exit %d, sent %v, want timeout_ms %v", d, code, *got, want)
		}
	}
}

// The help keeps saying what the daemon's default is.
func TestTimeoutHelp(t *testing.T) {
	for _, cmd := range []string{"stop", "restart", "delete"} {
		app, out, _ := fakeDaemon(t)
		app.Main([]string{cmd, "--help"})
		if !strings.Contains(out.String(), "10s unless set") {
			t.Errorf("%s --help does not give the default grace period:\n%s", cmd, out)
		}
	}
}
