package store

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tetra/tsm/internal/paths"
)

// The stop journal keeps what was appended until it is cleared, skips a
// line a power loss cut short, and is cleared only if nothing was
// appended since the count the caller had.
func TestStopJournal(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := s.Journal()
	if got, err := j.Read(); err != nil || got != nil {
		t.Fatalf("no journal yet: %v, %v", got, err)
	}
	a := StopBatch{At: 1, Pending: "stop", GraceMS: -1, Runs: []StopRun{{Name: "a", RunBase: "a/0/1", Run: 2}}}
	b := StopBatch{At: 2, Pending: "kill", GraceMS: 0, Runs: []StopRun{{Name: "b", RunBase: "b/1/1", Run: 1}}}
	if err := j.Append(a); j.Records() != 1 || err != nil {
		t.Fatalf("append: %d records, %v", j.Records(), err)
	}
	// The tail of an append cut short, as a power loss may leave it.
	f, err := os.OpenFile(paths.Stops(s.Root), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"at":3,"pending":"st`)
	f.Close()
	j.torn = true // what a failed write leaves
	if err := j.Append(b); j.Records() != 2 || err != nil {
		t.Fatalf("append: %d records, %v", j.Records(), err)
	}
	again := s.Journal() // a new daemon's
	got, err := again.Read()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]StopBatch{a, b}, got); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}
	if ok, err := j.Clear(1); ok || err != nil {
		t.Errorf("clear after a later append: %v, %v; want kept", ok, err)
	}
	if ok, err := j.Clear(2); !ok || err != nil {
		t.Errorf("clear: %v, %v", ok, err)
	}
	if got, err := s.Journal().Read(); err != nil || len(got) != 0 {
		t.Errorf("after clear: %v, %v", got, err)
	}
}

// A daemon that finds the journal ending in part of a line (an append a
// power loss or a full disk cut short, by a daemon that then went away)
// keeps its own first record whole: it is not glued onto that tail.
func TestStopJournalAfterATornTail(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := StopBatch{At: 1, Pending: "stop", GraceMS: -1, Runs: []StopRun{{Name: "a", RunBase: "a/0/1", Run: 2}}}
	if err := s.Journal().Append(a); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(paths.Stops(s.Root), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"at":3,"pending":"st`)
	f.Close()
	next := s.Journal() // the next daemon's: it reads the journal at start-up
	if got, err := next.Read(); err != nil || len(got) != 1 {
		t.Fatalf("read: %v, %v; want the whole record only", got, err)
	}
	b := StopBatch{At: 4, Pending: "kill", GraceMS: 0, Runs: []StopRun{{Name: "b", RunBase: "b/1/1", Run: 1}}}
	if err := next.Append(b); err != nil {
		t.Fatal(err)
	}
	got, err := s.Journal().Read()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]StopBatch{a, b}, got); diff != "" {
		t.Errorf("read after the next daemon's append (-want +got):\n%s", diff)
	}
}
