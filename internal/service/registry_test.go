package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newRegistry(t *testing.T) *Registry {
	dir := t.TempDir()
	r := &Registry{Root: filepath.Join(dir, "tsm"), TetraDir: filepath.Join(dir, "tetra"), Home: dir}
	for _, d := range []string{filepath.Join(r.Root, "services-available"), filepath.Join(r.TetraDir, "orgs", "acme", "tsm", "services-available")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestFindEnableDisable(t *testing.T) {
	r := newRegistry(t)
	writeFile(t, filepath.Join(r.Root, "services-available", "web.tsm"), "TSM_COMMAND=x\n")
	writeFile(t, filepath.Join(r.TetraDir, "orgs", "acme", "tsm", "services-available", "web.tsm"), "TSM_COMMAND=y\n")
	writeFile(t, filepath.Join(r.TetraDir, "orgs", "acme", "tsm", "services-available", "api.tsm"), "TSM_COMMAND=z\n")

	var amb *AmbiguousError
	if _, err := r.Find("web"); !errors.As(err, &amb) || strings.Join(amb.Candidates, " ") != "web acme/web" {
		t.Fatalf("bare web: got %v, want ambiguous between web and acme/web", err)
	}
	d, err := r.Find("acme/web")
	if err != nil || d.Command != "y" || d.ID() != "acme/web" {
		t.Fatalf("acme/web: got %+v, %v", d, err)
	}
	api, err := r.Find("api")
	if err != nil || api.Org != "acme" {
		t.Fatalf("api: got %+v, %v", api, err)
	}
	var nf *NotFoundError
	if _, err := r.Find("../etc/passwd"); !errors.As(err, &nf) {
		t.Fatalf("a path: got %v, want not found", err)
	}

	for _, d := range []*Definition{d, api} {
		if ok, err := r.Enable(d); !ok || err != nil {
			t.Fatalf("enable %s: %v %v", d.ID(), ok, err)
		}
		if ok, _ := r.Enable(d); ok {
			t.Fatalf("enable %s twice reported a change", d.ID())
		}
	}
	enabled, problems := r.Enabled()
	if len(problems) > 0 || strings.Join(Names(enabled), " ") != "acme/api acme/web" {
		t.Fatalf("enabled: %v %v", Names(enabled), problems)
	}
	if ok, err := r.Disable(d); !ok || err != nil {
		t.Fatalf("disable: %v %v", ok, err)
	}
	if r.IsEnabled(d) || !r.IsEnabled(api) {
		t.Fatal("disable removed the wrong link")
	}

	// A file outside the registry (tsm enable ./x.tsm) is linked by its
	// absolute path.
	local := filepath.Join(r.Home, "proj", "local.tsm")
	os.MkdirAll(filepath.Dir(local), 0o755)
	writeFile(t, local, "TSM_COMMAND=l\n")
	ld, err := Load(local, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Enable(ld); !ok || err != nil {
		t.Fatalf("enable a local file: %v %v", ok, err)
	}
	if got, _ := os.Readlink(filepath.Join(r.Root, "services-enabled", "local.tsm")); got != local {
		t.Errorf("link to %q, want %q", got, local)
	}

	// An org with '-' in its name (the bash TSM split link names at the
	// first '-', and lost such services at startup).
	org := filepath.Join(r.TetraDir, "orgs", "pixel-arcade", "tsm", "services-available")
	os.MkdirAll(org, 0o755)
	writeFile(t, filepath.Join(org, "game-server.tsm"), "TSM_COMMAND=g\n")
	gd, err := r.Find("pixel-arcade/game-server")
	if err != nil {
		t.Fatal(err)
	}
	r.Enable(gd)
	enabled, _ = r.Enabled()
	if got := strings.Join(Names(enabled), " "); !strings.Contains(got, "pixel-arcade/game-server") {
		t.Errorf("enabled %q, want pixel-arcade/game-server among them", got)
	}
}

func TestRefusesDefinitionsOthersCanWrite(t *testing.T) {
	r := newRegistry(t)
	dir := filepath.Join(r.Root, "services-available")
	writeFile(t, filepath.Join(dir, "web.tsm"), "TSM_COMMAND=x\n")
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Find("web"); err == nil || !strings.Contains(err.Error(), "others can write") {
		t.Fatalf("got %v, want a refusal", err)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, "web.tsm"), 0o666)
	if _, err := r.Find("web"); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Fatalf("got %v, want a refusal", err)
	}
}

func TestStackOrder(t *testing.T) {
	r := newRegistry(t)
	avail := filepath.Join(r.Root, "services-available")
	writeFile(t, filepath.Join(avail, "db.tsm"), "TSM_COMMAND=db\n")
	writeFile(t, filepath.Join(avail, "api.tsm"), "TSM_COMMAND=api\nTSM_DEPS=\"db cache\"\n")
	writeFile(t, filepath.Join(avail, "cache.tsm"), "TSM_COMMAND=c\n")
	writeFile(t, filepath.Join(avail, "web.tsm"), "TSM_COMMAND=w\nTSM_DEPS=api\n")
	os.MkdirAll(filepath.Join(r.Root, "stacks"), 0o755)
	writeFile(t, filepath.Join(r.Root, "stacks", "shop.stack"), "# comment\nweb\n\napi  # again\n")
	s, err := r.FindStack("shop")
	if err != nil {
		t.Fatal(err)
	}
	defs, err := r.Order(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(Names(defs), " "); got != "db cache api web" {
		t.Errorf("order %q, want dependencies first: db cache api web", got)
	}
	writeFile(t, filepath.Join(r.Root, "stacks", "bad.stack"), "web\nno/such/thing\n")
	if _, err := r.FindStack("bad"); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("got %v, want a line-numbered error", err)
	}
}
