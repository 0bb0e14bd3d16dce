package logs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// streamBytes returns the whole stream: the rotated files, oldest first, then
// the live file.
func streamBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	rot := RotatedFiles(path)
	for i := len(rot) - 1; i >= 0; i-- {
		b, err := os.ReadFile(rot[i])
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return append(all, b...)
}

// Rotating under a writer that appends as fast as it can loses and repeats
// nothing, and Base accounts for every byte taken off the live file.
func TestRotateUnderWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.out")
	w := openAppend(t, path)
	const lines = 200000
	var wg sync.WaitGroup
	wg.Go(func() {
		var buf []byte
		for i := range lines {
			buf = fmt.Appendf(buf[:0], "line %d\n", i)
			if _, err := w.Write(buf); err != nil {
				t.Error(err)
				return
			}
		}
	})
	p := Policy{MaxSize: 64 << 10, Keep: 1000}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var methods = map[Method]int{}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		m, err := Rotate(path, p)
		if err != nil {
			t.Fatal(err)
		}
		methods[m]++
	}
	if methods[Collapse]+methods[CopyTruncate] < 3 {
		t.Fatalf("only %v rotations; the test needs several", methods)
	}
	all := streamBytes(t, path)
	got := bytes.Split(bytes.TrimSuffix(all, []byte("\n")), []byte("\n"))
	missing, dup := 0, 0
	seen := make([]int, lines)
	for _, l := range got {
		n, err := strconv.Atoi(string(bytes.TrimPrefix(l, []byte("line "))))
		if err != nil || n < 0 || n >= lines {
			t.Fatalf("garbled line %q", l)
		}
		seen[n]++
	}
	for _, c := range seen {
		if c == 0 {
			missing++
		} else if c > 1 {
			dup += c - 1
		}
	}
	if methods[CopyTruncate] == 0 && (missing != 0 || dup != 0) {
		t.Errorf("collapse rotation: %d lines missing, %d duplicated; want none", missing, dup)
	}
	if dup != 0 {
		t.Errorf("%d lines duplicated", dup)
	}
	live, _ := os.Stat(path)
	if got, want := Base(path), int64(len(all))-live.Size(); got != want && methods[CopyTruncate] == 0 {
		t.Errorf("Base = %d, want the %d bytes of the rotated files", got, want)
	}
	t.Logf("rotations %v, %d lines missing, %d duplicated", methods, missing, dup)
}

func TestRotateKeepsAndSmallFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.out")
	if m, err := Rotate(path, Policy{MaxSize: 10, Keep: 2}); m != "" || err != nil {
		t.Fatalf("missing file: %q, %v", m, err)
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if m, err := Rotate(path, Policy{MaxSize: 10, Keep: 2}); m != "" || err != nil {
		t.Fatalf("small file: %q, %v", m, err)
	}
	for range 4 {
		appendFile(t, path, string(bytes.Repeat([]byte("0123456789abcde\n"), 1024)))
		if _, err := Rotate(path, Policy{MaxSize: 1024, Keep: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if got := RotatedFiles(path); len(got) != 2 {
		t.Errorf("rotated files %q; want 2 (keep)", got)
	}
	freed, err := Flush(path)
	if err != nil || freed == 0 {
		t.Fatalf("Flush = %d, %v", freed, err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 || len(RotatedFiles(path)) != 0 {
		t.Errorf("after Flush: live %d bytes, rotated %q; want empty", fi.Size(), RotatedFiles(path))
	}
}

// TailStream reads on into the rotated files, a line cut by a rotation is
// whole, and the offsets are absolute.
func TestTailStreamAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.out")
	var all bytes.Buffer
	for i := range 3000 {
		line := fmt.Sprintf("line %d\n", i)
		all.WriteString(line)
		appendFile(t, path, line)
		if i%500 == 0 {
			if _, err := Rotate(path, Policy{MaxSize: 4096, Keep: 100}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(RotatedFiles(path)) < 3 {
		t.Fatalf("rotated %q; the test needs several", RotatedFiles(path))
	}
	live, _ := os.Stat(path)
	got, err := TailStream(path, "", 2000, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2000 || live.Size() > 16384 {
		t.Fatalf("got %d lines, live file %d bytes; want 2000 lines, most from rotated files", len(got), live.Size())
	}
	for i, l := range got {
		want := fmt.Sprintf("line %d", 1000+i)
		if l.Text != want || !bytes.HasPrefix(all.Bytes()[l.Off:], []byte(want+"\n")) {
			t.Fatalf("line %d = %q at %d; want %q at its offset", i, l.Text, l.Off, want)
		}
	}
	cut, err := TailStream(path, "", 1, got[10].Off)
	if err != nil || len(cut) != 1 || cut[0].Text != got[9].Text {
		t.Errorf("TailStream up to line 10's offset = %v, %v; want line 9", cut, err)
	}
}

// TrimTotal deletes the oldest rotated files, across streams, until the
// total fits; the live files and the newer rotated files stay.
func TestTrimTotal(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.out"), filepath.Join(dir, "b.out")
	old := time.Now().Add(-time.Hour)
	for i, f := range []string{Rotated(a, 2), Rotated(b, 1), Rotated(a, 1)} {
		os.WriteFile(f, bytes.Repeat([]byte("x"), 1000), 0o600)
		os.Chtimes(f, old.Add(time.Duration(i)*time.Minute), old.Add(time.Duration(i)*time.Minute))
	}
	os.WriteFile(a, bytes.Repeat([]byte("y"), 5000), 0o600)
	gone, err := TrimTotal([]string{a, b}, 2000)
	if err != nil || len(gone) != 1 || gone[0] != Rotated(a, 2) {
		t.Fatalf("TrimTotal = %q, %v; want the oldest, %s", gone, err, Rotated(a, 2))
	}
	if gone, _ := TrimTotal([]string{a, b}, 2000); len(gone) != 0 {
		t.Errorf("second TrimTotal deleted %q; want nothing", gone)
	}
	if _, err := os.Stat(a); err != nil {
		t.Errorf("live file: %v", err)
	}
}

// Checkpoints stay few however long a stream grows, and recent ones exact.
func TestNoteThinsOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.out")
	start := time.UnixMilli(1_000_000_000_000)
	for i := range 40000 {
		if err := Note(path, int64(i)*10, start.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if fi, _ := os.Stat(timesPath(path)); fi.Size() > timesMax {
		t.Errorf("times file %d bytes; want at most %d", fi.Size(), timesMax)
	}
	cps := Checkpoints(path)
	if at, ok := TimeAt(cps, 39998*10-1); !ok || !at.Equal(start.Add(39998*time.Second)) {
		t.Errorf("TimeAt of a recent byte = %v, %v; want %v", at, ok, start.Add(39998*time.Second))
	}
	// An old byte's time is coarser but still before the recent half.
	if at, ok := TimeAt(cps, 5); !ok || at.After(start.Add(20000*time.Second)) {
		t.Errorf("TimeAt of an old byte = %v, %v; want a time in the older half", at, ok)
	}
}
