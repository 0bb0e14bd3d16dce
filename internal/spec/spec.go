// Package spec owns turning a start request into a resolved Spec: what to
// exec, its type and interpreter, working directory, environment, port and
// name, following the seed's start rules.
//
// It is pure: it never starts a process, and it reads files and probes ports
// only through the injected System, so every rule is testable with a fake.
// It must not import os/exec or any tsm package other than envfile.
package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unique"

	"github.com/tetra/tsm/internal/envfile"
)

// Request is a start request as the user made it, with the caller's world
// (cwd, environment) so the result does not depend on who resolves it.
type Request struct {
	Argv    []string // command words as the user typed them (after tsm's own flags)
	Cwd     string   // caller's working directory (absolute)
	Env     []string // caller's environment, "K=V"
	Name    string   // --name, "" if not given
	Port    string   // --port: "" | "8000" | "8000+" | "none"
	EnvFile string   // --env: "" | "local" (→ <Cwd>/env/local.env) | a path (relative to Cwd or absolute)
	WorkDir string   // --cwd: "" or a dir (relative to Cwd); becomes the process cwd
	PreHook string   // --pre-hook: shell code run before the command
}

// Spec is everything needed to spawn the process and describe it.
type Spec struct {
	Name    string   // final process name
	Argv    []string // what to exec: absolute argv[0]; wrapped in bash when there is a pre-hook
	Command string   // display string of the command without the pre-hook wrapper
	// Interpreter is the resolved interpreter's absolute path, "" for plain
	// commands; with a pre-hook, the name as typed (the hook decides which
	// one runs).
	Interpreter string
	ProcessType string   // python | node | bash | lua | go | command
	Cwd         string   // absolute process cwd
	Env         []string // final environment, "K=V" sorted by key, no duplicate keys
	EnvFile     string   // absolute path of the env file used, "" if none
	PreHook     string
	Port        int    // 0 = no port
	PortSource  string // "flag" | "env file" | "command" | "caller env" | "package.json" | "script" | "default" | "" (none)
}

// Callers map these to exit codes (64, 66, 65), so every error Resolve
// returns for a user mistake wraps exactly one of them.
var (
	ErrUsage       = errors.New("invalid usage")
	ErrMissingFile = errors.New("missing file")
	ErrBadData     = errors.New("bad data")
)

// kindError is an error of one of the kinds above whose message stands on
// its own: the kind is for callers to branch on, not for the user to read.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func errorf(kind error, format string, a ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, a...)}
}

// PortBusyError says the chosen port is taken. It carries no holder: the
// supervisor knows which tsm process or PID holds it and says so.
type PortBusyError struct {
	Port   int
	Source string // where the port came from, as in Spec.PortSource
}

func (e *PortBusyError) Error() string {
	return fmt.Sprintf("port %d is already in use", e.Port)
}

// Resolve applies the start rules to req. The numbered rules of the design
// brief are marked where they are implemented.
func Resolve(req Request, sys System) (Spec, error) {
	if !filepath.IsAbs(req.Cwd) {
		return Spec{}, errorf(ErrUsage, "the caller's working directory %q is not absolute", req.Cwd)
	}
	words, err := commandWords(req.Argv)
	if err != nil {
		return Spec{}, err
	}
	cwd, err := processDir(req, sys)
	if err != nil {
		return Spec{}, err
	}
	callerEnv := envMap(req.Env)
	envPath, vars, err := loadEnvFile(req, callerEnv, sys)
	if err != nil {
		return Spec{}, err
	}
	// Rule 11: caller env, then the env file overrides it. PATH is taken from
	// the result, so an env file that extends PATH finds the programs the
	// process will see.
	env := maps.Clone(callerEnv)
	for _, v := range vars {
		env[v.Key] = v.Value
	}
	var cmd command
	if req.PreHook != "" {
		cmd = hookedCommand(words, cwd, sys)
	} else if cmd, err = resolveCommand(words, cwd, env["PATH"], sys); err != nil {
		return Spec{}, err
	}
	if cmd.typ == "command" && len(words) > 0 {
		cmd.launcher = findLauncher(words, cwd, sys)
	}
	port, source, err := resolvePort(req.Port, vars, envPath, callerEnv["PORT"], cmd, sys)
	if err != nil {
		return Spec{}, err
	}
	if port > 0 {
		env["PORT"] = strconv.Itoa(port)
		cmd.argv = tellPort(cmd, port, source)
	}
	// A shell would update PWD on cd; the caller's value names the wrong
	// directory when --cwd differs.
	env["PWD"] = cwd
	// Python buffers stdout written to a file, so print() output would reach
	// `tsm logs` late, in blocks, or never if the process is killed. Set for
	// every process, not only those tsm knows to be Python: a console script
	// (flask, gunicorn), an env-python3 script, uv run or a shell script
	// that starts Python all look like something else, and other programs
	// ignore the variable.
	if _, set := env["PYTHONUNBUFFERED"]; !set {
		env["PYTHONUNBUFFERED"] = "1"
	}
	argv := cmd.argv
	if req.PreHook != "" {
		if argv, err = withPreHook(req.PreHook, cmd.argv, env["PATH"], sys); err != nil {
			return Spec{}, err
		}
	}
	name, err := processName(req.Name, vars, envPath, cwd, cmd, port)
	if err != nil {
		return Spec{}, err
	}
	return Spec{
		Name:        name,
		Argv:        argv,
		Command:     shellJoin(cmd.argv),
		Interpreter: cmd.interpreter,
		ProcessType: cmd.typ,
		Cwd:         cwd,
		Env:         envList(env),
		EnvFile:     envPath,
		PreHook:     req.PreHook,
		Port:        port,
		PortSource:  source,
	}, nil
}

