package spec

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// launcher is a package-manager command that runs a project script or a
// package binary: npm start, npm run dev, pnpm dev, yarn dev, bun run dev,
// npx vite. Its own name says nothing about the project, so the process is
// named after the directory and the script, and its port is looked for in
// the line the script runs.
type launcher struct {
	script string // "start", "dev", or the binary npx runs
	line   string // what the script runs (package.json), or the npx words
	npm    bool   // npm itself: extra arguments reach the script only after "--"
}

// managerCommands are the package managers' own subcommands: `pnpm install`
// is not a script called install.
var managerCommands = []string{"install", "i", "add", "remove", "rm", "update", "up", "upgrade", "outdated", "link", "unlink",
	"publish", "pack", "init", "create", "audit", "why", "info", "config", "cache", "login", "logout", "dlx", "exec", "x", "ci", "test", "t"}

// findLauncher recognises words as a launcher, reading the script line from
// package.json in cwd (a script that is not there has no line: the
// launcher will say so itself when it runs).
func findLauncher(words []string, cwd string, sys System) *launcher {
	base := filepath.Base(words[0])
	args := words[1:]
	var l launcher
	switch base {
	case "npx", "bunx":
		bin := firstArg(args)
		if bin == "" {
			return nil
		}
		return &launcher{script: bin, line: strings.Join(args, " ")}
	case "npm", "pnpm", "yarn", "bun":
		sub := firstArg(args)
		switch {
		case sub == "run" || sub == "run-script":
			i := slices.Index(args, sub)
			l.script = firstArg(args[i+1:])
		case sub == "start":
			l.script = "start"
		case (sub == "exec" || sub == "dlx" || sub == "x") && base != "npm":
			i := slices.Index(args, sub)
			bin := firstArg(args[i+1:])
			if bin == "" {
				return nil
			}
			return &launcher{script: bin, line: strings.Join(args[i+1:], " ")}
		case base != "npm" && sub != "" && !slices.Contains(managerCommands, sub):
			l.script = sub // yarn dev, pnpm dev, bun dev
		}
		if l.script == "" {
			return nil
		}
		l.npm = base == "npm"
		l.line = packageScript(filepath.Join(cwd, "package.json"), l.script, sys)
		return &l
	}
	return nil
}

// firstArg is the first word that is not a flag.
func firstArg(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

func packageScript(path, script string, sys System) string {
	data, err := sys.ReadFile(path)
	if err != nil {
		return ""
	}
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	if json.Unmarshal(data, &pkg) != nil {
		return ""
	}
	return pkg.Scripts[script]
}

// server is a program whose default port is well known. Without it, five
// parallel `python3 -m http.server` would all try 8000 and four would die;
// with it, the port ladder gives each its own port and tells the program.
type server struct {
	port int
	// portArgs are the words that tell the program its port; nil for a
	// program that reads $PORT, which tsm always sets.
	portArgs func(port int) []string
}

func portFlag(p int) []string       { return []string{"--port", strconv.Itoa(p)} }
func portPositional(p int) []string { return []string{strconv.Itoa(p)} }

// knownServer recognises the servers whose default port tsm knows, from
// the command words (a launcher's script line included): the module of
// python -m, or a program and its subcommand.
func knownServer(c command) *server {
	words := c.portWords
	if c.launcher != nil {
		words = strings.Fields(c.launcher.line)
	}
	switch c.module {
	case "http.server":
		if hasPositional(words, "http.server") {
			return nil // a port is given; commandPort found it, or it is not a number
		}
		return &server{port: 8000, portArgs: portPositional}
	case "flask":
		return &server{port: 5000, portArgs: portFlag}
	case "uvicorn":
		return &server{port: 8000, portArgs: portFlag}
	}
	all := append([]string{filepath.Base(c.first)}, words...)
	for i, w := range all {
		next := ""
		if i+1 < len(all) {
			next = all[i+1]
		}
		switch filepath.Base(w) {
		case "flask":
			if next == "run" {
				return &server{port: 5000, portArgs: portFlag}
			}
		case "manage.py", "django-admin":
			if next == "runserver" && !hasPositional(all[i+1:], "runserver") {
				return &server{port: 8000, portArgs: portPositional}
			}
		case "uvicorn":
			return &server{port: 8000, portArgs: portFlag}
		case "gunicorn", "next", "react-scripts", "nuxt", "nuxi":
			return &server{port: readsPORT[filepath.Base(w)]}
		case "vite":
			return &server{port: 5173, portArgs: portFlag}
		case "astro":
			return &server{port: 4321, portArgs: portFlag}
		case "webpack-dev-server":
			return &server{port: 8080, portArgs: portFlag}
		case "webpack":
			if next == "serve" { // plain webpack builds, it serves nothing
				return &server{port: 8080, portArgs: portFlag}
			}
		case "ng":
			if next == "serve" {
				return &server{port: 4200, portArgs: portFlag}
			}
		}
	}
	return nil
}

// readsPORT are servers that take their port from $PORT, with the port
// they use when it is not set.
var readsPORT = map[string]int{"gunicorn": 8000, "next": 3000, "react-scripts": 3000, "nuxt": 3000, "nuxi": 3000}

// hasPositional reports whether a word that is neither a flag nor a flag's
// value follows after in words.
func hasPositional(words []string, after string) bool {
	i := slices.Index(words, after)
	if i < 0 {
		return false
	}
	rest := words[i+1:]
	for j := 0; j < len(rest); j++ {
		switch w := rest[j]; {
		case slices.Contains(valueFlags, w):
			j++
		case !strings.HasPrefix(w, "-"):
			return true
		}
	}
	return false
}

// valueFlags take the next word as their value (http.server, runserver).
var valueFlags = []string{"-b", "--bind", "-d", "--directory", "-p", "--protocol", "--settings", "--pythonpath"}
