package logs

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// Stamp puts the arrival time before each line, also one that arrives in
// pieces, across writers that come and go.
func TestStamp(t *testing.T) {
	live := filepath.Join(t.TempDir(), "current.out")
	if err := MakePipe(live); err != nil {
		t.Fatal(err)
	}
	if err := MakePipe(live); err != nil {
		t.Fatalf("MakePipe of an existing pipe: %v", err)
	}
	// The way a process holds it: read and write, so it never lacks a reader.
	w, err := os.OpenFile(PipePath(live), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Stamp(ctx, live) }()
	w.WriteString("one\ntw")
	time.Sleep(20 * time.Millisecond) // the pieces arrive apart
	w.WriteString("o\nthree\n")
	w.Close()
	// A writer of the next run.
	w, _ = os.OpenFile(PipePath(live), os.O_RDWR, 0)
	w.WriteString("four\n")
	w.Close()
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} `
	want := regexp.MustCompile(`^` + ts + `one\n` + ts + `two\n` + ts + `three\n` + ts + `four\n$`)
	deadline := time.Now().Add(waitLimit)
	b, _ := os.ReadFile(live)
	for !want.Match(b) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		b, _ = os.ReadFile(live)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !want.Match(b) {
		t.Errorf("stamped log:\n%s", b)
	}
}

func TestStampStopsWithContext(t *testing.T) {
	live := filepath.Join(t.TempDir(), "current.out")
	MakePipe(live)
	w, _ := os.OpenFile(PipePath(live), os.O_RDWR, 0)
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Stamp(ctx, live) }()
	w.WriteString("x\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Stamp did not return after cancel")
	}
}
