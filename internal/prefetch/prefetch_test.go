package prefetch

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tetra/tsm/internal/release"
)

// The package's init must run before the heavy part of the binary's
// initialisation: Go initialises a package after everything it imports, so
// it may import nothing but syscall, unsafe and release (which imports
// nothing).
func TestImportsOnlySyscall(t *testing.T) {
	own, _ := filepath.Glob("*.go")
	rel, _ := filepath.Glob("../release/*.go")
	for _, f := range append(own, rel...) {
		if len(f) > 8 && f[len(f)-8:] == "_test.go" {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if filepath.Dir(f) == "../release" || p != "syscall" && p != "unsafe" && p != "github.com/tetra/tsm/internal/release" {
				t.Errorf("%s imports %s: the init would run after it and all it imports", f, p)
			}
		}
	}
	if len(rel) == 0 {
		t.Error("no ../release/*.go")
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

func TestParseAnswer(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nTsm-Build: " + release.Build + "\r\n"
	for _, c := range []struct {
		name, in string
		want     verdict
		body     string
		problems []string
	}{
		{"complete", head + "Content-Length: 4\r\n\r\nrows", printable, "rows", nil},
		{"empty listing", head + "Content-Length: 0\r\n\r\n", printable, "", nil},
		{"problems in order, trimmed, any case", head + "Tsm-Problem:  a b \r\nTSM-PROBLEM:\tc\r\ncontent-length: 1\r\n\r\nx", printable, "x", []string{"a b", "c"}},
		{"no build header", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", printable, "x", nil},
		{"same length twice", head + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", printable, "x", nil},
		{"head cut", head + "Content-Len", incomplete, "", nil},
		{"body cut", head + "Content-Length: 9\r\n\r\nrow", incomplete, "", nil},
		{"more than its length", head + "Content-Length: 1\r\n\r\nxy", declined, "", nil},
		{"another release", "HTTP/1.1 200 OK\r\nTsm-Build: v0.1\r\nContent-Length: 1\r\n\r\nx", declined, "", nil},
		{"not found", "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx", declined, "", nil},
		{"2000", "HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx", declined, "", nil},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", declined, "", nil},
		{"chunked", head + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", declined, "", nil},
		{"no length", head + "\r\n\r\nx", declined, "", nil},
		{"two lengths", head + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy", declined, "", nil},
		{"bad length", head + "Content-Length: -1\r\n\r\nx", declined, "", nil},
		{"huge length", head + "Content-Length: 99999999999\r\n\r\nx", declined, "", nil},
		{"no colon", head + "Content-Length 1\r\n\r\nx", declined, "", nil},
		{"blank in a name", head + "Content-Length : 1\r\n\r\nx", declined, "", nil},
		// net/textproto refuses these bytes in a value, so the CLI fails
		// where the init would print them to a terminal.
		{"escape in a value", head + "Tsm-Problem: skipped \x1b[31mx\r\nContent-Length: 1\r\n\r\nx", declined, "", nil},
		{"DEL in a value", head + "Tsm-Problem: skipped \x7fx\r\nContent-Length: 1\r\n\r\nx", declined, "", nil},
		{"tab and UTF-8 in a value", head + "Tsm-Problem: a\tb é\r\nContent-Length: 1\r\n\r\nx", printable, "x", []string{"a\tb é"}},
		{"head too long", head + "X: " + string(make([]byte, maxHead)), declined, "", nil},
	} {
		a, v := parseAnswer([]byte(c.in))
		if v != c.want || string(a.body) != c.body || len(a.problems) != len(c.problems) {
			t.Errorf("%s: %d %q %q, want %d %q %q", c.name, v, a.body, a.problems, c.want, c.body, c.problems)
			continue
		}
		for i := range c.problems {
			if a.problems[i] != c.problems[i] {
				t.Errorf("%s: problems %q, want %q", c.name, a.problems, c.problems)
			}
		}
	}
}

// BenchmarkParseAnswer parses the answer to a list of 100 and of 1000
// processes (a row of the table is 60 to 90 bytes), as the init does once
// the whole answer is in.
func BenchmarkParseAnswer(b *testing.B) {
	for _, n := range []int{100, 1000} {
		body := strings.Repeat("12  api-server-12  31337  8080  online  2h  0  0.3%  45.1M\n", n)
		in := []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Date: Mon, 30 Nov 2026 18:00:00 GMT\r\nTsm-Build: " + release.Build + "\r\nTsm-Version: 1\r\n\r\n" + body)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, v := parseAnswer(in); v != printable {
					b.Fatal(v)
				}
			}
		})
	}
}
