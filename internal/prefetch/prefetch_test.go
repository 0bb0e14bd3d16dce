package prefetch

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
)

// The package's init must run before the heavy part of the binary's
// initialisation: Go initialises a package after everything it imports, so
// it may import nothing but syscall (and unsafe).
func TestImportsOnlySyscall(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if filepath.Ext(f) != ".go" || len(f) > 8 && f[len(f)-8:] == "_test.go" {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p != "syscall" && p != "unsafe" {
				t.Errorf("%s imports %s: the init would run after it and all it imports", f, p)
			}
		}
	}
}

func TestSocketPath(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TSM_DIR": "/srv/tsm", "TETRA_DIR": "/t", "HOME": "/h"}, "/srv/tsm/tsm.sock"},
		{map[string]string{"TETRA_DIR": "/t", "HOME": "/h"}, "/t/tsm/tsm.sock"},
		{map[string]string{"HOME": "/home/me"}, "/home/me/tetra/tsm/tsm.sock"},
		{map[string]string{"TSM_DIR": "/"}, "/tsm.sock"},
		{map[string]string{"HOME": "/"}, "/tetra/tsm/tsm.sock"},
		// Left to the client: it cleans these, refuses relative ones, and
		// asks the system for a home.
		{map[string]string{"TSM_DIR": "/srv/tsm/"}, ""},
		{map[string]string{"TSM_DIR": "/srv//tsm"}, ""},
		{map[string]string{"TSM_DIR": "/srv/./tsm"}, ""},
		{map[string]string{"TSM_DIR": "/srv/x/../tsm"}, ""},
		{map[string]string{"TSM_DIR": "rel/tsm", "HOME": "/h"}, ""},
		{map[string]string{"TETRA_DIR": "t"}, ""},
		{map[string]string{}, ""},
	} {
		got, ok := socketPath(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%v: got %q, %v; want %q", c.env, got, ok, c.want)
		}
	}
}

func TestTakeOnlyTheSameRequestOnce(t *testing.T) {
	sent.fd, sent.sock, sent.uri, sent.ok = 7, "/r/tsm.sock", "/v1/list/table", true
	defer func() { sent.ok = false }()
	if _, ok := Take("/r/tsm.sock", "/v1/list/table?all=1"); ok {
		t.Error("took it for another request")
	}
	if _, ok := Take("/other/tsm.sock", "/v1/list/table"); ok {
		t.Error("took it for another socket")
	}
	if fd, ok := Take("/r/tsm.sock", "/v1/list/table"); !ok || fd != 7 {
		t.Errorf("Take = %d, %v", fd, ok)
	}
	if _, ok := Take("/r/tsm.sock", "/v1/list/table"); ok {
		t.Error("took it twice")
	}
}
