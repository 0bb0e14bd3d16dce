// Package archtest holds the test that keeps tsm's dependency direction
// (DESIGN.md "Layout"): cli → client → api; daemon → supervisor →
// {proc, store, spec, logs, ...}; nothing below imports anything above.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tetra/tsm/"

// allowed lists, for each package, the tsm packages it may import. A new
// package must be added here, with its place in the layering.
var allowed = map[string][]string{
	"cmd/tsm":             {"internal/cli", "internal/daemon", "internal/execctx"},
	"internal/cli":        {"internal/api", "internal/client", "internal/prefetch", "internal/release", "internal/redact", "internal/events", "internal/logs", "internal/paths", "internal/execctx", "internal/service", "internal/envfile"},
	"internal/client":     {"internal/api", "internal/paths", "internal/peer", "internal/prefetch"},
	"internal/api":        {"internal/execctx"},
	"internal/daemon":     {"internal/api", "internal/release", "internal/redact", "internal/logs", "internal/supervisor", "internal/proc", "internal/store", "internal/spec", "internal/envfile", "internal/target", "internal/events", "internal/paths", "internal/execctx", "internal/health", "internal/peer"},
	"internal/supervisor": {"internal/proc", "internal/store", "internal/spec", "internal/logs", "internal/events", "internal/target", "internal/execctx", "internal/health", "internal/watch"},
	"internal/spec":       {"internal/envfile"},
	"internal/proc":       {"internal/execctx"},
	"internal/store":      {"internal/paths", "internal/execctx"},
	"internal/logs":       {},
	"internal/events":     {},
	"internal/envfile":    {"internal/redact"},
	"internal/health":     {},
	"internal/watch":      {},
	"internal/service":    {"internal/envfile", "internal/paths", "internal/redact"},
	"internal/target":     {},
	"internal/paths":      {"internal/prefetch"},
	"internal/peer":       {},
	"internal/prefetch":   {"internal/release"},
	"internal/release":    {},
	"internal/redact":     {},
	"internal/execctx":    {},
	"internal/archtest":   {},
	"internal/testutil":   {},
}

func TestImportDirection(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			dirs[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	for dir := range dirs {
		if strings.HasPrefix(dir, "bench") {
			continue
		}
		ok, known := allowed[dir]
		if !known {
			t.Errorf("package %s is not in archtest's table: add it with the packages it may import", dir)
			continue
		}
		for _, imp := range imports(t, filepath.Join(root, dir)) {
			if !slices.Contains(ok, imp) {
				t.Errorf("%s imports %s, against the layering (allowed: %v)", dir, imp, ok)
			}
		}
	}
}

// imports returns the tsm packages imported by the non-test files of dir,
// on every platform (build tags are ignored on purpose).
func imports(t *testing.T, dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range af.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok && !slices.Contains(out, rest) {
				out = append(out, rest)
			}
		}
	}
	return out
}
