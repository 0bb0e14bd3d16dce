package spec

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// command is the resolved command before port, name and pre-hook.
type command struct {
	argv        []string // absolute program first
	typ         string   // Spec.ProcessType
	interpreter string
	first       string    // first word as typed ("bash" for a shell string), for naming
	portWords   []string  // words searched for a port literal (rule 8c)
	scriptPath  string    // absolute path of the python/node/bash/lua script, "" if none
	module      string    // module of python -m, "" if none
	launcher    *launcher // npm start, pnpm dev, npx vite ...; nil if not one
}

// shellSyntax is every character that makes a single command string mean
// something different to a shell than to strings.Fields.
const shellSyntax = "$`|&;<>()*?[]'\"\\~{}#\n"

// commandWords implements rules 1 and 2 up to the split: an empty command is
// a usage error, and a single string is split only when no shell would read
// it differently. A string with shell syntax stays one word for bash -c.
func commandWords(argv []string) ([]string, error) {
	if len(argv) == 1 && strings.ContainsAny(argv[0], " \t\n") && !strings.ContainsAny(argv[0], shellSyntax) {
		argv = strings.Fields(argv[0])
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errorf(ErrUsage, "no command given; usage: tsm start [flags] <command> [args...]")
	}
	if name, _, ok := strings.Cut(argv[0], "="); ok && varName().MatchString(name) && !strings.ContainsAny(argv[0], " \t\n") {
		// A shell's VAR=value prefix (outside a shell string, which bash
		// runs as such), which tsm would look up as a program: `command
		// "API_TOKEN=abc" not found` said neither why nor how, and showed
		// the value, often a secret, in the error.
		return nil, errorf(ErrUsage, "the command starts with %s=..., a variable assignment, not a program (tsm runs the command without a shell): write `env %s=... <command>`, put %s in an env file (--env), or export it before tsm start (the process gets your environment)", name, name, name)
	}
	return argv, nil
}

var varName = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolveCommand implements rules 2 to 5: shell wrapping, type detection,
// interpreter resolution and script existence.
func resolveCommand(words []string, cwd, pathEnv string, sys System) (command, error) {
	// commandWords kept a string with blanks whole only if it has shell syntax.
	if len(words) == 1 && strings.ContainsAny(words[0], " \t\n") {
		bash, err := lookCommand("bash", pathEnv, sys)
		if err != nil {
			return command{}, err
		}
		return command{
			argv:        []string{bash, "-c", words[0]},
			typ:         "bash",
			interpreter: bash,
			first:       "bash",
			portWords:   strings.Fields(words[0]),
		}, nil
	}
	if typ := scriptType(words[0]); typ != "" {
		return resolveScriptCommand(typ, words, cwd, pathEnv, sys)
	}

	c := command{typ: typeOf(filepath.Base(words[0])), first: words[0], portWords: words[1:]}
	prog, err := lookProgram(words[0], cwd, pathEnv, sys)
	if err != nil {
		return command{}, err
	}
	c.argv = append([]string{prog}, words[1:]...)
	if c.typ == "command" {
		return c, nil
	}
	c.interpreter = prog
	script, module := findScript(c.typ, words[1:])
	c.module = module
	if script != "" {
		c.scriptPath = absPath(cwd, script)
		if !isFile(sys, c.scriptPath) {
			return command{}, errorf(ErrMissingFile, "script %s not found in %s", script, cwd)
		}
	}
	return c, nil
}

// hookedCommand is resolveCommand for a command that runs after a pre-hook:
// nothing is looked up or checked, because the hook may change PATH,
// activate a venv, select a node version or cd elsewhere, and bash's exec
// finds the program only after it has. The type and naming inputs come from
// the words as typed; a script found in cwd is read for its port.
func hookedCommand(words []string, cwd string, sys System) command {
	if len(words) == 1 && strings.ContainsAny(words[0], " \t\n") {
		return command{argv: []string{"bash", "-c", words[0]}, typ: "bash", interpreter: "bash", first: "bash", portWords: strings.Fields(words[0])}
	}
	c := command{argv: words, first: words[0], portWords: words[1:]}
	script := ""
	if c.typ = scriptType(words[0]); c.typ != "" {
		script = words[0]
		info, err := sys.Stat(absPath(cwd, script))
		if err != nil || !isExecutable(info) || !hasShebang(sys, absPath(cwd, script)) {
			c.interpreter = interpreterOf(c.typ)
			c.argv = append([]string{c.interpreter}, words...)
		}
	} else if c.typ = typeOf(filepath.Base(words[0])); c.typ != "command" {
		c.interpreter = words[0]
		script, c.module = findScript(c.typ, words[1:])
	}
	if script != "" && isFile(sys, absPath(cwd, script)) {
		c.scriptPath = absPath(cwd, script)
	}
	return c
}

