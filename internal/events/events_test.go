package events

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestAppendRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	id := 3
	code := 1
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "a"
			if i%2 == 1 {
				name = "b"
			}
			if err := l.Append(Event{Type: Exit, Name: name, ID: &id, PID: 100 + i, ExitCode: &code}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A torn line (a crash mid-write of some other writer) is skipped.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("{\"event\": \"exi\n")
	f.Close()

	all, err := Read(path, 0, nil)
	if err != nil || len(all) != 50 {
		t.Fatalf("Read all = %d events, %v; want 50", len(all), err)
	}
	bs, _ := Read(path, 5, func(e Event) bool { return e.Name == "b" })
	if len(bs) != 5 {
		t.Fatalf("last 5 of b = %d", len(bs))
	}
	for _, e := range bs {
		if e.Name != "b" || *e.ExitCode != 1 || e.Time.IsZero() {
			t.Errorf("event %+v", e)
		}
	}
	if s := Format(bs[0]); !strings.Contains(s, "exit") || !strings.Contains(s, "b (id 3)") || !strings.Contains(s, "exit code 1") {
		t.Errorf("Format = %q", s)
	}
	if none, err := Read(filepath.Join(t.TempDir(), "missing"), 10, nil); err != nil || none != nil {
		t.Errorf("missing file: %v, %v", none, err)
	}
}

func TestRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(path, make([]byte, MaxSize-10), 0o644)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Event{Type: Daemon, Message: "started"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + ".1"); err != nil || fi.Size() != MaxSize-10 {
		t.Fatalf("rotated file: %v %v", fi, err)
	}
	evs, _ := Read(path, 0, nil)
	if len(evs) != 1 || evs[0].Message != "started" {
		t.Errorf("after rotation: %+v", evs)
	}
}

// Whatever Append is given, every line it writes is read back whole: by
// Read, and within the line limit of `tsm events -f` (logs.Follow).
func TestLongEventsReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, msg := range []string{
		strings.Repeat("a", 1_200_000),       // a 1.2 MB command line
		strings.Repeat("\x01\"<", 300_000),   // grows sixfold when escaped
		strings.Repeat("é", 50_000) + "tail", // multi-byte, cut on a rune
		"short",
	} {
		if err := l.Append(Event{Type: Start, Name: "big", Message: msg}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if len(line)+1 > MaxLine {
			t.Errorf("line %d is %d bytes, more than MaxLine", i, len(line))
		}
	}
	evs, err := Read(path, 0, nil)
	if err != nil || len(evs) != 4 {
		t.Fatalf("Read: %d events, %v", len(evs), err)
	}
	if !strings.HasSuffix(evs[0].Message, "… (trimmed from 1200000 bytes)") || !utf8.ValidString(evs[2].Message) || evs[3].Message != "short" {
		t.Errorf("messages: %.40q … %.40q", evs[0].Message, evs[2].Message)
	}
}

// A line longer than any buffer, written by an older tsm or by hand, is
// skipped; the events around it are still read.
func TestReadSkipsHugeLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	huge := `{"event":"start","message":"` + strings.Repeat("x", 5<<20) + `"}`
	os.WriteFile(path, []byte(`{"event":"start","name":"a"}`+"\n"+huge+"\n"+`{"event":"stop","name":"b"}`), 0o600)
	evs, err := Read(path, 0, nil)
	if err != nil || len(evs) != 2 || evs[0].Name != "a" || evs[1].Name != "b" {
		t.Errorf("Read = %+v, %v", evs, err)
	}
}

// The log is private and never appended to through a link.
func TestOpenRefusesLinkAndIsPrivate(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "root-only")
	os.WriteFile(target, []byte("secret\n"), 0o600)
	link := filepath.Join(dir, "events.jsonl")
	os.Symlink(target, link)
	if l, err := Open(link); err == nil {
		l.Append(Event{Type: Daemon})
		l.Close()
		t.Error("opened through a link")
	}
	if b, _ := os.ReadFile(target); string(b) != "secret\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	path := filepath.Join(dir, "new.jsonl")
	os.WriteFile(path, nil, 0o644)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
}
