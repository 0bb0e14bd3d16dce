// Package prefetch sends the request of a plain `tsm list` to the daemon
// while the Go runtime is still initialising the rest of the binary, so
// that the daemon renders the listing at the same time: about a millisecond
// of package initialisation (net/http, crypto, cobra, the parsers) and the
// daemon's answer overlap instead of following each other.
//
// Its init runs as early as Go's initialisation order allows: it imports
// nothing but syscall and release (a test keeps it so), reads the
// arguments from /proc/self/cmdline, and does nothing unless they are one
// of the forms that the CLI runs without cobra (ParseList). It connects
// without blocking, checks that the socket's process is the caller's own
// user (as the client's dial does), and writes the request.
//
// Then it waits for the answer and, when that is what the CLI would print
// as it is — a 200 with its length from a daemon of this very release —
// prints it (the problems the daemon met as warnings on stderr, then the
// listing) and exits 0, before the rest of the binary is initialised: a
// plain list is then the runtime's start-up and one round trip. Anything
// else leaves the CLI to do everything as before: an answer that is not
// there within a second is handed over (Take; the client takes the
// connection only for the same socket and request URI it would send
// itself), any other one is dropped and the CLI asks again — an older
// daemon, an error, a write to stdout that fails (the CLI meets and
// reports the same failure).
package prefetch

import "github.com/tetra/tsm/internal/release"

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

// warned holds the problems the init printed as warnings before its write
// of the listing to stdout failed.
var warned []string

// Warned reports whether the init printed problem as a warning already: it
// does so before it writes the listing, and leaves the listing to the CLI
// when that write fails. The CLI, which asks again, must not repeat it.
func Warned(problem string) bool {
	for _, p := range warned {
		if p == problem {
			return true
		}
	}
	return false
}

// started is the daemon the init started, if any.
var started struct {
	Daemon
	root string
	ok   bool
}

// Daemon is a daemon the init started: its PID, the read end of its
// readiness pipe (api.ReadyFDEnv; non-blocking), and the size daemon.log
// had before it (its own lines come after that offset, in bytes).
type Daemon struct {
	PID, Ready int
	LogFrom    int64
}

// StartedDaemon returns the daemon the init started for the state
// directory root because none answered (a plain list only); the caller owns
// its readiness pipe from then on. It returns false when none was started,
// and for every call after the first.
func StartedDaemon(root string) (Daemon, bool) {
	if !started.ok || started.root != root {
		return Daemon{PID: -1, Ready: -1}, false
	}
	started.ok = false
	return started.Daemon, true
}

// readyFDEnv is api.ReadyFDEnv, which this package may not import.
const readyFDEnv = "TSM_READY_FD"

// DaemonEnv returns the environment of a daemon started for root from
// environ: TSM_DIR=root, then what locates the user and their programs
// (PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ, TMPDIR) and tsm's own TSM_*
// settings, never tokens or passwords. paths.DaemonEnv is this (the
// privacy rule lives here so that the init can start a daemon).
// The caller's own TSM_READY_FD is dropped too: its starter appends the
// daemon's, and a second one before it would win (Go takes the first of
// two), sending the ready byte to whatever the caller left open there.
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
		case k == "TSM_DIR", k == readyFDEnv:
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
	for _, v := range []string{"TSM_DIR", "TETRA_DIR"} {
		if d, _ := getenv(v); d != "" && d[0] != '/' {
			return "", false // refused by the client, even where unused
		}
	}
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

// answer is what a plain list prints: the daemon's rendered listing and
// the problems it met reading the state (api.ProblemHeader, one warning
// each).
type answer struct {
	body     []byte
	problems []string
}

// verdict says what the init does with the bytes read so far.
type verdict int

const (
	incomplete verdict = iota // read on
	printable                 // print it and exit
	declined                  // leave it to the CLI, which asks again
)

// maxHead bounds the status line and headers of an answer, in bytes.
const maxHead = 64 << 10

// parseAnswer reads b, the daemon's HTTP/1.1 answer to a list request so
// far. It is printable when complete and what the CLI would print as it
// is: status 200, a Content-Length (the daemon sends one with every
// rendered listing; chunked or unknown lengths are declined) and the build
// header absent or equal to release.Build — an older daemon is declined so
// that the CLI says how to switch to the new one.
func parseAnswer(b []byte) (answer, verdict) {
	end := index(b, "\r\n\r\n")
	if end < 0 {
		if len(b) > maxHead {
			return answer{}, declined
		}
		return answer{}, incomplete
	}
	var a answer
	length := -1
	for i, line := range splitLines(b[:end]) {
		if i == 0 {
			if !hasPrefix(string(line), "HTTP/1.1 200 ") && string(line) != "HTTP/1.1 200" {
				return answer{}, declined
			}
			continue
		}
		name, value, ok := header(line)
		switch {
		case !ok:
			return answer{}, declined
		case equalFold(name, "Content-Length"):
			n, ok := atoi(value)
			if !ok || length >= 0 && n != length {
				return answer{}, declined
			}
			length = n
		case equalFold(name, "Transfer-Encoding"):
			return answer{}, declined
		case equalFold(name, "Tsm-Build"): // api.BuildHeader
			if value != release.Build {
				return answer{}, declined
			}
		case equalFold(name, "Tsm-Problem"): // api.ProblemHeader
			a.problems = append(a.problems, value)
		}
	}
	body := b[end+4:]
	switch {
	case length < 0 || len(body) > length:
		return answer{}, declined
	case len(body) < length:
		return answer{}, incomplete
	}
	a.body = body
	return a, printable
}

// header splits a header line into its name and its value without the
// blanks around it, as net/textproto does; false for a line without a
// colon, with a blank in the name, or with a control byte other than a tab
// in the value, which net/textproto refuses (the CLI then fails on the
// answer instead of printing it to a terminal).
func header(line []byte) (name, value string, ok bool) {
	i := index(line, ":")
	if i <= 0 {
		return "", "", false
	}
	for _, c := range line[:i] {
		if c == ' ' || c == '\t' {
			return "", "", false
		}
	}
	v := line[i+1:]
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return "", "", false
		}
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return string(line[:i]), string(v), true
}

// splitLines splits b at each CRLF.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for {
		i := index(b, "\r\n")
		if i < 0 {
			return append(lines, b)
		}
		lines = append(lines, b[:i])
		b = b[i+2:]
	}
}

// index returns the offset of the first sep in b, -1 if none.
func index(b []byte, sep string) int {
	for i := 0; i+len(sep) <= len(b); i++ {
		if string(b[i:i+len(sep)]) == sep {
			return i
		}
	}
	return -1
}

// equalFold compares ASCII header names without regard to case.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// atoi parses a decimal length of at most nine digits.
func atoi(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