// resolveScriptCommand handles rule 3's script as argv[0]. A script that can
// run itself (executable, with a #! line) is exec'd as is, so its shebang
// picks the interpreter; otherwise the type's interpreter is prepended, as
// the user would have typed it.
func resolveScriptCommand(typ string, words []string, cwd, pathEnv string, sys System) (command, error) {
	script := words[0]
	path := absPath(cwd, script)
	if !isFile(sys, path) && !strings.Contains(script, "/") {
		// A bare name like catalina.sh may be a tool installed on PATH.
		if found, err := sys.LookPath(script, pathEnv); err == nil {
			path, script = found, found
		}
	}
	info, err := sys.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return command{}, errorf(ErrMissingFile, "script %s not found in %s", script, cwd)
	}
	c := command{typ: typ, first: words[0], portWords: words[1:], scriptPath: path}
	if isExecutable(info) && hasShebang(sys, path) {
		if err := checkShebang(sys, path); err != nil {
			return command{}, err
		}
		c.argv = append([]string{path}, words[1:]...)
		return c, nil
	}
	name := interpreterOf(typ)
	interp, err := sys.LookPath(name, pathEnv)
	if err != nil {
		return command{}, errorf(ErrMissingFile, "%s not found in PATH (needed to run %s)", name, script)
	}
	c.interpreter = interp
	c.argv = append([]string{interp, script}, words[1:]...)
	return c, nil
}

// lookProgram implements rule 4 for argv[0]: a path is taken relative to the
// process cwd and must be an executable file; a bare word is searched in
// PATH. Either way the result is the same program, never a substitute.
func lookProgram(word, cwd, pathEnv string, sys System) (string, error) {
	if !strings.Contains(word, "/") {
		return lookCommand(word, pathEnv, sys)
	}
	path := absPath(cwd, word)
	info, err := sys.Stat(path)
	if err != nil {
		return "", errorf(ErrMissingFile, "%s not found in %s", word, cwd)
	}
	if !isExecutable(info) {
		return "", errorf(ErrMissingFile, "%s is not an executable file (chmod +x %s)", word, word)
	}
	if info.Size() < 1<<20 { // a script; a compiled program is not read
		if err := checkShebang(sys, path); err != nil {
			return "", err
		}
	}
	return path, nil
}

// checkShebang refuses a script whose #! line ends in a carriage return
// (Windows line endings). The kernel then looks for "/bin/bash\r", and with
// "#!/usr/bin/env python3\r" env looks for "python3\r": either way the
// error says a file that exists was not found, after the process started.
// The message is the one proc gives for the first case when exec fails
// (exit 1, as then).
func checkShebang(sys System, path string) error {
	data, err := sys.ReadHead(path, shebangMax)
	if err != nil {
		return nil
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	interp, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok || !bytes.HasSuffix(interp, []byte("\r")) {
		return nil
	}
	return fmt.Errorf("bad interpreter %q: %s has Windows (CRLF) line endings; convert it with dos2unix %s (or sed -i 's/\\r$//' %s)",
		strings.TrimSpace(string(interp))+"\r", path, path, path)
}

func lookCommand(name, pathEnv string, sys System) (string, error) {
	path, err := sys.LookPath(name, pathEnv)
	if err != nil {
		return "", errorf(ErrMissingFile, "command %q not found in PATH (install it or give its path)", name)
	}
	return path, nil
}

// Regular expressions are compiled on first use, not at package init:
// every CLI call would otherwise pay for them, `tsm list` included.
var (
	pythonName = lazyRegexp(`^python[0-9.]*$`)
	luaName    = lazyRegexp(`^(lua|luajit|lua5\.[0-9]+)$`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// typeOf implements rule 3's detection by the basename of argv[0]. Only the
// interpreters themselves count: nodemon, npm or ./server are commands.
func typeOf(base string) string {
	switch {
	case pythonName().MatchString(base):
		return "python"
	case base == "node" || base == "nodejs":
		return "node"
	case base == "bash" || base == "sh":
		return "bash"
	case luaName().MatchString(base):
		return "lua"
	case base == "go":
		return "go"
	}
	return "command"
}

// scriptType returns the process type a script file name implies, or "".
func scriptType(name string) string {
	switch filepath.Ext(name) {
	case ".py":
		return "python"
	case ".js", ".mjs", ".cjs":
		return "node"
	case ".sh":
		return "bash"
	case ".lua":
		return "lua"
	}
	return ""
}

// interpreterOf names the program prepended to a script of type typ.
func interpreterOf(typ string) string {
	if typ == "python" {
		return "python3"
	}
	return typ
}

// findScript implements rule 5's search: the first non-flag argument with the
// interpreter's script extension. Flags that make the interpreter run
// something other than a file (python -c/-m, node -e/-p, bash -c) end the
// search; python -m also names the module for rule 9.
func findScript(typ string, args []string) (script, module string) {
	stops := map[string][]string{
		"python": {"-c"},
		"node":   {"-e", "--eval", "-p", "--print"},
		"bash":   {"-c"},
	}[typ]
	for i, a := range args {
		switch {
		case typ == "python" && a == "-m":
			if i+1 < len(args) {
				return "", args[i+1]
			}
			return "", ""
		case slices.Contains(stops, a):
			return "", ""
		case strings.HasPrefix(a, "-"):
		case scriptType(a) == typ:
			return a, ""
		}
	}
	return "", ""
}

func isFile(sys System, path string) bool {
	info, err := sys.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

func isExecutable(info fs.FileInfo) bool {
	return info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// shebangMax is as much of a script as a #! line check reads: the kernel
// reads no more of it either (BINPRM_BUF_SIZE).
const shebangMax = 256

func hasShebang(sys System, path string) bool {
	data, err := sys.ReadHead(path, shebangMax)
	return err == nil && bytes.HasPrefix(data, []byte("#!"))
}
