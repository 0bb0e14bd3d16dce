package spec

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestOS(t *testing.T) {
	sys := OS()
	dir := t.TempDir()
	notExec, binDir := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{notExec, binDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(notExec, "tool"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(binDir, "tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(notExec, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	pathEnv := "relative:" + notExec + string(filepath.ListSeparator) + binDir
	if got, err := sys.LookPath("tool", pathEnv); err != nil || got != tool {
		t.Errorf("LookPath(tool) = %q, %v; want %q (skipping the non-executable one)", got, err, tool)
	}
	for _, name := range []string{"dir", "missing", "b/tool"} {
		if got, err := sys.LookPath(name, notExec+":"+dir); err == nil {
			t.Errorf("LookPath(%q) = %q, want an error", name, got)
		}
	}
	if data, err := sys.ReadFile(tool); err != nil || string(data) != "#!/bin/sh\n" {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
	if info, err := sys.Stat(tool); err != nil || !isExecutable(info) {
		t.Errorf("Stat = %v, %v; want an executable file", info, err)
	}

	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if sys.PortFree(port) {
		t.Errorf("PortFree(%d) = true while we listen on it", port)
	}
	l.Close()
	if !sys.PortFree(port) {
		t.Errorf("PortFree(%d) = false after closing the listener", port)
	}
}
