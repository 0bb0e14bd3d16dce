package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// Everything is private whatever the umask, and directories an older tsm
// made 0755 are closed on load.
func TestPrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := filepath.Join(t.TempDir(), "tsm")
	os.MkdirAll(filepath.Join(root, "runtime", "processes", "old"), 0o777)
	os.WriteFile(filepath.Join(root, "runtime", "processes", "old", "current.out"), nil, 0o666)
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{TsmID: 1, Name: "web", PID: 42, Status: StatusOnline, Prehook: "export PASSWORD=x"}
	if err := s.WriteMeta(m); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteLaunch("web", Launch{Argv: []string{"/bin/true"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePorts(PortsContent([]Meta{{Name: "web", Port: 8000}})); err != nil {
		t.Fatal(err)
	}
	s.LoadAll()
	for path, want := range map[string]os.FileMode{
		root: 0o700, filepath.Join(root, "runtime"): 0o700, s.ProcessesDir(): 0o700, s.Dir("web"): 0o700, s.Dir("old"): 0o700,
		s.MetaPath("web"): 0o600, s.PIDPath("web"): 0o600, s.LaunchPath("web"): 0o600, s.PortsFile(): 0o600,
	} {
		if fi, err := os.Stat(path); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s: %v; want %v", path, fi.Mode(), want)
		}
	}
}

// A process directory that is a link is reported, and nothing is written
// through it: not meta.json, not launch.json with the environment.
func TestSymlinkedProcessDir(t *testing.T) {
	s, _ := New(t.TempDir())
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, s.Dir("evil")); err != nil {
		t.Fatal(err)
	}
	_, problems, err := s.LoadAll()
	if err != nil || len(problems) != 1 || problems[0].Name != "evil" || !strings.Contains(problems[0].Err.Error(), "symbolic link") {
		t.Errorf("problems %v, %v; want evil reported as a link", problems, err)
	}
	if err := s.WriteMeta(Meta{Name: "evil", Status: StatusStopped}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("WriteMeta through a link: %v", err)
	}
	if err := s.WriteLaunch("evil", Launch{Argv: []string{"x"}, Env: []string{"API_TOKEN=s3cret"}}); err == nil {
		t.Error("WriteLaunch through a link succeeded")
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("written through the link: %v", entries)
	}
}

// Records are read only if they are what tsm writes: a link, a FIFO (which
// would block the daemon for good) or a huge file is an error, at once.
func TestReadRecordGuards(t *testing.T) {
	s, _ := New(t.TempDir())
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(`{"name":"a"}`), 0o600)
	os.Mkdir(s.Dir("a"), 0o700)
	os.Symlink(secret, s.MetaPath("a"))
	os.Mkdir(s.Dir("b"), 0o700)
	if err := syscall.Mkfifo(s.MetaPath("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(s.Dir("c"), 0o700)
	os.WriteFile(s.MetaPath("c"), []byte(`{"name":"c","command":"`+strings.Repeat("x", maxMeta)+`"}`), 0o600)
	for name, want := range map[string]string{"a": "symbolic link", "b": "not a regular file", "c": "more than"} {
		if _, err := s.ReadMeta(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadMeta(%s) = %v, want %q", name, err, want)
		}
	}
}

// Two records with one tsm_id are both loaded, the second renumbered to
// the lowest free ID and reported; an ID then names one process.
func TestLoadAllRenumbersDuplicateIDs(t *testing.T) {
	s, _ := New(t.TempDir())
	for name, id := range map[string]int{"a": 0, "b": 2, "c": 2, "d": 2} {
		if err := s.WriteMeta(Meta{TsmID: id, Name: name, Status: StatusStopped}); err != nil {
			t.Fatal(err)
		}
	}
	metas, problems, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, m := range metas {
		ids[m.Name] = m.TsmID
	}
	if want := map[string]int{"a": 0, "b": 2, "c": 1, "d": 3}; !maps.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if len(problems) != 2 || !problems[0].Loaded || !strings.Contains(problems[0].Err.Error(), "renumbered to 1") {
		t.Errorf("problems %v", problems)
	}
}

// A launch.json that cannot be used is an error that says so, never an
// empty record that would make a restart guess.
func TestReadLaunchCorrupt(t *testing.T) {
	s, _ := New(t.TempDir())
	if _, err := s.ReadLaunch("none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing launch.json: %v", err)
	}
	for _, body := range []string{`{"argv": ["/bin/sl`, `{}`, `[]`} {
		os.MkdirAll(s.Dir("x"), 0o700)
		os.WriteFile(s.LaunchPath("x"), []byte(body), 0o600)
		if _, err := s.ReadLaunch("x"); err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "corrupt launch.json") {
			t.Errorf("launch.json %s: %v", body, err)
		}
	}
}

