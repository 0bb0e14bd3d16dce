package spec

import (
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/tetra/tsm/internal/envfile"
)

// fakeSys is a System over an in-memory tree rooted at "/".
type fakeSys struct {
	files fstest.MapFS
	busy  map[int]bool
}

func (f fakeSys) LookPath(file, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		path := filepath.Join(dir, file)
		if info, err := f.Stat(path); err == nil && isExecutable(info) {
			return path, nil
		}
	}
	return "", fs.ErrNotExist
}

func (f fakeSys) ReadFile(path string) ([]byte, error) { return fs.ReadFile(f.files, rel(path)) }
func (f fakeSys) ReadHead(path string, n int) ([]byte, error) {
	data, err := f.ReadFile(path)
	return data[:min(n, len(data))], err
}
func (f fakeSys) Stat(path string) (fs.FileInfo, error) { return fs.Stat(f.files, rel(path)) }
func (f fakeSys) PortFree(port int) bool                { return !f.busy[port] }

func rel(path string) string {
	if path == "/" {
		return "."
	}
	return strings.TrimPrefix(path, "/")
}

const (
	exe  = 0o755
	data = 0o644
	proj = "/home/u/proj"
)

func newSys() fakeSys {
	file := func(mode fs.FileMode, content string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(content), Mode: mode}
	}
	dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	files := fstest.MapFS{
		"app":                         dir,
		"home/u/my-api":               dir,
		"home/u/shop/package.json":    file(data, `{"scripts": {"start": "PORT=3000 node server.js", "dev": "vite"}}`),
		"home/u/blog":                 dir,
		"home/u/my project":           dir,
		"home/u/backend/dist":         dir,
		"home/u/proj/src/lib":         dir,
		"home/u/demos/test/server.py": file(data, "import os\nPORT = int(os.environ.get('PORT', 9001))\n"),
		"home/u/backend/app.js":       file(data, "const x = 1;\nif (PORT == 1234) {}\nconst PORT = process.env.PORT || 3000;\n"),
		"home/u/backend/dist/app.js":  file(data, ""),
		"home/u/proj/x.py":            file(exe, "#!/usr/bin/env python3\nPORT = 7001\n"),
		"home/u/proj/y.py":            file(data, "print('no port here')\n"),
		"home/u/proj/noshebang.py":    file(exe, "print(1)\n"),
		"home/u/proj/app.mjs":         file(data, ""),
		"home/u/proj/run.sh":          file(exe, "#!/bin/sh\nPORT=7002\n"),
		"home/u/proj/deploy.sh":       file(data, "PORT=7003\n"),
		"home/u/proj/main.lua":        file(data, ""),
		"home/u/proj/scripts/tool.py": file(data, ""),
		"home/u/proj/server":          file(exe, "\x7fELF"),
		"home/u/proj/data.txt":        file(data, ""),
		"home/u/proj/env/local.env":   file(data, "export PORT=8100\nNAME=web\nDB=$HOME/db\n"),
		"home/u/proj/env/noport.env":  file(data, "PORT=\nGREETING='hi there'\n"),
		"home/u/proj/env/badport.env": file(data, "PORT=http\n"),
		"home/u/proj/env/broken.env":  file(data, "A=1\nB=$(whoami)\n"),
		"home/u/proj/env/path.env":    file(data, "PATH=/opt/extra/bin:$PATH\n"),
		"home/u/proj/config/dev.env":  file(data, "MODE=dev\n"),
		"home/u/proj/plain.env":       file(data, "MODE=plain\n"),
		"etc/tsm/abs.env":             file(data, "MODE=abs\n"),
		"opt/tools/bin/catalina.sh":   file(exe, "#!/bin/sh\n"),
		"opt/extra/bin/extra-tool":    file(exe, ""),
		"usr/bin/python":              file(exe, ""),
		"usr/bin/python3":             file(exe, ""),
		"usr/bin/python3.11":          file(exe, ""),
		"usr/bin/node":                file(exe, ""),
		"usr/bin/nodejs":              file(exe, ""),
		"usr/bin/nodemon":             file(exe, ""),
		"usr/bin/npm":                 file(exe, ""),
		"usr/bin/npx":                 file(exe, ""),
		"usr/bin/pnpm":                file(exe, ""),
		"usr/bin/flask":               file(exe, "#!/usr/bin/python3\n"),
		"usr/bin/bash":                file(exe, ""),
		"usr/bin/sh":                  file(exe, ""),
		"usr/bin/lua":                 file(exe, ""),
		"usr/bin/lua5.4":              file(exe, ""),
		"usr/bin/luajit":              file(exe, ""),
		"usr/bin/go":                  file(exe, ""),
		"usr/bin/sleep":               file(exe, ""),
		"usr/bin/php":                 file(exe, ""),
		"usr/bin/env":                 file(exe, ""),
		"usr/bin/not-executable":      file(data, ""),
	}
	return fakeSys{files: files, busy: map[int]bool{}}
}

const callerPath = "PATH=/usr/bin:/opt/tools/bin"

// resolve fills in the caller's cwd and environment when the test leaves
// them out.
func resolve(req Request, sys System) (Spec, error) {
	if req.Cwd == "" {
		req.Cwd = proj
	}
	if req.Env == nil {
		req.Env = []string{callerPath, "HOME=/home/u"}
	}
	return Resolve(req, sys)
}

