package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPortJSON(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Port
	}{{`8000`, 8000}, {`"8000"`, 8000}, {`"none"`, 0}, {`null`, 0}, {`""`, 0}} {
		var p Port
		if err := json.Unmarshal([]byte(tt.in), &p); err != nil || p != tt.want {
			t.Errorf("unmarshal %s = %d, %v; want %d", tt.in, p, err, tt.want)
		}
	}
	for p, want := range map[Port]string{0: `"none"`, 3000: `3000`} {
		if b, _ := json.Marshal(p); string(b) != want {
			t.Errorf("marshal %d = %s, want %s", p, b, want)
		}
	}
	var p Port
	if err := json.Unmarshal([]byte(`"abc"`), &p); err == nil {
		t.Error(`"abc" accepted as a port`)
	}
}

// meta.json keeps the seed's field names and types.
func TestMetaSeedFields(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{TsmID: 3, Name: "api-8000", PID: 42, Command: "/usr/bin/python3 -m http.server 8000", Port: 8000,
		Cwd: "/srv", Interpreter: "/usr/bin/python3", ProcessType: "python", StartTime: 1729234567, Status: StatusOnline}
	if err := s.WriteMeta(m); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	b, _ := os.ReadFile(s.MetaPath("api-8000"))
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tsm_id", "name", "pid", "command", "port", "cwd", "interpreter", "process_type",
		"env_file", "prehook", "start_time", "status", "restarts", "unstable_restarts"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("meta.json lacks %q", k)
		}
	}
	if _, ok := raw["port"].(float64); !ok {
		t.Errorf("port is %T, want a number", raw["port"])
	}
	if pid, _ := os.ReadFile(s.PIDPath("api-8000")); string(pid) != "42\n" {
		t.Errorf("pid file = %q", pid)
	}
	m.Status = StatusStopped
	m.Port = 0
	if err := s.WriteMeta(m); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.PIDPath("api-8000")); !os.IsNotExist(err) {
		t.Errorf("pid file of a stopped process still exists: %v", err)
	}
	b, _ = os.ReadFile(s.MetaPath("api-8000"))
	if !strings.Contains(string(b), `"port": "none"`) {
		t.Errorf("port-less meta.json: %s", b)
	}
}

