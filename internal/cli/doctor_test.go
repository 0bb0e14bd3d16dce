package cli

import (
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/api"
)

// A doctor check that names a record directory with control bytes in it
// (an escape sequence) is printed escaped, as list prints the same
// problem: printed raw it would drive the user's terminal.
func TestReportEscapesControls(t *testing.T) {
	var b strings.Builder
	checks := []api.Check{{Name: "records", Level: api.CheckError,
		Message: "unreadable record: skipped e\x1b[31mRED\a: corrupt meta.json",
		Fix:     "fix or delete /d/e\x1b[31mRED\a"}}
	report(&b, checks, false)
	if strings.ContainsAny(b.String(), "\x1b\a") {
		t.Errorf("report printed control bytes raw:\n%q", b.String())
	}
	if !strings.Contains(b.String(), `skipped e\x1b[31mRED\x07: corrupt`) || !strings.Contains(b.String(), `fix: fix or delete /d/e\x1b[31mRED\x07`) {
		t.Errorf("report did not print the problem escaped:\n%q", b.String())
	}
}