func TestCommand(t *testing.T) {
	type result struct {
		Argv        []string
		Command     string
		Interpreter string
		ProcessType string
	}
	tests := []struct {
		name string
		argv []string
		want result
	}{
		{"python module", []string{"python3", "-m", "http.server", "8000"},
			result{[]string{"/usr/bin/python3", "-m", "http.server", "8000"}, "/usr/bin/python3 -m http.server 8000", "/usr/bin/python3", "python"}},
		{"versioned python stays itself", []string{"python3.11", "-c", "print(1)"},
			result{[]string{"/usr/bin/python3.11", "-c", "print(1)"}, "/usr/bin/python3.11 -c 'print(1)'", "/usr/bin/python3.11", "python"}},
		{"python script", []string{"python", "y.py"},
			result{[]string{"/usr/bin/python", "y.py"}, "/usr/bin/python y.py", "/usr/bin/python", "python"}},
		{"python flags before script", []string{"python3", "-u", "-W", "ignore", "scripts/tool.py"},
			result{[]string{"/usr/bin/python3", "-u", "-W", "ignore", "scripts/tool.py"}, "/usr/bin/python3 -u -W ignore scripts/tool.py", "/usr/bin/python3", "python"}},
		{"node", []string{"node", "app.mjs"},
			result{[]string{"/usr/bin/node", "app.mjs"}, "/usr/bin/node app.mjs", "/usr/bin/node", "node"}},
		{"nodejs", []string{"nodejs", "-e", "1"},
			result{[]string{"/usr/bin/nodejs", "-e", "1"}, "/usr/bin/nodejs -e 1", "/usr/bin/nodejs", "node"}},
		{"nodemon is a command", []string{"nodemon", "app.js"},
			result{[]string{"/usr/bin/nodemon", "app.js"}, "/usr/bin/nodemon app.js", "", "command"}},
		{"npm is a command", []string{"npm", "start"},
			result{[]string{"/usr/bin/npm", "start"}, "/usr/bin/npm start", "", "command"}},
		{"sleep", []string{"sleep", "300"},
			result{[]string{"/usr/bin/sleep", "300"}, "/usr/bin/sleep 300", "", "command"}},
		{"relative binary", []string{"./server", "--fast"},
			result{[]string{proj + "/server", "--fast"}, proj + "/server --fast", "", "command"}},
		{"absolute interpreter", []string{"/usr/bin/python3", "-m", "venv"},
			result{[]string{"/usr/bin/python3", "-m", "venv"}, "/usr/bin/python3 -m venv", "/usr/bin/python3", "python"}},
		{"executable script with shebang", []string{"./x.py", "--debug"},
			result{[]string{proj + "/x.py", "--debug"}, proj + "/x.py --debug", "", "python"}},
		{"script without exec bit", []string{"./y.py"},
			result{[]string{"/usr/bin/python3", "./y.py"}, "/usr/bin/python3 ./y.py", "/usr/bin/python3", "python"}},
		{"bare script name", []string{"y.py"},
			result{[]string{"/usr/bin/python3", "y.py"}, "/usr/bin/python3 y.py", "/usr/bin/python3", "python"}},
		{"executable script without shebang", []string{"noshebang.py"},
			result{[]string{"/usr/bin/python3", "noshebang.py"}, "/usr/bin/python3 noshebang.py", "/usr/bin/python3", "python"}},
		{"node script", []string{"app.mjs"},
			result{[]string{"/usr/bin/node", "app.mjs"}, "/usr/bin/node app.mjs", "/usr/bin/node", "node"}},
		{"shell script", []string{"./run.sh"},
			result{[]string{proj + "/run.sh"}, proj + "/run.sh", "", "bash"}},
		{"shell script without exec bit", []string{"deploy.sh", "now"},
			result{[]string{"/usr/bin/bash", "deploy.sh", "now"}, "/usr/bin/bash deploy.sh now", "/usr/bin/bash", "bash"}},
		{"script on PATH", []string{"catalina.sh", "run"},
			result{[]string{"/opt/tools/bin/catalina.sh", "run"}, "/opt/tools/bin/catalina.sh run", "", "bash"}},
		{"lua script", []string{"main.lua"},
			result{[]string{"/usr/bin/lua", "main.lua"}, "/usr/bin/lua main.lua", "/usr/bin/lua", "lua"}},
		{"lua5.N", []string{"lua5.4", "main.lua"},
			result{[]string{"/usr/bin/lua5.4", "main.lua"}, "/usr/bin/lua5.4 main.lua", "/usr/bin/lua5.4", "lua"}},
		{"luajit", []string{"luajit", "main.lua"},
			result{[]string{"/usr/bin/luajit", "main.lua"}, "/usr/bin/luajit main.lua", "/usr/bin/luajit", "lua"}},
		{"go", []string{"go", "run", "."},
			result{[]string{"/usr/bin/go", "run", "."}, "/usr/bin/go run .", "/usr/bin/go", "go"}},
		{"sh", []string{"sh", "deploy.sh"},
			result{[]string{"/usr/bin/sh", "deploy.sh"}, "/usr/bin/sh deploy.sh", "/usr/bin/sh", "bash"}},
		{"bash -c as words", []string{"bash", "-c", "echo hi; missing.sh"},
			result{[]string{"/usr/bin/bash", "-c", "echo hi; missing.sh"}, "/usr/bin/bash -c 'echo hi; missing.sh'", "/usr/bin/bash", "bash"}},
		{"single string is split", []string{"python3 -m  http.server\t8000"},
			result{[]string{"/usr/bin/python3", "-m", "http.server", "8000"}, "/usr/bin/python3 -m http.server 8000", "/usr/bin/python3", "python"}},
		{"single word without blanks runs as is", []string{"sleep"},
			result{[]string{"/usr/bin/sleep"}, "/usr/bin/sleep", "", "command"}},
		{"shell string", []string{"python3 -m http.server 8000 | tee log"},
			result{[]string{"/usr/bin/bash", "-c", "python3 -m http.server 8000 | tee log"}, "/usr/bin/bash -c 'python3 -m http.server 8000 | tee log'", "/usr/bin/bash", "bash"}},
		{"shell string with quotes", []string{`echo "it's" > out`},
			result{[]string{"/usr/bin/bash", "-c", `echo "it's" > out`}, `/usr/bin/bash -c 'echo "it'\''s" > out'`, "/usr/bin/bash", "bash"}},
		{"shell string with a variable", []string{"echo $HOME"},
			result{[]string{"/usr/bin/bash", "-c", "echo $HOME"}, "/usr/bin/bash -c 'echo $HOME'", "/usr/bin/bash", "bash"}},
		{"shell string with a newline", []string{"sleep 1\nsleep 2"},
			result{[]string{"/usr/bin/bash", "-c", "sleep 1\nsleep 2"}, "/usr/bin/bash -c 'sleep 1\nsleep 2'", "/usr/bin/bash", "bash"}},
		{"empty argument is quoted", []string{"sleep", ""},
			result{[]string{"/usr/bin/sleep", ""}, "/usr/bin/sleep ''", "", "command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolve(Request{Argv: tt.argv}, newSys())
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.argv, err)
			}
			got := result{s.Argv, s.Command, s.Interpreter, s.ProcessType}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%q) mismatch (-want +got):\n%s", tt.argv, diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		sys  func(fakeSys)
		want error  // sentinel the error must wrap
		msg  string // substring of the message
	}{
		{name: "no argv", req: Request{}, want: ErrUsage, msg: "no command given; usage: tsm start"},
		{name: "empty word", req: Request{Argv: []string{""}}, want: ErrUsage, msg: "no command given"},
		{name: "blank string", req: Request{Argv: []string{"  \t "}}, want: ErrUsage, msg: "no command given"},
		{name: "relative caller cwd", req: Request{Argv: []string{"sleep"}, Cwd: "proj"}, want: ErrUsage, msg: "not absolute"},
		{name: "unknown command", req: Request{Argv: []string{"nope", "x"}}, want: ErrMissingFile, msg: `command "nope" not found in PATH`},
		// A shell's VAR=value prefix: said so, with the ways to set it, and
		// without the value (red team: `command "API_TOKEN=s3cret" not found`).
		{name: "assignment as a command", req: Request{Argv: []string{"API_TOKEN=s3cret node app.js"}}, want: ErrUsage, msg: "starts with API_TOKEN=..., a variable assignment, not a program (tsm runs the command without a shell): write `env API_TOKEN=... <command>`"},
		{name: "assignment as argv0", req: Request{Argv: []string{"DB_URL=postgres://u:pw@db/x", "./run"}}, want: ErrUsage, msg: "starts with DB_URL=..., a variable assignment"},
		{name: "non-executable on PATH is not found", req: Request{Argv: []string{"not-executable"}}, want: ErrMissingFile, msg: `command "not-executable" not found`},
		{name: "caller PATH, not ours", req: Request{Argv: []string{"sleep"}, Env: []string{"PATH=/opt/tools/bin"}}, want: ErrMissingFile, msg: `command "sleep" not found`},
		{name: "missing relative binary", req: Request{Argv: []string{"./nope"}}, want: ErrMissingFile, msg: "./nope not found in " + proj},
		{name: "non-executable binary", req: Request{Argv: []string{"./data.txt"}}, want: ErrMissingFile, msg: "chmod +x ./data.txt"},
		{name: "directory as binary", req: Request{Argv: []string{"./env"}}, want: ErrMissingFile, msg: "not an executable file"},
		{name: "missing python script", req: Request{Argv: []string{"python3", "app.py"}}, want: ErrMissingFile, msg: "script app.py not found in " + proj},
		{name: "missing script after flags", req: Request{Argv: []string{"python3", "-u", "app.py"}}, want: ErrMissingFile, msg: "script app.py not found"},
		{name: "missing node script", req: Request{Argv: []string{"node", "server.js"}}, want: ErrMissingFile, msg: "script server.js not found"},
		{name: "missing bash script", req: Request{Argv: []string{"bash", "-x", "go.sh"}}, want: ErrMissingFile, msg: "script go.sh not found"},
		{name: "missing lua script", req: Request{Argv: []string{"lua", "x.lua"}}, want: ErrMissingFile, msg: "script x.lua not found"},
		{name: "script resolved against --cwd", req: Request{Argv: []string{"python3", "x.py"}, WorkDir: "scripts"}, want: ErrMissingFile, msg: "script x.py not found in " + proj + "/scripts"},
		{name: "missing script as argv0", req: Request{Argv: []string{"./app.py"}}, want: ErrMissingFile, msg: "script ./app.py not found in " + proj},
		{name: "missing bare script as argv0", req: Request{Argv: []string{"app.js"}}, want: ErrMissingFile, msg: "script app.js not found in " + proj},
		{name: "no interpreter for script", req: Request{Argv: []string{"y.py"}, Env: []string{"PATH=/opt/tools/bin"}}, want: ErrMissingFile, msg: "python3 not found in PATH (needed to run y.py)"},
		{name: "no bash for shell string", req: Request{Argv: []string{"a | b"}, Env: []string{"PATH=/opt/tools/bin"}}, want: ErrMissingFile, msg: `command "bash" not found`},
		{name: "no bash for pre-hook", req: Request{Argv: []string{"catalina.sh"}, PreHook: "true", Env: []string{"PATH=/opt/tools/bin"}}, want: ErrMissingFile, msg: `command "bash" not found`},
		{name: "missing --cwd", req: Request{Argv: []string{"sleep"}, WorkDir: "nope"}, want: ErrMissingFile, msg: "directory " + proj + "/nope not found (given as --cwd nope)"},
		{name: "--cwd is a file", req: Request{Argv: []string{"sleep"}, WorkDir: "data.txt"}, want: ErrMissingFile, msg: "not found"},
		{name: "missing env file", req: Request{Argv: []string{"sleep"}, EnvFile: "staging"}, want: ErrMissingFile, msg: `env file "staging" not found (looked for ` + proj + "/env/staging.env"},
		{name: "missing env path", req: Request{Argv: []string{"sleep"}, EnvFile: "../x.env"}, want: ErrMissingFile, msg: "looked for /home/u/x.env"},
		{name: "env file syntax", req: Request{Argv: []string{"sleep"}, EnvFile: "broken"}, want: ErrBadData, msg: proj + "/env/broken.env:2: command substitution"},
		{name: "env file PORT not a number", req: Request{Argv: []string{"sleep"}, EnvFile: "badport"}, want: ErrBadData, msg: `PORT="http" in ` + proj + "/env/badport.env is not a port number"},
		{name: "port word", req: Request{Argv: []string{"sleep"}, Port: "abc"}, want: ErrUsage, msg: `invalid --port "abc"`},
		{name: "port zero", req: Request{Argv: []string{"sleep"}, Port: "0"}, want: ErrUsage, msg: "invalid --port"},
		{name: "port too big", req: Request{Argv: []string{"sleep"}, Port: "65536"}, want: ErrUsage, msg: "invalid --port"},
		{name: "port negative", req: Request{Argv: []string{"sleep"}, Port: "-1"}, want: ErrUsage, msg: "invalid --port"},
		{name: "port signed", req: Request{Argv: []string{"sleep"}, Port: "+80"}, want: ErrUsage, msg: "invalid --port"},
		{name: "port plus only", req: Request{Argv: []string{"sleep"}, Port: "+"}, want: ErrUsage, msg: "invalid --port"},
		{name: "port double plus", req: Request{Argv: []string{"sleep"}, Port: "8000++"}, want: ErrUsage, msg: "invalid --port"},
		{name: "port with space", req: Request{Argv: []string{"sleep"}, Port: " 8000"}, want: ErrUsage, msg: "invalid --port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolve(tt.req, newSys())
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Resolve error = %v, want %v containing %q", err, tt.want, tt.msg)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":pw@") {
				t.Errorf("Resolve error %q shows a secret of the command", err)
			}
		})
	}
}

