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

// part is one part of a shell word: quoted, an escaped character, or a
// bare character; a bare part ends at a blank or at what ends a shell word
// (; & | < >), so `export TOKEN=x; run` keeps its `;`.
const part = `'[^']*'|"(?:[^"\\]|\\.)*"|\\.|[^\s'"\\;&|<>]`

// value is every part of one shell word: 'a b'"c"d\ e is one value, and so
// is a single-quoted value with a quote in it, which the shell writes as
// 'ab', an escaped quote and 'cd' run together.
const value = `((?:` + part + `)+)`

// Compiled on first use: every tsm command, the CLI's too, would otherwise
// compile them at start-up.
var (
	nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(?:` + secretWords + `)`) })

	// Each pattern is alternatives of three groups: what stays before the
	// value, the value, what stays after it (see maskAll).
	commandREs = sync.OnceValue(func() []*regexp.Regexp {
		return []*regexp.Regexp{
			// An assignment that opens a quoted word, as `tsm start prog
			// '--password=a b'` is recorded, runs to the closing quote and
			// the word on ('API_KEY=x'\''y'); else API_TOKEN=abc, export
			// DB_PASSWORD='x y', --password=abc. One pattern, so that the
			// second never reads on from the first's closing quote.
			regexp.MustCompile(`('` + secretName + `=)([^']*)(')(?:` + part + `)*|(\b` + secretName + `=)` + value + `()`),
			// --token abc, -auth abc
			regexp.MustCompile(`((?:^|\s)--?` + secretName + `\s+)` + value + `()`),
			// scheme://user:password@host
			regexp.MustCompile(`(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)(@)`),
			// Authorization: Bearer abc, Basic abc
			regexp.MustCompile(`(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]+)()`),
		}
	})
)

// maskAll replaces the value of every match of re in s with Mask, keeping
// what comes before and after it (re: see commandREs) and dropping the
// rest of the match.
func maskAll(re *regexp.Regexp, s string) string {
	matches := re.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		b.WriteString(s[last:m[0]])
		for g := 2; g+5 < len(m); g += 6 {
			if m[g] >= 0 { // the alternative that matched
				b.WriteString(s[m[g]:m[g+1]] + Mask + s[m[g+4]:m[g+5]])
				break
			}
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

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
		s = maskAll(re, s)
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
