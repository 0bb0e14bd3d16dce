// Package service owns service definitions: the `.tsm` files users keep in
// $TSM_DIR/services-available and $TETRA_DIR/orgs/<org>/tsm/services-available,
// which of them are enabled, and the stack files that group them.
//
// A definition is parsed as the bash subset of DESIGN.md §6 (envfile's
// grammar), never sourced: the bash TSM sourced these files in the user's
// shell, where they could run anything and leak variables. Package service
// imports only envfile and paths among tsm packages; it never talks to the
// daemon (the CLI turns a Definition into a start request).
package service

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tetra/tsm/internal/envfile"
)

// Definition is one parsed .tsm file.
type Definition struct {
	// Name is TSM_NAME, else the file's base name without .tsm. A process
	// started from it is named Name, or Name-PORT when it has a port.
	Name string `json:"name"`
	// Org is the org whose directory holds the file ("" for $TSM_DIR).
	Org string `json:"org,omitempty"`
	// Path is the absolute path of the file.
	Path    string `json:"path"`
	Command string `json:"command"`
	// Cwd is the absolute working directory: TSM_CWD resolved against the
	// file's directory, else the file's directory.
	Cwd string `json:"cwd"`
	// Port is TSM_PORT as written: "" (none), "N" (N, must be free) or
	// "N+" (the first free port from N).
	Port string `json:"port,omitempty"`
	// Env is TSM_ENV (or TSM_ENV_FILE): an env file name or path; "" or
	// "none" for none. Inline "K=V ..." is moved to Exports by Parse.
	Env         string   `json:"env,omitempty"`
	PreCommand  string   `json:"pre_command,omitempty"`
	Description string   `json:"description,omitempty"`
	Deps        []string `json:"deps,omitempty"`
	HealthCheck string   `json:"health_check,omitempty"`
	// Exports are the file's `export KEY=value` variables other than
	// TSM_*, in file order: the service's environment.
	Exports []envfile.Var `json:"exports,omitempty"`
}

// ID is how a definition is named on the command line: name, or org/name
// for one that lives in an org ("" for one that has no file).
func (d *Definition) ID() string {
	if d.Path == "" {
		return ""
	}
	if d.Org == "" {
		return d.fileName()
	}
	return d.Org + "/" + d.fileName()
}

// fileName is the file's base name without .tsm.
func (d *Definition) fileName() string {
	return strings.TrimSuffix(filepath.Base(d.Path), ".tsm")
}

// SyntaxError is a definition that cannot be parsed: unsupported bash
// syntax or a malformed value, with its 1-based line.
type SyntaxError struct {
	Path string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// Load reads and parses the definition at path (see Parse). It refuses
// anything but a regular file of at most envfile.MaxSize bytes (a
// definition is a few hundred; a link to a device or a huge file must be
// refused rather than read). Errors:
// fs.ErrNotExist (wrapped) for a missing file, *SyntaxError for bad content.
func Load(path, base string, environ []string) (*Definition, error) {
	data, err := envfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, base, data, environ)
}

// fields are the TSM_* variables a definition sets. Any other variable,
// TSM_* or not, is the service's environment when exported (as with bash:
// built files export TSM_DIR) and a helper for expansion otherwise.
var fields = []string{"TSM_NAME", "TSM_COMMAND", "TSM_CWD", "TSM_PORT", "TSM_ENV", "TSM_ENV_FILE",
	"TSM_PRE_COMMAND", "TSM_DESCRIPTION", "TSM_DEPS", "TSM_HEALTH_CHECK",
	// Read by some bash TSM generation, or written by its templates; accepted
	// so that those files start unchanged, and not used.
	"TSM_ORG", "TSM_PORT_TYPE", "TSM_PORTS", "TSM_SECONDARY_PORTS", "TSM_COUPLING_MODE", "TSM_TDP_TOPIC",
	"TSM_ADAPTER_TYPE", "TSM_PARENT", "TSM_SOCKET_PATH", "TSM_CHILDREN", "TSM_AUTOSTART",
	"TSM_RESTART_ON_FAILURE", "TSM_ENV_FILES"}

