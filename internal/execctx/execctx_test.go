package execctx

import (
	"strings"
	"syscall"
	"testing"
)

func TestCaptureReadsTheShellsOpenFilesLimit(t *testing.T) {
	// The Go runtime raised this process's soft limit; Capture must report
	// what a shell (and so the user) had, which a child sees.
	c := Capture()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	soft, ok := childNofile()
	if !ok {
		t.Skip("no /bin/sh")
	}
	for _, l := range c.Limits {
		if l.Resource == "nofile" && (l.Soft != soft || l.Hard != rl.Max) {
			t.Errorf("nofile %d/%d, want %d/%d", l.Soft, l.Hard, soft, rl.Max)
		}
	}
	if c.Umask == nil || c.Nice == nil {
		t.Errorf("umask or nice not captured: %+v", c)
	}
}

func TestEqualLooksOnlyAtWhatWasCaptured(t *testing.T) {
	base := Capture()
	if !base.Equal(base) {
		t.Fatal("a context differs from itself")
	}
	if !(Context{}).Equal(base) {
		t.Error("an empty context changes nothing, so it must equal any base")
	}
	m := 0o077
	if (Context{Umask: &m}).Equal(Context{Umask: new(int)}) {
		t.Error("another umask must differ")
	}
	lim := base
	lim.Limits = append([]Limit(nil), base.Limits...)
	lim.Limits[0].Soft--
	if lim.Equal(base) {
		t.Error("another limit must differ")
	}
}

func TestLines(t *testing.T) {
	u, n := 0o27, 5
	got := strings.Join(Context{Limits: []Limit{{"nofile", 1024, Unlimited}, {"as", Unlimited, Unlimited}, {"fsize", Unlimited, Unlimited}}, Umask: &u, Nice: &n}.Lines(), ", ")
	if got != "umask 0027, nofile 1024/unlimited, 2 more limits unlimited, nice 5" {
		t.Errorf("Lines = %q", got)
	}
}
