package events

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