var (
	portRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{1,5}\+?$`) })
	exportRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[ \t]*export[ \t]`) })
	markRe   = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[ \t]*export[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*(#.*)?$`)
	})
	depNameRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?$`)
	})
)

// Parse parses the content of the .tsm file at path. A missing or relative
// TSM_CWD is resolved against base, or against the file's directory when
// base is "" (a local ./x.tsm next to its project). environ is the caller's
// environment: $HOME, $TETRA_DIR or any other variable not set earlier in
// the file expands from it, as it would when bash sources the file
// (TETRA_DIR defaults to $HOME/tetra). Nothing is executed: `$(...)`,
// backticks, functions, conditionals and `source` are a *SyntaxError with
// the line.
func Parse(path, base string, data []byte, environ []string) (*Definition, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if env["TETRA_DIR"] == "" && env["HOME"] != "" {
		env["TETRA_DIR"] = filepath.Join(env["HOME"], "tetra")
	}
	vars, err := envfile.Parse(bytes.NewReader(data), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if se, ok := errors.AsType[*envfile.SyntaxError](err); ok {
		// envfile speaks of env files; the rules are the same.
		msg := strings.ReplaceAll(se.Msg, "env files", ".tsm files")
		if lines := strings.Split(string(data), "\n"); se.Line <= len(lines) && strings.Contains(lines[se.Line-1], "BASH_SOURCE") {
			// The bash idiom for "the file's directory".
			msg += "; a ./x.tsm runs in its own directory anyway (leave TSM_CWD out, or relative to the file)"
		}
		return nil, &SyntaxError{Path: path, Line: se.Line, Msg: msg}
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	exported := map[string]bool{} // keys marked by a bare `export KEY`
	for _, l := range lines {
		if m := markRe().FindStringSubmatch(l); m != nil {
			exported[m[1]] = true
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	d := &Definition{Path: abs}
	val := func(k string) (string, int) {
		for i := len(vars) - 1; i >= 0; i-- {
			if vars[i].Key == k {
				return vars[i].Value, vars[i].Line
			}
		}
		return "", 0
	}
	// Last assignment wins, as with sourcing; exports keep file order.
	seen := map[string]int{}
	for _, v := range vars {
		if slices.Contains(fields, v.Key) {
			continue
		}
		if !exported[v.Key] && !isExportLine(lines, v.Line) {
			continue // a helper variable: used for expansion only, as in bash
		}
		if i, ok := seen[v.Key]; ok {
			d.Exports[i] = v
			continue
		}
		seen[v.Key] = len(d.Exports)
		d.Exports = append(d.Exports, v)
	}
	var line int
	d.Command, line = val("TSM_COMMAND")
	if strings.TrimSpace(d.Command) == "" {
		if line == 0 {
			return nil, &SyntaxError{Path: path, Msg: `no TSM_COMMAND: a definition needs at least TSM_COMMAND="the command to run"`}
		}
		return nil, &SyntaxError{Path: path, Line: line, Msg: "TSM_COMMAND is empty"}
	}
	d.Name, line = val("TSM_NAME")
	if d.Name == "" {
		d.Name = strings.TrimSuffix(filepath.Base(path), ".tsm")
	} else if strings.ContainsAny(d.Name, "/ \t\n") || d.Name == "." || d.Name == ".." {
		return nil, &SyntaxError{Path: path, Line: line, Msg: fmt.Sprintf("TSM_NAME %q must be one word without '/'", d.Name)}
	}
	if why := misreadName(d.Name); why != "" {
		return nil, &SyntaxError{Path: path, Line: line, Msg: fmt.Sprintf("the service name %q %s; set TSM_NAME (or rename the file) to another name, e.g. %s-app", d.Name, why, d.Name)}
	}
	d.Port, line = val("TSM_PORT")
	if d.Port == "none" {
		d.Port = ""
	}
	if d.Port != "" {
		n, _ := strconv.Atoi(strings.TrimSuffix(d.Port, "+"))
		if !portRe().MatchString(d.Port) || n < 1 || n > 65535 {
			return nil, &SyntaxError{Path: path, Line: line, Msg: fmt.Sprintf("TSM_PORT %q is not a port: write N (1-65535, must be free), N+ (first free port from N) or none", d.Port)}
		}
		if strings.HasSuffix(d.Port, "+") && strings.Contains(d.Command, d.Port) {
			// bash would hand the command the text "8000+"; the real port is
			// only known when tsm picks it.
			_, cl := val("TSM_COMMAND")
			return nil, &SyntaxError{Path: path, Line: cl, Msg: fmt.Sprintf("TSM_COMMAND uses $TSM_PORT, which is %q, not a port; write $PORT instead (tsm sets it to the port it picks)", d.Port)}
		}
	}
	d.Env, _ = val("TSM_ENV_FILE")
	if e, l := val("TSM_ENV"); l != 0 {
		d.Env = e
	}
	if d.Env == "none" {
		d.Env = ""
	}
	if strings.Contains(d.Env, "=") {
		// Inline variables (`TSM_ENV="A=1 B=2"`, the bash TSM's third form).
		_, l := val("TSM_ENV")
		inline, err := envfile.Parse(strings.NewReader(strings.Join(strings.Fields(d.Env), "\n")), nil)
		if err != nil {
			return nil, &SyntaxError{Path: path, Line: l, Msg: fmt.Sprintf("TSM_ENV %q: neither an env file nor KEY=value words: %v", d.Env, err)}
		}
		for i := range inline {
			inline[i].Line = l
		}
		d.Exports = append(inline, d.Exports...)
		d.Env = ""
	}
	d.PreCommand, _ = val("TSM_PRE_COMMAND")
	d.Description, _ = val("TSM_DESCRIPTION")
	d.HealthCheck, _ = val("TSM_HEALTH_CHECK")
	deps, line := val("TSM_DEPS")
	for _, dep := range strings.FieldsFunc(deps, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if !depNameRe().MatchString(dep) {
			return nil, &SyntaxError{Path: path, Line: line, Msg: fmt.Sprintf("TSM_DEPS: %q is not a service name", dep)}
		}
		d.Deps = append(d.Deps, dep)
	}
	dir := base
	if dir == "" {
		dir = filepath.Dir(abs)
	}
	cwd, _ := val("TSM_CWD")
	switch {
	case cwd == "" || cwd == ".":
		d.Cwd = dir
	case filepath.IsAbs(cwd):
		d.Cwd = filepath.Clean(cwd)
	default:
		d.Cwd = filepath.Join(dir, cwd)
	}
	return d, nil
}

// isExportLine reports whether the assignment on 1-based line n is written
// `export KEY=...`.
func isExportLine(lines []string, n int) bool {
	return n >= 1 && n <= len(lines) && exportRe().MatchString(lines[n-1])
}

// IsNotExist reports whether err says a definition or stack is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// misreadName says why a target would misread name as something else, or
// "": its process would be refused at every start (spec refuses such a
// --name), so the definition is refused where it is read, with its line.
func misreadName(name string) string {
	switch {
	case strings.Trim(name, "0123456789") == "":
		return "is all digits, which tsm takes for a process ID"
	case strings.EqualFold(name, "all"):
		return "means every process in tsm stop, restart and delete"
	case strings.HasPrefix(name, "-"):
		return "starts with \"-\", which reads as a flag"
	}
	return ""
}
