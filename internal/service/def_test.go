package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tetra/tsm/internal/envfile"
)

var testEnv = []string{"HOME=/home/ann", "CDP_PORT=", "USER=ann"}

// The upstream shapes below reproduce, construct for construct, the .tsm
// files the bash TSM's users have (terrain, devwatch, tetra-dev, caddy,
// chrome-cdp in study-groups/devops): they must parse unchanged.
var parseTests = []struct {
	name, src string
	want      Definition
}{
	{"port used in the command, pre-command", `TSM_PORT="8800"
TSM_COMMAND="python3 -m http.server --bind 127.0.0.1 $TSM_PORT"
TSM_PRE_COMMAND="activate_python"
`, Definition{Name: "svc", Command: "python3 -m http.server --bind 127.0.0.1 8800", Port: "8800",
		PreCommand: "activate_python", Cwd: "/srv/defs"}},
	{"everything exported, $HOME, helper variables", `#!/usr/bin/env bash
# TSM Service: watch - a dashboard

export TSM_NAME="watch"
export TSM_CWD="$HOME/src/watch"
export TSM_PORT="4400"
export PORT="4400"
export PW_DIR=$HOME/tetra/orgs/tetra/watch
export TSM_COMMAND="node server/index.js"

# Environment file (sourced before command runs)
export TSM_ENV_FILES="none"
export TSM_DESCRIPTION="Watch - a dashboard"
#export TSM_HEALTH_CHECK="http://127.0.0.1:9324/health"
`, Definition{Name: "watch", Command: "node server/index.js", Port: "4400", Cwd: "/home/ann/src/watch",
		Description: "Watch - a dashboard",
		Exports:     []envfile.Var{{Key: "PORT", Value: "4400", Line: 7}, {Key: "PW_DIR", Value: "/home/ann/tetra/orgs/tetra/watch", Line: 8}}}},
	{"absolute cwd, env file, pre-command with shell syntax, unused template fields", `#!/usr/bin/env bash
TSM_NAME="tetra"
TSM_CWD="/root/src/tetra"
TSM_ENV_FILE="env/dev.env"
TSM_PORT="4444"
TSM_PRE_COMMAND="echo 'starting' && test -f server/server.js || { echo 'FATAL'; exit 1; }"
TSM_COMMAND="node server/server.js --env dev"
TSM_HEALTH_CHECK="http://127.0.0.1:4444/health"
TSM_AUTOSTART="true"
TSM_RESTART_ON_FAILURE="true"
`, Definition{Name: "tetra", Command: "node server/server.js --env dev", Port: "4444", Cwd: "/root/src/tetra",
		Env: "env/dev.env", PreCommand: "echo 'starting' && test -f server/server.js || { echo 'FATAL'; exit 1; }",
		HealthCheck: "http://127.0.0.1:4444/health"}},
	{"defaults, $TETRA_DIR, private TSM_ helpers, multi-line single quotes", `TSM_NAME="caddy"
TSM_PORT="${CDP_PORT:-8080}"
TSM_CADDY_DIR="${TETRA_DIR}/caddy"
TSM_CWD="${TSM_CADDY_DIR}"
TSM_COMMAND="caddy run --config ${TSM_CADDY_DIR}/Caddyfile"
TSM_PRE_START='
    mkdir -p "$TSM_CADDY_DIR"
'
TSM_HEALTH_CHECK='curl -s http://localhost:${TSM_PORT}/ >/dev/null'
`, Definition{Name: "caddy", Command: "caddy run --config /home/ann/tetra/caddy/Caddyfile", Port: "8080",
		Cwd: "/home/ann/tetra/caddy", HealthCheck: "curl -s http://localhost:${TSM_PORT}/ >/dev/null"}},
	{"N+, relative cwd, inline env, deps, none", `TSM_PORT=3000+
TSM_CWD=../app
TSM_ENV="MODE=dev DEBUG=1"
TSM_DEPS="db, cache org/queue"
TSM_COMMAND='node app.js'
`, Definition{Name: "svc", Command: "node app.js", Port: "3000+", Cwd: "/srv/app", Deps: []string{"db", "cache", "org/queue"},
		Exports: []envfile.Var{{Key: "MODE", Value: "dev", Line: 3}, {Key: "DEBUG", Value: "1", Line: 3}}}},
	{"an exported TSM_ variable that is not a field is environment", `export TSM_DIR=/srv
TSM_HELPER=x
TSM_COMMAND="run $TSM_HELPER"
`, Definition{Name: "svc", Command: "run x", Cwd: "/srv/defs", Exports: []envfile.Var{{Key: "TSM_DIR", Value: "/srv", Line: 1}}}},
	{"export after assignment, last one wins", `A=1
B=2
export A
TSM_COMMAND=run
A=3
TSM_PORT=none
TSM_ENV=none
`, Definition{Name: "svc", Command: "run", Cwd: "/srv/defs", Exports: []envfile.Var{{Key: "A", Value: "3", Line: 5}}}},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("/srv/defs/svc.tsm", "", []byte(tt.src), testEnv)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Path = "/srv/defs/svc.tsm"
			if diff := cmp.Diff(&tt.want, d, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseBase(t *testing.T) {
	d, err := Parse("/srv/defs/svc.tsm", "/home/ann", []byte("TSM_COMMAND=run\n"), nil)
	if err != nil || d.Cwd != "/home/ann" {
		t.Fatalf("got %q, %v; want the base directory", d.Cwd, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"command substitution", "TSM_PORT=\"8410\"\nTSM_DIR=\"$(dirname \"${BASH_SOURCE[0]}\")\"\nTSM_COMMAND=x\n", 2, "runs in its own directory anyway"},
		{"backticks", "TSM_COMMAND=`which node`\n", 1, "not supported"},
		{"function", "TSM_COMMAND=x\nsetup() {\n  echo\n}\n", 2, "not a variable assignment"},
		{"conditional", "TSM_COMMAND=x\n[ -f .env ] && TSM_ENV=.env\n", 2, "not a variable assignment"},
		{"source", "source ~/tetra/tetra.sh\nTSM_COMMAND=x\n", 1, "cannot source"},
		{"no command", "TSM_NAME=x\n", 0, "no TSM_COMMAND"},
		{"empty command", "TSM_COMMAND=\n", 1, "empty"},
		{"bad port", "TSM_COMMAND=x\nTSM_PORT=http\n", 2, "not a port"},
		{"port zero", "TSM_COMMAND=x\nTSM_PORT=0\n", 2, "not a port"},
		{"N+ in the command", "TSM_PORT=8000+\nTSM_COMMAND=\"serve --port $TSM_PORT\"\n", 2, "$PORT"},
		{"name with slash", "TSM_NAME=a/b\nTSM_COMMAND=x\n", 1, "one word"},
		{"bad dep", "TSM_COMMAND=x\nTSM_DEPS='a ../b'\n", 2, "not a service name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/srv/x.tsm", "", []byte(tt.src), testEnv)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("got line %d %q; want line %d containing %q", se.Line, se.Msg, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "/srv/x.tsm") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, "", nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: got %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.tsm"), "", nil); !IsNotExist(err) {
		t.Errorf("a missing file: got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.src)
	}
	f.Add("TSM_PORT=\"8800\"\nTSM_COMMAND=\"python3 -m http.server $TSM_PORT\"\n")
	f.Add("export TSM_NAME=x\nexport A=$HOME/b\nexport A\nTSM_COMMAND='a b'\nTSM_ENV=\"K=V L=W\"\n")
	f.Add("TSM_PORT=${P:-1+}\nTSM_DEPS=a,b\nTSM_COMMAND=x\nf() { :; }\n")
	f.Fuzz(func(t *testing.T, src string) {
		d, err := Parse("/srv/f.tsm", "", []byte(src), testEnv)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			return
		}
		if strings.TrimSpace(d.Command) == "" || !filepath.IsAbs(d.Cwd) || strings.Contains(d.Name, "/") {
			t.Fatalf("accepted an unusable definition: %+v", d)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