// Whatever meta.json holds, ReadMeta returns a record or an error, never
// a panic, and a record it returns names its directory.
func FuzzReadMeta(f *testing.F) {
	for _, seed := range []string{
		`{"tsm_id": 1, "name": "x", "pid": 5, "port": "8000", "status": "online"}`,
		`{"id": 7, "name": "x", "port": null, "started": 1729234999}`,
		`{"name": "x", "port": {}}`, `{"name": "x", "tsm_id": 1e99}`, `[]`, ``, `{"name": "x"`,
	} {
		f.Add([]byte(seed))
	}
	s, _ := New(f.TempDir())
	os.Mkdir(s.Dir("x"), 0o700)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(s.MetaPath("x"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if m, err := s.ReadMeta("x"); err == nil && m.Name != "x" {
			t.Fatalf("ReadMeta(%q) = %+v, a record of another directory", b, m)
		}
	})
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

// An intent is written over the spare's old bytes in place (no block freed
// and allocated again): a shorter record after a longer one must leave no
// tail of the longer one behind, whichever kind of write came before.
func TestWriteIntentShorterThanSpare(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	long := Meta{TsmID: 1, Name: "api", PID: 42, Command: strings.Repeat("x", 3000), Status: StatusOnline}
	short := Meta{TsmID: 1, Name: "api", PID: 42, Command: "sleep 1", Status: StatusOnline}
	for _, w := range []func(Meta) error{s.WriteMeta, s.WriteIntent, s.WriteIntent, s.WriteMeta} {
		if err := w(long); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range []func(Meta) error{s.WriteIntent, s.WriteIntent, s.WriteMeta, s.WriteIntent} {
		short.StopSent = int64(i + 1)
		if err := w(short); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadMeta("api")
		if err != nil || got.Command != "sleep 1" || got.StopSent != int64(i+1) {
			t.Fatalf("write %d: ReadMeta = %+v, %v", i, got, err)
		}
		b, _ := os.ReadFile(s.MetaPath("api"))
		if bytes.Count(b, []byte("tsm_id")) != 1 || !bytes.HasSuffix(b, []byte("}\n")) {
			t.Fatalf("write %d: meta.json holds more than one record:\n%s", i, b)
		}
	}
}

// A stop and a start create and free no inode for the pid file: a save of
// the same run (ready) leaves the pid file as it is, and the stopped run's
// pid file becomes the spare that the next run's is written into. The pid
// file is there exactly while the record says online.
func TestPIDFileKeepsItsInode(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	inode := func(path string) uint64 {
		t.Helper()
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	pidPath := s.PIDPath("api")
	spare := filepath.Join(s.Dir("api"), ".api.pid.tmp-spare")
	m := Meta{TsmID: 1, Name: "api", Command: "sleep 1"}
	for run := range 3 {
		m.PID, m.Status = 100+run, StatusOnline
		var ino uint64
		for i, w := range []func(Meta) error{s.WriteMeta, s.WriteMeta, s.WriteIntent} { // spawned, ready, stopping
			if err := w(m); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(pidPath); err != nil || string(b) != strconv.Itoa(m.PID)+"\n" {
				t.Fatalf("run %d: pid file = %q, %v", run, b, err)
			}
			if i == 0 {
				ino = inode(pidPath)
			} else if got := inode(pidPath); got != ino {
				t.Errorf("run %d, write %d: the pid file was written again (inode %d, was %d)", run, i, got, ino)
			}
		}
		m.PID, m.Status = 0, StatusStopped
		if err := s.WriteMeta(m); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(pidPath); !os.IsNotExist(err) {
			t.Fatalf("run %d: pid file of a stopped process: %v", run, err)
		}
		if got := inode(spare); got != ino {
			t.Errorf("run %d: the spare is inode %d, not the stopped run's pid file %d: one inode was freed", run, got, ino)
		}
	}
}

// A meta.json torn by a power loss inside an unsynced intent write is
// replaced, at load, by the record written before it (its spare), and
// said as mended; without a whole spare it is skipped as before.
func TestLoadAllTornMetaUsesSpare(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("spares are kept where RENAME_EXCHANGE is")
	}
	s, _ := New(t.TempDir())
	if err := s.WriteMeta(Meta{TsmID: 0, Name: "web", Status: StatusOnline, State: "online", PID: 4242}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteIntent(Meta{TsmID: 0, Name: "web", Status: StatusOnline, State: "stopping", PID: 4242}); err != nil {
		t.Fatal(err)
	}
	// Torn: the new record's first half over the old one's bytes.
	os.WriteFile(s.MetaPath("web"), []byte(`{"tsm_id": 0, "name": "web", "sta`), 0o600)
	metas, problems, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 || metas[0].State != "online" || metas[0].PID != 4242 {
		t.Fatalf("metas = %+v, want web as the earlier record has it (online, pid 4242)", metas)
	}
	if len(problems) != 1 || !problems[0].Mended || !strings.Contains(problems[0].Err.Error(), "record written before it was used") {
		t.Errorf("problems = %+v, want one mended", problems)
	}
	// A spare that is no whole record does not help: skipped, reported.
	os.WriteFile(sparePath(s.MetaPath("web")), []byte("{"), 0o600)
	metas, problems, _ = s.LoadAll()
	if len(metas) != 0 || len(problems) != 1 || problems[0].Loaded {
		t.Errorf("with a broken spare: metas %+v problems %+v; want web skipped", metas, problems)
	}
}

// A spare that is no file tsm wrote (a FIFO, a symbolic link: planted, or
// the old meta.json a load replaced from its spare) is replaced, not
// written through: opening a FIFO to write waited forever for a reader,
// leaving the process's actor, and its stop, hung.
func TestWriteMetaReplacesForeignSpare(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("spares are kept where RENAME_EXCHANGE is")
	}
	for _, kind := range []string{"fifo", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			s, _ := New(t.TempDir())
			m := Meta{TsmID: 0, Name: "web", Status: StatusStopped, State: "stopped"}
			if err := s.WriteMeta(m); err != nil {
				t.Fatal(err)
			}
			spare := sparePath(s.MetaPath("web"))
			os.Remove(spare)
			target := filepath.Join(t.TempDir(), "target")
			if kind == "fifo" {
				if err := syscall.Mkfifo(spare, 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Symlink(target, spare); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.WriteIntent(Meta{TsmID: 0, Name: "web", Status: StatusOnline, State: "starting"}) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("WriteIntent with a %s spare: %v", kind, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("WriteIntent with a %s spare still blocked after 10 s", kind)
			}
			got, err := s.ReadMeta("web")
			if err != nil || got.State != "starting" {
				t.Errorf("ReadMeta = %+v, %v; want the new record", got, err)
			}
			if _, err := os.Stat(target); err == nil {
				t.Errorf("the symbolic link's target %s was written", target)
			}
		})
	}
}
