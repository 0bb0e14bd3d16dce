// Package prefetch sends the request of a plain `tsm list` to the daemon
// while the Go runtime is still initialising the rest of the binary, so
// that the daemon renders the listing at the same time: about a millisecond
// of package initialisation (net/http, crypto, cobra, the parsers) and the
// daemon's answer overlap instead of following each other.
//
// Its init runs as early as Go's initialisation order allows: it imports
// nothing but syscall (a test keeps it so), reads the arguments from
// /proc/self/cmdline, and does nothing unless they are one of the forms
// that the CLI runs without cobra (ParseList). It connects without
// blocking, checks that the socket's process is the caller's own user (as
// the client's dial does), and writes the request; any failure leaves the
// CLI to do everything as before. The client takes the connection (Take)
// only for the same socket and request URI it would send itself.
package prefetch

// List is what a plain `tsm list` asks: the filter argument ("", running or
// all), --json and --all/-a.
type List struct {
	Filter    string
	JSON, All bool
}

// ParseList recognises the plain forms of `tsm list` — list or ls, with
// --json, --all or -a, and running or all. Anything else (--help,
// available, a flag written another way) is not one (false).
func ParseList(args []string) (List, bool) {
	if len(args) == 0 || (args[0] != "list" && args[0] != "ls") {
		return List{}, false
	}
	var l List
	for _, arg := range args[1:] {
		switch {
		case arg == "--json":
			l.JSON = true
		case arg == "--all" || arg == "-a":
			l.All = true
		case (arg == "running" || arg == "all") && l.Filter == "":
			l.Filter = arg
		default:
			return List{}, false
		}
	}
	return l, true
}

// sent is the connection the init wrote a request on, if any.
var sent struct {
	fd        int
	sock, uri string
	ok        bool
}

// started is the daemon the init started, if any.
var started struct {
	root       string
	pid, ready int
	ok         bool
}

// StartedDaemon returns the daemon the init started for the state
// directory root because none answered (a plain list only): its PID and
// the read end of its readiness pipe (api.ReadyFDEnv; non-blocking), which
// the caller owns from then on. It returns false when none was started,
// and for every call after the first.
func StartedDaemon(root string) (pid, ready int, ok bool) {
	if !started.ok || started.root != root {
		return -1, -1, false
	}
	started.ok = false
	return started.pid, started.ready, true
}

// readyFDEnv is api.ReadyFDEnv, which this package may not import.
const readyFDEnv = "TSM_READY_FD"

// DaemonEnv returns the environment of a daemon started for root from
// environ: TSM_DIR=root, then what locates the user and their programs
// (PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ, TMPDIR) and tsm's own TSM_*
// settings, never tokens or passwords. paths.DaemonEnv is this (the
// privacy rule lives here so that the init can start a daemon).
func DaemonEnv(environ []string, root string) []string {
	env := []string{"TSM_DIR=" + root}
	for _, kv := range environ {
		k := kv
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				k = kv[:i]
				break
			}
		}
		switch {
		case k == "TSM_DIR":
		case k == "PATH", k == "HOME", k == "USER", k == "LOGNAME", k == "LANG", k == "TZ", k == "TMPDIR",
			hasPrefix(k, "LC_"), hasPrefix(k, "TSM_"):
			env = append(env, kv)
		}
	}
	return env
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

// Take returns the descriptor of a connection to the socket sock on which
// the request for uri (path and query) was already sent, and true; the
// caller owns it from then on. It returns false when no such request was
// sent, and for every call after the first.
func Take(sock, uri string) (fd int, ok bool) {
	if !sent.ok || sent.sock != sock || sent.uri != uri {
		return -1, false
	}
	sent.ok = false
	return sent.fd, true
}

// socketPath returns the daemon's socket as the client resolves it
// (internal/paths: $TSM_DIR, else $TETRA_DIR/tsm, else $HOME/tetra/tsm),
// and false where that takes more than joining strings: a relative or
// unclean path (the client cleans it, or refuses it).
func socketPath(getenv func(string) (string, bool)) (string, bool) {
	dir, suffix := "", "/tsm.sock"
	if d, _ := getenv("TSM_DIR"); d != "" {
		dir = d
	} else if d, _ := getenv("TETRA_DIR"); d != "" {
		dir, suffix = d, "/tsm/tsm.sock"
	} else if d, _ := getenv("HOME"); d != "" {
		dir, suffix = d, "/tetra/tsm/tsm.sock"
	}
	if !clean(dir) {
		return "", false
	}
	if dir == "/" {
		dir = ""
	}
	return dir + suffix, true
}

// clean reports whether p is an absolute path that filepath.Clean leaves
// as it is.
func clean(p string) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	if p == "/" {
		return true
	}
	if p[len(p)-1] == '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if e := p[start:i]; e == "" || e == "." || e == ".." {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// RequestURI returns the path and query that the client sends for l: the
// daemon's rendered table (color: painted for a terminal) or its JSON array
// (internal/client ListTable and ListJSON; a test there keeps the two the
// same).
func RequestURI(l List, color bool) string {
	uri := "/v1/list/table"
	if l.JSON {
		uri, color = "/v1/list/json", false
	}
	all := l.All || l.Filter == "all"
	switch {
	case all && color:
		uri += "?all=1&color=1"
	case all:
		uri += "?all=1"
	case color:
		uri += "?color=1"
	}
	return uri
}