// processDir implements rule 6: --cwd, resolved against the caller's cwd,
// else the caller's cwd.
func processDir(req Request, sys System) (string, error) {
	if req.WorkDir == "" {
		return filepath.Clean(req.Cwd), nil
	}
	dir := absPath(req.Cwd, req.WorkDir)
	if info, err := sys.Stat(dir); err != nil || !info.IsDir() {
		return "", errorf(ErrMissingFile, "directory %s not found (given as --cwd %s)", dir, req.WorkDir)
	}
	return dir, nil
}

// loadEnvFile implements rule 7. A bare name like "local" means the project
// convention env/<name>.env; anything that looks like a path is a path.
func loadEnvFile(req Request, callerEnv map[string]string, sys System) (string, []envfile.Var, error) {
	if req.EnvFile == "" {
		return "", nil, nil
	}
	path := req.EnvFile
	if !strings.Contains(path, "/") && !strings.HasSuffix(path, ".env") {
		path = filepath.Join("env", path+".env")
	}
	path = absPath(req.Cwd, path)
	data, err := sys.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, errorf(ErrMissingFile, "env file %q not found (looked for %s; create it or pass a path with --env)", req.EnvFile, path)
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading env file: %w", err)
	}
	vars, err := envfile.Parse(bytes.NewReader(data), func(k string) (string, bool) {
		v, ok := callerEnv[k]
		return v, ok
	})
	if se, ok := errors.AsType[*envfile.SyntaxError](err); ok {
		se.Path = path
		return "", nil, errorf(ErrBadData, "env file %w", se)
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading env file %s: %w", path, err)
	}
	return path, vars, nil
}

// withPreHook implements rule 10. The hook and the command travel as separate
// arguments, so no quoting is ever built by hand; the braces and the newline
// let a hook end in a comment, and && makes a failing hook stop the start.
func withPreHook(hook string, argv []string, pathEnv string, sys System) ([]string, error) {
	bash, err := lookCommand("bash", pathEnv, sys)
	if err != nil {
		return nil, err
	}
	return append([]string{bash, "-c", "{ " + hook + "\n} && exec \"$@\"", "tsm-prehook"}, argv...), nil
}

// envMap turns "K=V" entries into a map; a later duplicate wins, as in exec.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// envList renders the environment of a process. Its entries are interned:
// processes started from one shell share them, where the daemon would
// otherwise keep 1-4 KB of identical strings per process for as long as
// each runs.
func envList(m map[string]string) []string {
	env := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		env = append(env, unique.Make(k+"="+m[k]).Value())
	}
	return env
}

func absPath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// shellJoin renders argv the way a user could paste it into a shell.
func shellJoin(argv []string) string {
	quoted := make([]string, len(argv))
	for i, w := range argv {
		quoted[i] = shellQuote(w)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(w string) string {
	safe := func(r rune) bool {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)
	}
	if w != "" && strings.IndexFunc(w, func(r rune) bool { return !safe(r) }) < 0 {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
