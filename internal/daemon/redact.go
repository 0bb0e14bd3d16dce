package daemon

import (
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// secretName matches a variable or option name that holds a secret.
const secretName = `[A-Za-z0-9_.-]*(?i:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)[A-Za-z0-9_.-]*`

// value is one shell word: quoted, or up to the next blank.
const value = `('[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)`

// secretPatterns is compiled on first use: every tsm command, the CLI's
// too, would otherwise compile them at start-up.
var secretPatterns = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		// API_TOKEN=abc, export DB_PASSWORD='x y', --password=abc
		regexp.MustCompile(`(\b` + secretName + `=)` + value),
		// --token abc, -auth abc
		regexp.MustCompile(`((?:^|\s)--?` + secretName + `\s+)` + value),
		// scheme://user:password@host
		regexp.MustCompile(`(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)(@)`),
		// Authorization: Bearer abc, Basic abc
		regexp.MustCompile(`(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]+)`),
	}
})

// secretHints holds, lower case, a word that each match of a secretPatterns
// entry contains: a string with none of them has nothing to redact.
var secretHints = [...]string{"token", "secret", "passw", "key", "credential", "auth", "://", "bearer", "basic"}

// redact hides the secret-looking values in a command line or a pre-hook,
// as list and info show them (meta.json, private to the user, keeps them
// whole): an assignment or option whose name says token, secret,
// password, key or auth, a URL's password, an HTTP credential. The name
// stays, so a user still sees what is set.
func redact(s string) string {
	if !maySecret(s) {
		// Most commands: the patterns cost ~1.5 µs each per command, a
		// third of the daemon's time in a 100-process `tsm list --json`.
		return s
	}
	for _, re := range secretPatterns() {
		s = re.ReplaceAllString(s, "${1}***${3}")
	}
	return s
}

// maySecret reports whether s contains one of secretHints in any case. A
// string with a non-ASCII byte always may: (?i) folds some non-ASCII
// letters to ASCII ones (the Kelvin sign to k), which ToLower would not.
func maySecret(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	lower := strings.ToLower(s)
	for _, h := range secretHints {
		if strings.Contains(lower, h) {
			return true
		}
	}
	return false
}
