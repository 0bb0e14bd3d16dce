package service

import (
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got)\n%s", name, diff)
	}
}

func TestSystemdUnit(t *testing.T) {
	golden(t, "tsm.service", SystemdUnit("/usr/local/bin/tsm", "/home/ann/tetra/tsm"))
	golden(t, "tsm-quoted.service", SystemdUnit("/opt/my tools/tsm", `/home/ann/100% "state"`))
}

// TestSystemdUnitVerifies runs systemd's own checker on the unit, where the
// machine has it.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	exe, err := os.Executable() // any existing absolute binary will do
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, BootUnitName)
	if err := os.WriteFile(unit, []byte(SystemdUnit(exe, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if len(out) > 0 {
		t.Logf("systemd-analyze verify says:\n%s", out)
	}
}

func TestLaunchdPlist(t *testing.T) {
	golden(t, "com.tetra.tsm.plist", LaunchdPlist("/usr/local/bin/tsm", "/Users/ann/tetra/tsm", "/Users/ann/tetra/tsm/daemon.log"))
	// Paths with XML's special characters come back whole from a parser.
	odd := []string{`/a & b/"tsm"`, "/<dir>'s"}
	dec := xml.NewDecoder(strings.NewReader(LaunchdPlist(odd[0], odd[1], "/l")))
	var texts []string
	for inString := false; ; {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inString = tok.Name.Local == "string"
		case xml.CharData:
			if inString {
				texts = append(texts, string(tok))
			}
		case xml.EndElement:
			inString = false
		}
	}
	if !slices.Contains(texts, odd[0]) || !slices.Contains(texts, odd[1]) {
		t.Errorf("plist strings %q lack %q", texts, odd)
	}
	if plutil, err := exec.LookPath("plutil"); err == nil {
		f := filepath.Join(t.TempDir(), "x.plist")
		os.WriteFile(f, []byte(LaunchdPlist("/a & b/tsm", "/<dir>", "/l")), 0o644)
		if out, err := exec.Command(plutil, "-lint", f).CombinedOutput(); err != nil {
			t.Fatalf("plutil -lint: %v\n%s", err, out)
		}
	}
}