func TestLoadAllSkipsCorrupt(t *testing.T) {
	s, _ := New(t.TempDir())
	for i, name := range []string{"b", "a"} {
		if err := s.WriteMeta(Meta{TsmID: i, Name: name, Status: StatusStopped}); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(s.Dir("broken"), 0o755)
	os.WriteFile(s.MetaPath("broken"), []byte(`{"tsm_id": 2, "na`), 0o644)
	os.MkdirAll(s.Dir("empty"), 0o755)
	os.MkdirAll(s.Dir(".reserved-9"), 0o755)
	metas, problems, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 2 || metas[0].Name != "b" || metas[1].Name != "a" {
		t.Errorf("metas = %+v, want b then a (ID order)", metas)
	}
	// An empty directory is a first record's write that never began.
	if len(problems) != 1 || problems[0].Name != "broken" {
		t.Errorf("problems = %v, want broken", problems)
	}
	if _, err := os.Stat(s.Dir("empty")); !os.IsNotExist(err) {
		t.Errorf("the empty directory is still there: %v", err)
	}
}

func TestWriteFileAtomicLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, c := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only f", len(entries))
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestRemoveRefusesPaths(t *testing.T) {
	s, _ := New(t.TempDir())
	for _, bad := range []string{"", ".", "..", "../x", "a/b"} {
		if err := s.Remove(bad); err == nil {
			t.Errorf("Remove(%q) succeeded", bad)
		}
	}
}

// State written by the bash TSM is read as it meant: G1's seed fields with
// "port" as a string, and G2's "id", "started" and "port": null.
func TestReadLegacyMeta(t *testing.T) {
	s, _ := New(t.TempDir())
	for name, body := range map[string]string{
		"g1-3000": `{"tsm_id": 4, "name": "g1-3000", "pid": 123, "command": "/usr/bin/python3 -m http.server 3000", "port": "3000", "cwd": "/srv", "status": "online", "start_time": 1729234567, "restarts": 1, "unstable_restarts": 0, "children": [], "git": null}`,
		"g2-8000": `{"id": 7, "name": "g2-8000", "pid": 456, "command": "node app.js", "port": null, "cwd": "/app", "status": "online", "started": 1729234999, "tsm_file": null}`,
	} {
		os.MkdirAll(s.Dir(name), 0o755)
		os.WriteFile(s.MetaPath(name), []byte(body), 0o644)
	}
	g1, err := s.ReadMeta("g1-3000")
	if err != nil || g1.TsmID != 4 || g1.Port != 3000 || g1.StartTime != 1729234567 || g1.PID != 123 {
		t.Errorf("G1 meta = %+v, %v", g1, err)
	}
	g2, err := s.ReadMeta("g2-8000")
	if err != nil || g2.TsmID != 7 || g2.Port != 0 || g2.StartTime != 1729234999 || g2.Command != "node app.js" {
		t.Errorf("G2 meta = %+v, %v", g2, err)
	}
}

// A directory whose first record was never renamed into place (its writer
// died) holds only temporary files: it is removed, not reported; one with
// anything else in it is reported and kept.
func TestLoadAllUnwrittenFirstRecord(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(s.Dir("halfway"), 0o755)
	os.WriteFile(filepath.Join(s.Dir("halfway"), ".meta.json.tmp123"), []byte("{"), 0o644)
	os.MkdirAll(s.Dir("logsonly"), 0o755)
	os.WriteFile(s.OutLog("logsonly"), []byte("hello\n"), 0o644)
	metas, problems, err := s.LoadAll()
	if err != nil || len(metas) != 0 {
		t.Fatalf("LoadAll: %v, %v", metas, err)
	}
	if _, err := os.Stat(s.Dir("halfway")); !os.IsNotExist(err) {
		t.Errorf("the unwritten directory is still there: %v", err)
	}
	if len(problems) != 1 || problems[0].Name != "logsonly" {
		t.Errorf("problems %v, want logsonly only", problems)
	}
	if _, err := os.Stat(s.OutLog("logsonly")); err != nil {
		t.Errorf("logs were removed: %v", err)
	}
}

// Rewriting meta.json many times (a stop writes it three times) leaves one
// whole meta.json and the pid file matching it, and at most a spare that a
// load does not mistake for a process.
func TestWriteMetaRepeated(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{TsmID: 1, Name: "api", PID: 42, Command: "sleep 1", Status: StatusOnline}
	for i := range 5 {
		m.StopSent = int64(i)
		if err := s.WriteIntent(m); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteMeta(m); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadMeta("api")
		if err != nil || got.StopSent != int64(i) {
			t.Fatalf("after write %d: ReadMeta = %+v, %v", i, got, err)
		}
		if b, err := os.ReadFile(s.PIDPath("api")); err != nil || string(b) != "42\n" {
			t.Fatalf("pid file = %q, %v", b, err)
		}
	}
	m.Status, m.PID = StatusStopped, 0
	if err := s.WriteMeta(m); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.PIDPath("api")); !os.IsNotExist(err) {
		t.Errorf("pid file of a stopped process: %v", err)
	}
	metas, problems, err := s.LoadAll()
	if err != nil || len(problems) > 0 || len(metas) != 1 || metas[0].Status != StatusStopped {
		t.Errorf("LoadAll = %+v, %v, %v", metas, problems, err)
	}
	entries, _ := os.ReadDir(s.Dir("api"))
	for _, e := range entries {
		if n := e.Name(); n != "meta.json" && !strings.HasPrefix(n, ".") {
			t.Errorf("unexpected file %s", n)
		}
	}
}
