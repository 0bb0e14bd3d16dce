// Package redact hides secret-looking values wherever tsm shows them: the
// command lines and pre-hooks of `list`, `info` and `service show`, the
// environment of `service show`. The records on disk (private to the user)
// keep them whole. One set of rules serves every view, so that a value
// hidden in one is hidden in all.
package redact

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Mask is what a hidden value is shown as.
const Mask = "********"

// secretWords are the words whose presence in a variable or option name
// marks its value as a secret: API_TOKEN, DB_PASSWORD, STRIPE_KEY,
// SESSION_SECRET, SENTRY_DSN, --auth. Broad on purpose: showing a harmless
// value as a mask costs less than showing a key.
const secretWords = `pass|secret|token|key|auth|credential|private|cookie|session|dsn|signature|salt|cert`

// secretName matches a whole variable or option name that holds a secret.
const secretName = `[A-Za-z0-9_.-]*(?i:` + secretWords + `)[A-Za-z0-9_.-]*`

// value is one shell word: quoted, or up to the next blank.
const value = `('[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)`

// Compiled on first use: every tsm command, the CLI's too, would otherwise
// compile them at start-up.
var (
	nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(?:` + secretWords + `)`) })

	commandREs = sync.OnceValue(func() []*regexp.Regexp {
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
)

// hints holds, lower case, a word that each match of a commandREs entry
// contains: a string with none of them has nothing to hide.
var hints = append(strings.Split(secretWords, "|"), "://", "bearer", "basic")

// SecretName reports whether a variable or option called name holds a
// secret by its name.
func SecretName(name string) bool { return nameRE().MatchString(name) }

// Value returns the value of variable key as it may be shown: the mask when
// the name is a secret's, else the value with a URL's password masked.
func Value(key, value string) string {
	if value == "" {
		return value
	}
	if SecretName(key) {
		return Mask
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return strings.Replace(u.String(), "xxxxx", Mask, 1)
		}
	}
	return value
}

// Command returns a command line (or pre-hook) with its secret-looking
// values masked: an assignment or option whose name is a secret's
// (SecretName), a URL's password, an HTTP credential. The names stay, so a
// user still sees what is set.
func Command(s string) string {
	if !maySecret(s) {
		// Most commands: the patterns cost ~1.5 µs each per command, a
		// third of the daemon's time in a 100-process `tsm list --json`.
		return s
	}
	for _, re := range commandREs() {
		s = re.ReplaceAllString(s, "${1}"+Mask+"${3}")
	}
	return s
}

// maySecret reports whether s contains one of hints in any case. A string
// with a non-ASCII byte always may: (?i) folds some non-ASCII letters to
// ASCII ones (the Kelvin sign to k), which ToLower would not.
func maySecret(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	lower := strings.ToLower(s)
	for _, h := range hints {
		if strings.Contains(lower, h) {
			return true
		}
	}
	return false
}
