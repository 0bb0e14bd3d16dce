package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tetra/tsm/internal/envfile"
)

// resolvePort implements rule 8, the port ladder: the first rung that
// applies decides, and a port that is decided but busy is an error rather
// than a silent move to another port (only "N+" asks for that). Rungs
// beyond the seed's: a package-manager launcher also takes the caller's
// $PORT and a port in its package.json script line; last, a server whose
// default port tsm knows gets the first free port from that default, so
// parallel starts of it do not collide (tellPort passes it on).
func resolvePort(flag string, vars []envfile.Var, envPath, callerPort string, c command, sys System) (int, string, error) {
	if flag != "" {
		return flagPort(flag, sys)
	}
	if v, ok := envfile.Lookup(vars, "PORT"); ok && v != "" {
		n, ok := parsePort(v)
		if !ok {
			return 0, "", errorf(ErrBadData, "PORT=%q in %s is not a port number (1-65535)", v, envPath)
		}
		return freePort(n, "env file", sys)
	}
	standalone := c.typ == "python" || c.typ == "node"
	if n := commandPort(c.portWords, standalone); n > 0 {
		return freePort(n, "command", sys)
	}
	if c.launcher != nil {
		if n, ok := parsePort(callerPort); ok {
			return freePort(n, "caller env", sys)
		}
		if n := commandPort(strings.Fields(c.launcher.line), false); n > 0 {
			return freePort(n, "package.json", sys)
		}
	}
	if standalone && c.scriptPath != "" {
		if n := scriptPort(c.scriptPath, sys); n > 0 {
			return freePort(n, "script", sys)
		}
	}
	if s := knownServer(c); s != nil {
		if c.launcher != nil && c.launcher.line == "" {
			return 0, "", nil // the script is not in package.json: it will fail
		}
		for p := s.port; p <= 65535; p++ {
			if sys.PortFree(p) {
				return p, "default", nil
			}
		}
	}
	return 0, "", nil
}

// tellPort returns the argv that makes c's program use port: unchanged when
// the program reads $PORT, found the port in its own words, or would use
// port anyway; else with the server's port argument appended (after "--"
// for an npm script, so that npm passes it on).
func tellPort(c command, port int, source string) []string {
	s := knownServer(c)
	if s == nil || s.portArgs == nil || source == "command" || source == "package.json" || (port == s.port && source == "default") {
		return c.argv
	}
	argv := slices.Clone(c.argv)
	if c.launcher != nil && c.launcher.npm && !slices.Contains(argv, "--") {
		argv = append(argv, "--")
	}
	return append(argv, s.portArgs(port)...)
}

// flagPort implements rung (a): --port none | N | N+.
func flagPort(flag string, sys System) (int, string, error) {
	if flag == "none" {
		return 0, "", nil
	}
	digits, scan := strings.CutSuffix(flag, "+")
	n, ok := parsePort(digits)
	if !ok {
		return 0, "", errorf(ErrUsage, "invalid --port %q: use a port number 1-65535, N+ for the first free port from N, or none", flag)
	}
	if !scan {
		return freePort(n, "flag", sys)
	}
	for p := n; p <= 65535; p++ {
		if sys.PortFree(p) {
			return p, "flag", nil
		}
	}
	return 0, "", fmt.Errorf("no free port from %d to 65535", n)
}

func freePort(n int, source string, sys System) (int, string, error) {
	if !sys.PortFree(n) {
		return 0, "", &PortBusyError{Port: n, Source: source}
	}
	return n, source, nil
}

// parsePort accepts only plain decimal digits, so "+80", "-1" and "0x50"
// are not ports.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n >= 1 && n <= 65535
}

var (
	// colonPort finds host:port forms such as 0.0.0.0:8000, [::1]:8000,
	// :8000 or http://localhost:8000/: the colon starts the word or follows
	// a host's last character (not another colon: b[::4096] is a slice).
	// Like a bare number it needs 4-5 digits, so a time like 12:30 is not
	// taken for a port.
	colonPort = lazyRegexp(`(?:^|[A-Za-z0-9.\]*]):([0-9]{4,5})(?:[^0-9]|$)`)
	// scriptPortLine finds the PORT assignment of rung (d).
	scriptPortLine = lazyRegexp(`\bPORT\b\s*=`)
	standaloneNum  = lazyRegexp(`\b[0-9]{4,5}\b`)
)

// commandPort implements rung (c): a port written in the command words.
// standalone also accepts a bare 4-5 digit word, which only python and node
// servers conventionally take as their port (sleep 3600 is not a port); a
// bare number right after another flag is that flag's value, not a port.
func commandPort(words []string, standalone bool) int {
	for i, w := range words {
		var candidate string
		switch {
		case (w == "--port" || w == "-p") && i+1 < len(words):
			candidate = words[i+1]
		case strings.HasPrefix(w, "--port="):
			candidate = strings.TrimPrefix(w, "--port=")
		case strings.HasPrefix(w, "PORT="):
			candidate = strings.TrimPrefix(w, "PORT=")
		case colonPort().MatchString(w):
			candidate = colonPort().FindStringSubmatch(w)[1]
		case standalone && len(w) >= 4 && (i == 0 || !strings.HasPrefix(words[i-1], "-")):
			candidate = w
		}
		if n, ok := parsePort(candidate); ok {
			return n
		}
	}
	return 0
}

// scriptPort implements rung (d): the default port a python or node script
// declares, e.g. PORT = 8000 or const PORT = process.env.PORT || 3000. Only
// the first assignment counts; a script that cannot be read has no default.
func scriptPort(path string, sys System) int {
	data, err := sys.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		loc := scriptPortLine().FindStringIndex(line)
		if loc == nil || strings.HasPrefix(line[loc[1]:], "=") { // PORT == x compares
			continue
		}
		n, _ := parsePort(standaloneNum().FindString(line[loc[1]:]))
		return n
	}
	return 0
}