func TestEnvFileSyntaxErrorIsReachable(t *testing.T) {
	_, err := resolve(Request{Argv: []string{"sleep"}, EnvFile: "broken"}, newSys())
	se, ok := errors.AsType[*envfile.SyntaxError](err)
	if !ok || se.Path != proj+"/env/broken.env" || se.Line != 2 {
		t.Fatalf("Resolve error = %v, want *envfile.SyntaxError at %s/env/broken.env:2", err, proj)
	}
}

func TestPortLadder(t *testing.T) {
	tests := []struct {
		name    string
		cwd     string
		argv    []string
		port    string
		envFile string
		busy    []int
		want    int
		source  string
		busyErr *PortBusyError
	}{
		{name: "flag", argv: []string{"sleep", "1"}, port: "8000", want: 8000, source: "flag"},
		{name: "flag busy is strict", argv: []string{"sleep", "1"}, port: "8000", busy: []int{8000}, busyErr: &PortBusyError{8000, "flag"}},
		{name: "flag scan", argv: []string{"sleep", "1"}, port: "8000+", busy: []int{8000, 8001}, want: 8002, source: "flag"},
		{name: "flag scan free start", argv: []string{"sleep", "1"}, port: "3000+", want: 3000, source: "flag"},
		{name: "flag scan to the last port", argv: []string{"sleep", "1"}, port: "65535+", want: 65535, source: "flag"},
		{name: "flag none beats everything", argv: []string{"python3", "-m", "http.server", "8000"}, port: "none", envFile: "local", want: 0, source: ""},
		{name: "flag beats env file", argv: []string{"sleep", "1"}, port: "9000", envFile: "local", want: 9000, source: "flag"},
		{name: "env file", argv: []string{"sleep", "1"}, envFile: "local", want: 8100, source: "env file"},
		{name: "env file busy is strict", argv: []string{"sleep", "1"}, envFile: "local", busy: []int{8100}, busyErr: &PortBusyError{8100, "env file"}},
		{name: "env file beats command", argv: []string{"python3", "-m", "http.server", "8000"}, envFile: "local", want: 8100, source: "env file"},
		{name: "empty env PORT falls through", argv: []string{"python3", "-m", "http.server", "8000"}, envFile: "noport", want: 8000, source: "command"},
		{name: "colon", argv: []string{"php", "-S", "0.0.0.0:8000"}, want: 8000, source: "command"},
		{name: "localhost colon", argv: []string{"nodemon", "--url", "http://localhost:8080/x"}, want: 8080, source: "command"},
		{name: "--port word", argv: []string{"npm", "start", "--", "--port", "8001"}, want: 8001, source: "command"},
		{name: "--port=", argv: []string{"npm", "start", "--port=8002"}, want: 8002, source: "command"},
		{name: "-p", argv: []string{"./server", "-p", "8003"}, want: 8003, source: "command"},
		{name: "PORT= word", argv: []string{"env", "PORT=8004", "./server"}, want: 8004, source: "command"},
		{name: "PORT= in a shell string", argv: []string{"PORT=8005 node app.js | tee x"}, cwd: "/home/u/backend", want: 8005, source: "command"},
		{name: "short explicit port", argv: []string{"./server", "--port", "80"}, want: 80, source: "command"},
		{name: "python standalone", argv: []string{"python3", "-m", "http.server", "8006"}, want: 8006, source: "command"},
		{name: "node standalone", argv: []string{"node", "app.js", "3001"}, cwd: "/home/u/backend", want: 3001, source: "command"},
		{name: "script as argv0 standalone", argv: []string{"./x.py", "8007"}, want: 8007, source: "command"},
		{name: "command standalone ignored", argv: []string{"sleep", "3600"}, want: 0, source: ""},
		{name: "bash standalone ignored", argv: []string{"bash", "deploy.sh", "8000"}, want: 0, source: ""},
		{name: "flag value is not a port", argv: []string{"python3", "y.py", "--timeout", "30000"}, want: 0, source: ""},
		{name: "short colon is not a port", argv: []string{"./server", "--at", "12:30"}, want: 0, source: ""},
		{name: "slice is not a port", argv: []string{"python3", "-c", "print(b[::4096])"}, want: 0, source: ""},
		{name: "ratio is not a port", argv: []string{"./server", "--aspect", "16::9000"}, want: 0, source: ""},
		{name: "ipv6 host colon", argv: []string{"./server", "--listen", "[::1]:8010"}, want: 8010, source: "command"},
		{name: "bare colon port", argv: []string{"./server", "--bind", ":8011", "app:app"}, want: 8011, source: "command"},
		{name: "wildcard host colon", argv: []string{"./server", "*:8012"}, want: 8012, source: "command"},
		{name: "out of range is not a port", argv: []string{"python3", "y.py", "70000"}, want: 0, source: ""},
		{name: "command busy is strict", argv: []string{"python3", "-m", "http.server", "8000"}, busy: []int{8000}, busyErr: &PortBusyError{8000, "command"}},
		{name: "command beats script", argv: []string{"node", "app.js", "4000"}, cwd: "/home/u/backend", want: 4000, source: "command"},
		{name: "python script default", argv: []string{"python3", "server.py"}, cwd: "/home/u/demos/test", want: 9001, source: "script"},
		{name: "node script default skips comparisons", argv: []string{"node", "app.js"}, cwd: "/home/u/backend", want: 3000, source: "script"},
		{name: "executable script default", argv: []string{"./x.py"}, want: 7001, source: "script"},
		{name: "script default busy is strict", argv: []string{"python3", "server.py"}, cwd: "/home/u/demos/test", busy: []int{9001}, busyErr: &PortBusyError{9001, "script"}},
		{name: "bash script default ignored", argv: []string{"./run.sh"}, want: 0, source: ""},
		{name: "script without a port", argv: []string{"python3", "y.py"}, want: 0, source: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newSys()
			for _, p := range tt.busy {
				sys.busy[p] = true
			}
			s, err := resolve(Request{Argv: tt.argv, Cwd: tt.cwd, Port: tt.port, EnvFile: tt.envFile}, sys)
			if tt.busyErr != nil {
				if got, ok := errors.AsType[*PortBusyError](err); !ok || *got != *tt.busyErr {
					t.Fatalf("Resolve error = %v, want %#v", err, tt.busyErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Port != tt.want || s.PortSource != tt.source {
				t.Errorf("port = %d from %q, want %d from %q", s.Port, s.PortSource, tt.want, tt.source)
			}
		})
	}
}

func TestPortBusyErrorMessage(t *testing.T) {
	if got, want := (&PortBusyError{8000, "flag"}).Error(), "port 8000 is already in use"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestPortScanExhausted(t *testing.T) {
	sys := newSys()
	sys.busy[65534], sys.busy[65535] = true, true
	_, err := resolve(Request{Argv: []string{"sleep"}, Port: "65534+"}, sys)
	if err == nil || !strings.Contains(err.Error(), "no free port from 65534") {
		t.Fatalf("Resolve error = %v, want no free port", err)
	}
}

func TestNaming(t *testing.T) {
	long := strings.Repeat("a", 150)
	tests := []struct {
		name    string
		cwd     string
		argv    []string
		flag    string
		port    string
		envFile string
		want    string
	}{
		{name: "seed: python module", cwd: "/home/u/my-api", argv: []string{"python3", "-m", "http.server", "8000"}, want: "my-api-http-8000"},
		{name: "seed: python script", cwd: "/home/u/demos/test", argv: []string{"python", "server.py", "9000"}, want: "test-server-9000"},
		{name: "seed: node script", cwd: "/home/u/backend", argv: []string{"node", "app.js", "3000"}, want: "backend-app-3000"},
		{name: "seed: plain command", argv: []string{"sleep", "300"}, want: "sleep"},
		{name: "seed: script as command", argv: []string{"./run.sh"}, want: "run"},
		{name: "bash -c", argv: []string{"bash", "-c", "sleep 1"}, want: "bash"},
		{name: "bash script", argv: []string{"bash", "deploy.sh"}, want: "deploy"},
		{name: "shell string", argv: []string{"sleep 1; sleep 2"}, want: "bash"},
		{name: "binary keeps its extension", argv: []string{"./server"}, want: "server"},
		{name: "python script as argv0", argv: []string{"./x.py"}, want: "proj-x-7001"},
		{name: "script in a subdirectory", argv: []string{"python3", "scripts/tool.py"}, want: "proj-tool"},
		{name: "build dir skipped", cwd: "/home/u/backend/dist", argv: []string{"node", "app.js", "3000"}, want: "backend-app-3000"},
		{name: "nested build dirs skipped", cwd: "/home/u/proj/src/lib", argv: []string{"python3", "-m", "http.server", "8000"}, want: "proj-http-8000"},
		{name: "build dir at the root is kept", cwd: "/app", argv: []string{"python3", "-m", "http.server", "8000"}, want: "app-http-8000"},
		{name: "root cwd", cwd: "/", argv: []string{"python3", "-m", "http.server", "8000"}, want: "http-8000"},
		{name: "--name without port", argv: []string{"sleep", "1"}, flag: "worker", want: "worker"},
		{name: "--name with port", argv: []string{"sleep", "1"}, flag: "api", port: "8000", want: "api-8000"},
		{name: "--name already ends in the port", argv: []string{"sleep", "1"}, flag: "api-8000", port: "8000", want: "api-8000"},
		{name: "--name ends in another number", argv: []string{"sleep", "1"}, flag: "api-v2", port: "8000", want: "api-v2-8000"},
		{name: "env file NAME", argv: []string{"sleep", "1"}, envFile: "local", want: "web-8100"},
		{name: "--name beats env file NAME", argv: []string{"sleep", "1"}, flag: "api", envFile: "local", want: "api-8100"},
		{name: "unicode kept", argv: []string{"sleep", "1"}, flag: "café_π.v1", want: "café_π.v1"},
		{name: "other scripts kept", argv: []string{"sleep", "1"}, flag: "日本語", port: "8000", want: "日本語-8000"},
		{name: "longest name", argv: []string{"sleep", "1"}, flag: long[:95], port: "8000", want: long[:95] + "-8000"},
		{name: "npm start", cwd: "/home/u/shop", argv: []string{"npm", "start"}, want: "shop-start-3000"},
		{name: "npm run", cwd: "/home/u/shop", argv: []string{"npm", "run", "dev"}, want: "shop-dev-5173"},
		{name: "pnpm script", cwd: "/home/u/shop", argv: []string{"pnpm", "dev"}, want: "shop-dev-5173"},
		{name: "npx binary", cwd: "/home/u/blog", argv: []string{"npx", "-y", "vite"}, want: "blog-vite-5173"},
		{name: "sanitised cwd", cwd: "/home/u/my project", argv: []string{"python3", "-m", "http.server", "8000"}, want: "my-project-http-8000"},
		{name: "cwd in another script", cwd: "/home/u/проект", argv: []string{"python3", "-m", "http.server", "8000"}, want: "проект-http-8000"},
		{name: "cwd in CJK, sanitised", cwd: "/home/u/我的 项目", argv: []string{"python3", "-m", "http.server", "8000"}, want: "我的-项目-http-8000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolve(Request{Argv: tt.argv, Cwd: tt.cwd, Name: tt.flag, Port: tt.port, EnvFile: tt.envFile}, newSys())
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != tt.want {
				t.Errorf("name = %q, want %q", s.Name, tt.want)
			}
		})
	}
}

// A name the user gives is kept exactly or refused with a suggestion, never
// rewritten; names a target would misread are refused.
func TestRefusedNames(t *testing.T) {
	for _, tt := range []struct{ name, env, want string }{
		{name: " my app/v2!! ", want: `' ' is not allowed.*e.g. my-app-v2`},
		{name: "../..", want: `'/' is not allowed.*e.g. app`},
		{name: "0", want: `digits only.*e.g. app-0`},
		{name: "5", want: `digits only`},
		{name: "all", want: `"all" means every process`},
		{name: "ALL", want: `"all" means every process`},
		{name: "-x", want: `starts with "-"`},
		{name: ".hidden", want: `starts with "."`},
		{name: strings.Repeat("é", 60), want: `longer than 100 bytes`},
		{env: "bad name", want: `\(from NAME in /home/u/proj/env/n.env\)`},
	} {
		sys := newSys()
		req := Request{Argv: []string{"sleep", "1"}, Name: tt.name}
		if tt.env != "" {
			sys.files["home/u/proj/env/n.env"] = &fstest.MapFile{Data: []byte("NAME='" + tt.env + "'\n"), Mode: data}
			req.EnvFile = "n"
		}
		_, err := resolve(req, sys)
		if err == nil || !regexp.MustCompile(tt.want).MatchString(err.Error()) {
			t.Errorf("name %q env %q: err %v, want match %q", tt.name, tt.env, err, tt.want)
		}
		if tt.env == "" && !errors.Is(err, ErrUsage) || tt.env != "" && !errors.Is(err, ErrBadData) {
			t.Errorf("name %q: err %v is not a usage/bad data error", tt.name, err)
		}
	}
}

func TestWorkDir(t *testing.T) {
	for _, workDir := range []string{"scripts", proj + "/scripts", "./src/../scripts"} {
		s, err := resolve(Request{Argv: []string{"python3", "tool.py"}, WorkDir: workDir}, newSys())
		if err != nil {
			t.Fatal(err)
		}
		if s.Cwd != proj+"/scripts" || s.Name != "scripts-tool" {
			t.Errorf("--cwd %s: cwd %q name %q, want %s/scripts and scripts-tool", workDir, s.Cwd, s.Name, proj)
		}
	}
	s, err := resolve(Request{Argv: []string{"sleep"}, Cwd: proj + "/"}, newSys())
	if err != nil || s.Cwd != proj {
		t.Errorf("no --cwd: cwd %q, %v; want %s", s.Cwd, err, proj)
	}
}

func TestEnv(t *testing.T) {
	pwd := "PWD=" + proj
	const unbuf = "PYTHONUNBUFFERED=1"
	tests := []struct {
		name     string
		env      []string
		envFile  string
		port     string
		wantFile string
		want     []string
	}{
		{
			name: "caller env sorted and deduplicated",
			env:  []string{"Z=1", callerPath, "A=1", "A=2", "NOEQUALS", "=bad"},
			want: []string{"A=2", callerPath, pwd, unbuf, "Z=1"},
		},
		{
			name:     "env file overrides and expands caller env, PORT set",
			env:      []string{callerPath, "HOME=/home/u", "NAME=caller", "PORT=1"},
			envFile:  "local",
			wantFile: proj + "/env/local.env",
			want:     []string{"DB=/home/u/db", "HOME=/home/u", "NAME=web", callerPath, "PORT=8100", pwd, unbuf},
		},
		{
			name:     "--port overrides env file PORT",
			env:      []string{callerPath},
			envFile:  "local",
			port:     "9000",
			wantFile: proj + "/env/local.env",
			want:     []string{"DB=/db", "NAME=web", callerPath, "PORT=9000", pwd, unbuf},
		},
		{
			name:     "no port, no PORT added",
			env:      []string{callerPath},
			envFile:  "noport",
			wantFile: proj + "/env/noport.env",
			want:     []string{"GREETING=hi there", callerPath, "PORT=", pwd, unbuf},
		},
		{name: "relative path", env: []string{callerPath}, envFile: "config/dev.env", wantFile: proj + "/config/dev.env", want: []string{"MODE=dev", callerPath, pwd, unbuf}},
		{name: "name ending in .env", env: []string{callerPath}, envFile: "plain.env", wantFile: proj + "/plain.env", want: []string{"MODE=plain", callerPath, pwd, unbuf}},
		{name: "absolute path", env: []string{callerPath}, envFile: "/etc/tsm/abs.env", wantFile: "/etc/tsm/abs.env", want: []string{"MODE=abs", callerPath, pwd, unbuf}},
	}
	// PWD always names the process's directory, whatever the caller's says.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolve(Request{Argv: []string{"sleep"}, Env: tt.env, EnvFile: tt.envFile, Port: tt.port}, newSys())
			if err != nil {
				t.Fatal(err)
			}
			if s.EnvFile != tt.wantFile {
				t.Errorf("EnvFile = %q, want %q", s.EnvFile, tt.wantFile)
			}
			if diff := cmp.Diff(tt.want, s.Env); diff != "" {
				t.Errorf("Env mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvFilePathUsedForLookup(t *testing.T) {
	s, err := resolve(Request{Argv: []string{"extra-tool"}, EnvFile: "path"}, newSys())
	if err != nil {
		t.Fatal(err)
	}
	if s.Argv[0] != "/opt/extra/bin/extra-tool" {
		t.Errorf("argv[0] = %q, want the tool on the env file's PATH", s.Argv[0])
	}
}

func TestPreHook(t *testing.T) {
	hook := `source ~/.nvm/nvm.sh && nvm use 20 # "quoted" $stuff`
	s, err := resolve(Request{Argv: []string{"node", "app.js", "it's"}, Cwd: "/home/u/backend", PreHook: hook}, newSys())
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{
		Name:        "backend-app-3000",
		Argv:        []string{"/usr/bin/bash", "-c", "{ " + hook + "\n} && exec \"$@\"", "tsm-prehook", "node", "app.js", "it's"},
		Command:     `node app.js 'it'\''s'`,
		Interpreter: "node",
		ProcessType: "node",
		Cwd:         "/home/u/backend",
		Env:         []string{"HOME=/home/u", callerPath, "PORT=3000", "PWD=/home/u/backend", "PYTHONUNBUFFERED=1"},
		PreHook:     hook,
		Port:        3000,
		PortSource:  "script",
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
	}
}

// Python output reaches the logs as it is printed, unless the caller chose.
func TestPythonUnbuffered(t *testing.T) {
	for _, tt := range []struct {
		argv []string
		env  []string
		want string // "" = not set
	}{
		{[]string{"python3", "-m", "http.server"}, nil, "1"},
		{[]string{"python3", "-m", "http.server"}, []string{"PYTHONUNBUFFERED="}, ""},
		{[]string{"sleep", "1"}, nil, "1"}, // a console script or a shell script may run Python
	} {
		env := append([]string{callerPath}, tt.env...)
		s, err := resolve(Request{Argv: tt.argv, Env: env, Port: "none"}, newSys())
		if err != nil {
			t.Fatal(err)
		}
		got := "-"
		for _, kv := range s.Env {
			if v, ok := strings.CutPrefix(kv, "PYTHONUNBUFFERED="); ok {
				got = v
			}
		}
		if got != tt.want {
			t.Errorf("%v with %v: PYTHONUNBUFFERED %q, want %q", tt.argv, tt.env, got, tt.want)
		}
	}
}

// Package-manager launchers and servers with a known default port: the
// port comes from the usual places, and a busy default moves to the next
// free port, which the program is told when it does not read $PORT.
func TestLauncherAndDefaultPorts(t *testing.T) {
	for _, tt := range []struct {
		name     string
		argv     []string
		env      []string
		port     string
		busy     []int
		wantPort int
		wantArgv []string // nil: not checked
	}{
		{name: "npm start, port in the script line", argv: []string{"npm", "start"}, wantPort: 3000, wantArgv: []string{"/usr/bin/npm", "start"}},
		{name: "npm run dev, vite default", argv: []string{"npm", "run", "dev"}, wantPort: 5173, wantArgv: []string{"/usr/bin/npm", "run", "dev"}},
		{name: "vite default busy moves on and is told", argv: []string{"npm", "run", "dev"}, busy: []int{5173}, wantPort: 5174, wantArgv: []string{"/usr/bin/npm", "run", "dev", "--", "--port", "5174"}},
		{name: "--port after -- wins", argv: []string{"npm", "run", "dev", "--", "--port", "4000"}, wantPort: 4000},
		{name: "caller PORT for a launcher", argv: []string{"pnpm", "start"}, env: []string{"PORT=4100"}, wantPort: 4100, wantArgv: []string{"/usr/bin/pnpm", "start"}},
		{name: "caller PORT ignored for others", argv: []string{"sleep", "1"}, env: []string{"PORT=4100"}, wantPort: 0},
		{name: "http.server default", argv: []string{"python3", "-m", "http.server", "--bind", "127.0.0.1"}, wantPort: 8000},
		{name: "http.server default busy", argv: []string{"python3", "-m", "http.server", "--bind", "127.0.0.1"}, busy: []int{8000, 8001}, wantPort: 8002,
			wantArgv: []string{"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8002"}},
		{name: "flask run told the --port flag", argv: []string{"flask", "run"}, port: "9100", wantPort: 9100, wantArgv: []string{"flask", "run", "--port", "9100"}},
		{name: "manage.py runserver default", argv: []string{"python3", "manage.py", "runserver"}, busy: []int{8000}, wantPort: 8001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sys := newSys()
			sys.files["home/u/shop/manage.py"] = &fstest.MapFile{Data: []byte(""), Mode: data}
			for _, p := range tt.busy {
				sys.busy[p] = true
			}
			s, err := resolve(Request{Argv: tt.argv, Cwd: "/home/u/shop", Port: tt.port, Env: append([]string{callerPath}, tt.env...)}, sys)
			if err != nil {
				t.Fatal(err)
			}
			if s.Port != tt.wantPort {
				t.Errorf("port %d (%s), want %d", s.Port, s.PortSource, tt.wantPort)
			}
			// argv[0] is resolved; the words after it are what is checked.
			if tt.wantArgv != nil && !slices.Equal(s.Argv[1:], tt.wantArgv[1:]) {
				t.Errorf("argv %q, want ... %q", s.Argv, tt.wantArgv[1:])
			}
		})
	}
}

// A long derived name in a script of two-byte letters is cut at a letter,
// never inside one (a directory name that is not UTF-8).
func TestDerivedNameCutAtLetter(t *testing.T) {
	dir := "/home/u/" + strings.Repeat("я", 60) // 120 bytes
	s, err := resolve(Request{Argv: []string{"python3", "-m", "http.server", "8000"}, Cwd: dir}, newSys())
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(s.Name) || len(s.Name) > maxNameLen || !strings.HasSuffix(s.Name, "-8000") {
		t.Errorf("name %q (%d bytes): want valid UTF-8, at most %d bytes, ending in -8000", s.Name, len(s.Name), maxNameLen)
	}
}
