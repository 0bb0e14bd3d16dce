package daemon

import "regexp"

// secretName matches a variable or option name that holds a secret.
const secretName = `[A-Za-z0-9_.-]*(?i:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)[A-Za-z0-9_.-]*`

// value is one shell word: quoted, or up to the next blank.
const value = `('[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)`

var secretPatterns = []*regexp.Regexp{
	// API_TOKEN=abc, export DB_PASSWORD='x y', --password=abc
	regexp.MustCompile(`(\b` + secretName + `=)` + value),
	// --token abc, -auth abc
	regexp.MustCompile(`((?:^|\s)--?` + secretName + `\s+)` + value),
	// scheme://user:password@host
	regexp.MustCompile(`(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)(@)`),
	// Authorization: Bearer abc, Basic abc
	regexp.MustCompile(`(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]+)`),
}

// redact hides the secret-looking values in a command line or a pre-hook,
// as list and info show them (meta.json, private to the user, keeps them
// whole): an assignment or option whose name says token, secret,
// password, key or auth, a URL's password, an HTTP credential. The name
// stays, so a user still sees what is set.
func redact(s string) string {
	for _, re := range secretPatterns {
		s = re.ReplaceAllString(s, "${1}***${3}")
	}
	return s
}
