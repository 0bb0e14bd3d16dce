// Package target resolves what a user typed (a TSM ID, an exact name or a
// unique substring of a name) to one process. It is pure and imports no other
// tsm package.
package target

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Candidate is a process that a target may name.
type Candidate struct {
	ID   int
	Name string
}

// NotFoundError means no process matches.
type NotFoundError struct{ Target string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no process matches %q (see `tsm list all`)", e.Target)
}

// AmbiguousError means several processes match and nothing may be touched.
type AmbiguousError struct {
	Target  string
	Matches []Candidate
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ambiguous name %q matches %d processes:", e.Target, len(e.Matches))
	for _, c := range e.Matches {
		fmt.Fprintf(&b, "\n  %d: %s", c.ID, c.Name)
	}
	b.WriteString("\nuse the TSM ID or the full name")
	return b.String()
}

// Resolve picks the one candidate that target names. In order: a number that
// is a TSM ID; an exact name; the unique name containing target; the unique
// name containing it case-insensitively. A number that is no ID falls through
// to the name rules, so `tsm logs 8000` finds `api-8000`.
func Resolve(cands []Candidate, target string) (Candidate, error) {
	if target == "" {
		return Candidate{}, &NotFoundError{Target: target}
	}
	if id, err := strconv.Atoi(target); err == nil {
		for _, c := range cands {
			if c.ID == id {
				return c, nil
			}
		}
	}
	for _, c := range cands {
		if c.Name == target {
			return c, nil
		}
	}
	// The last fold also reads canonically equivalent Unicode alike: a
	// name made on macOS from a file name is often decomposed (e and a
	// combining accent), what a user types composed (é).
	nfc := func(s string) string { return strings.ToLower(norm.NFC.String(s)) }
	for _, fold := range []func(string) string{func(s string) string { return s }, strings.ToLower, nfc} {
		var matches []Candidate
		t := fold(target)
		for _, c := range cands {
			if strings.Contains(fold(c.Name), t) {
				matches = append(matches, c)
			}
		}
		switch len(matches) {
		case 0:
			continue
		case 1:
			return matches[0], nil
		default:
			return Candidate{}, &AmbiguousError{Target: target, Matches: matches}
		}
	}
	return Candidate{}, &NotFoundError{Target: target}
}
