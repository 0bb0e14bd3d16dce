package logs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// waitLimit bounds every wait for a condition; it only keeps a broken test from
// hanging and never decides a pass.
const waitLimit = 5 * time.Second

// fast polls often and holds partial lines for as long as any test runs, so
// tests that do not exercise the flush never see one.
func fast() Follower {
	return Follower{PollInterval: 2 * time.Millisecond, FlushPartialAfter: time.Hour}
}

// collector records emitted lines and wakes waiters on every one.
type collector struct {
	mu     sync.Mutex
	lines  []Line
	notify chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) emit(l Line) error {
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

// byStream returns the lines emitted so far, grouped by stream.
func (c *collector) byStream() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string][]string{}
	for _, l := range c.lines {
		m[l.Stream] = append(m[l.Stream], l.Text)
	}
	return m
}

// waitFor waits until every stream has emitted as many lines as want lists for
// it and then requires the lines emitted to be exactly want.
func (c *collector) waitFor(t *testing.T, want map[string][]string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		got := c.byStream()
		done := true
		for stream, lines := range want {
			done = done && len(got[stream]) >= len(lines)
		}
		if done {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("emitted lines mismatch (-want +got):\n%s", diff)
			}
			return
		}
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for lines; got %q, want %q", got, want)
		}
	}
}

// waitCount waits until at least n lines were emitted (or waitLimit
// passed) and returns the lines emitted so far.
func (c *collector) waitCount(n int) []Line {
	deadline := time.After(waitLimit)
	for {
		c.mu.Lock()
		lines := slices.Clone(c.lines)
		c.mu.Unlock()
		if len(lines) >= n {
			return lines
		}
		select {
		case <-c.notify:
		case <-deadline:
			return lines
		}
	}
}

// offsets returns the offsets of lines.
func offsets(lines []Line) []int64 {
	var offs []int64
	for _, l := range lines {
		offs = append(offs, l.Off)
	}
	return offs
}

// startFollow takes the starting point of a Follow synchronously, so a test
// knows which writes come after it, then runs it until the test ends.
func startFollow(t *testing.T, fl Follower, sources ...Source) *collector {
	t.Helper()
	f, err := fl.Open(sources)
	if err != nil {
		t.Fatal(err)
	}
	return runFollowing(t, f)
}

// runFollowing runs f until the test ends, collecting its lines.
func runFollowing(t *testing.T, f *Following) *collector {
	t.Helper()
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, c.emit) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Follow returned %v, want nil after cancel", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("Follow did not return after cancel")
		}
	})
	return c
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// openAppend opens path the way a managed process's stdout is: O_APPEND, kept
// open across rotations.
func openAppend(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func write(t testing.TB, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func paths(t *testing.T) (dir, out, err string) {
	dir = t.TempDir()
	return dir, filepath.Join(dir, "current.out"), filepath.Join(dir, "current.err")
}

// A follow starts at the end, but a line being written then is emitted whole.
func TestFollowStartsAtEnd(t *testing.T) {
	_, out, _ := paths(t)
	appendFile(t, out, "old 1\nold 2\nunterminated ")
	c := startFollow(t, fast(), Source{Stream: "out", Path: out})
	appendFile(t, out, "rest\nnew\n")
	c.waitFor(t, map[string][]string{"out": {"unterminated rest", "new"}})
}

// A line written slowly, in pieces, is one line, as Tail shows it.
func TestFollowHoldsSlowLine(t *testing.T) {
	_, out, _ := paths(t)
	c := startFollow(t, Follower{PollInterval: time.Millisecond}, Source{Stream: "out", Path: out})
	appendFile(t, out, "slow ")
	time.Sleep(50 * time.Millisecond) // many polls: the piece must not come out alone
	appendFile(t, out, "line\n")
	c.waitFor(t, map[string][]string{"out": {"slow line"}})
}

// Following a file that Rotate takes the head of, under a fast writer,
// emits every line once.
func TestFollowAcrossRotation(t *testing.T) {
	_, out, _ := paths(t)
	w := openAppend(t, out)
	c := startFollow(t, Follower{PollInterval: time.Millisecond}, Source{Stream: "out", Path: out})
	var want []string
	for i := range 20000 {
		want = append(want, fmt.Sprintf("line %d", i))
		write(t, w, want[i]+"\n")
		if i%1000 == 999 {
			if _, err := Rotate(out, Policy{MaxSize: 4096, Keep: 3}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.waitCount(len(want))
	got := c.byStream()["out"]
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("followed %d lines, want %d; they differ from line %d on: got %q…", len(got), len(want), i, got[i:min(len(got), i+3)])
	}
}

func TestFollowTwoFilesConcurrently(t *testing.T) {
	_, out, errPath := paths(t)
	appendFile(t, out, "old out\n")
	c := startFollow(t, fast(), Source{Stream: "out", Path: out}, Source{Stream: "err", Path: errPath})
	const n = 300
	want := map[string][]string{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, s := range []struct{ stream, path string }{{"out", out}, {"err", errPath}} {
		var lines []string
		for i := range n {
			lines = append(lines, fmt.Sprintf("%s %d", s.stream, i))
		}
		want[s.stream] = lines
		f := openAppend(t, s.path)
		wg.Go(func() {
			for _, line := range lines {
				if _, err := f.WriteString(line + "\n"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	c.waitFor(t, want)
}

func TestFollowFileCreatedLater(t *testing.T) {
	dir, out, _ := paths(t)
	// The process directory itself may not exist yet either.
	late := filepath.Join(dir, "later", "current.err")
	c := startFollow(t, fast(), Source{Stream: "out", Path: out}, Source{Stream: "err", Path: late})
	appendFile(t, out, "first\nsecond\n")
	c.waitFor(t, map[string][]string{"out": {"first", "second"}})
	if err := os.Mkdir(filepath.Dir(late), 0o700); err != nil {
		t.Fatal(err)
	}
	appendFile(t, late, "boom\n")
	c.waitFor(t, map[string][]string{"out": {"first", "second"}, "err": {"boom"}})
}

func TestFollowTruncation(t *testing.T) {
	_, out, _ := paths(t)
	f := openAppend(t, out)
	write(t, f, "before follow\n")
	c := startFollow(t, fast(), Source{Stream: "out", Path: out})
	write(t, f, "a long first line\n")
	c.waitFor(t, map[string][]string{"out": {"a long first line"}})
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	// Shorter than what was there, so the shrink shows whenever the poll
	// comes; O_APPEND writes land at the new end.
	write(t, f, "x\n")
	c.waitFor(t, map[string][]string{"out": {"a long first line", "x"}})
	write(t, f, "y\n")
	c.waitFor(t, map[string][]string{"out": {"a long first line", "x", "y"}})
}

func TestFollowRenameRotation(t *testing.T) {
	_, out, _ := paths(t)
	proc := openAppend(t, out) // the process keeps its descriptor across the rename
	c := startFollow(t, fast(), Source{Stream: "out", Path: out})
	write(t, proc, "before\n")
	c.waitFor(t, map[string][]string{"out": {"before"}})

	if err := os.Rename(out, out+".1"); err != nil {
		t.Fatal(err)
	}
	// With no new file yet, the old one is still followed.
	write(t, proc, "after rename\n")
	c.waitFor(t, map[string][]string{"out": {"before", "after rename"}})

	// The old file's last lines come before the new file's first, however
	// the polls fall.
	write(t, proc, "last of old\n")
	appendFile(t, out, "first of new\n")
	c.waitFor(t, map[string][]string{"out": {"before", "after rename", "last of old", "first of new"}})

	write(t, proc, "ignored: old file abandoned\n")
	appendFile(t, out, "second of new\n")
	c.waitFor(t, map[string][]string{"out": {"before", "after rename", "last of old", "first of new", "second of new"}})
}

func TestFollowDeletedAndRecreated(t *testing.T) {
	_, out, _ := paths(t)
	appendFile(t, out, "old\n")
	c := startFollow(t, fast(), Source{Stream: "out", Path: out})
	appendFile(t, out, "one\n")
	c.waitFor(t, map[string][]string{"out": {"one"}})
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	appendFile(t, out, "two\n")
	c.waitFor(t, map[string][]string{"out": {"one", "two"}})
}

func TestFollowHoldsPartialLine(t *testing.T) {
	dir, out, _ := paths(t)
	barrier := filepath.Join(dir, "barrier")
	// Sources are polled in order, so once the barrier's line is emitted,
	// out is read after it, and so after "abc" was written.
	c := startFollow(t, fast(), Source{Stream: "barrier", Path: barrier}, Source{Stream: "out", Path: out})
	appendFile(t, out, "abc")
	appendFile(t, barrier, "sync\n")
	c.waitFor(t, map[string][]string{"barrier": {"sync"}})
	appendFile(t, barrier, "sync\n")
	c.waitFor(t, map[string][]string{"barrier": {"sync", "sync"}})
	appendFile(t, out, "def\n")
	c.waitFor(t, map[string][]string{"barrier": {"sync", "sync"}, "out": {"abcdef"}})
}

func TestFollowFlushesPartialLine(t *testing.T) {
	_, out, _ := paths(t)
	fl := Follower{PollInterval: 2 * time.Millisecond, FlushPartialAfter: 10 * time.Millisecond}
	c := startFollow(t, fl, Source{Stream: "out", Path: out})
	appendFile(t, out, "Password: ")
	c.waitFor(t, map[string][]string{"out": {"Password: "}})
	appendFile(t, out, "ok\n")
	c.waitFor(t, map[string][]string{"out": {"Password: ", "ok"}})
}

func TestFollowLineContent(t *testing.T) {
	_, out, _ := paths(t)
	c := startFollow(t, fast(), Source{Stream: "out", Path: out})
	x := strings.Repeat("x", maxLineLen)
	appendFile(t, out, "crlf\r\n\n\xff\xfe\n"+x+"\n"+x+"overflow"+strings.Repeat("!", 3*followChunk)+"\nend\n")
	c.waitFor(t, map[string][]string{"out": {"crlf\r", "", "\xff\xfe", x, x + "…", "end"}})
}

func TestFollowCancel(t *testing.T) {
	_, out, errPath := paths(t)
	appendFile(t, out, "x\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, []Source{{Stream: "out", Path: out}, {Stream: "err", Path: errPath}}, func(Line) error { return nil })
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow after cancel = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Follow did not return after cancel")
	}
}

func TestFollowCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	_, out, _ := paths(t)
	err := Follow(ctx, []Source{{Stream: "out", Path: out}}, func(Line) error { called = true; return nil })
	if err != nil || called {
		t.Errorf("Follow(cancelled ctx) = %v, emit called %v; want nil, false", err, called)
	}
}

func TestFollowEmitErrorStops(t *testing.T) {
	_, out, _ := paths(t)
	errPipe := errors.New("broken pipe")
	var calls atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- Follow(context.Background(), []Source{{Stream: "out", Path: out}}, func(Line) error {
			calls.Add(1)
			return errPipe
		})
	}()
	// Follow's starting point is unknown here, so keep writing until it
	// has seen a line and stopped.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLimit)
	for {
		select {
		case err := <-done:
			if !errors.Is(err, errPipe) {
				t.Errorf("Follow = %v, want %v", err, errPipe)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("emit called %d times, want 1", n)
			}
			return
		case <-tick.C:
			appendFile(t, out, "line\nline\n")
		case <-deadline:
			t.Fatal("Follow did not stop after emit failed")
		}
	}
}

func TestFollowUnreadableFileIsAnError(t *testing.T) {
	_, out, _ := paths(t)
	w, err := fast().start([]Source{{Stream: "out", Path: out}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	// A directory where the log file should be opens but cannot be read.
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := w.run(ctx, func(Line) error { return nil }); err == nil {
		t.Error("following a directory: err = nil, want an error")
	}
}

func TestFollowPartialLineMemoryIsBounded(t *testing.T) {
	s := &followed{Source: Source{Stream: "out"}}
	chunk := []byte(strings.Repeat("x", followChunk))
	for range 64 {
		if err := s.consume(chunk, 0, func(Line) error { t.Fatal("emitted before the newline"); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.partial) > lineKeep {
		t.Errorf("holding %d bytes of an unterminated line, want at most %d", len(s.partial), lineKeep)
	}
	var got []string
	if err := s.consume([]byte("\n"), 0, func(l Line) error { got = append(got, l.Text); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{strings.Repeat("x", maxLineLen) + "…"}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// Followed lines carry their absolute offsets, across a partial line and a
// rotation, the same as TailStream gives.
func TestFollowOffsets(t *testing.T) {
	_, out, _ := paths(t)
	c := startFollow(t, Follower{PollInterval: time.Millisecond}, Source{Stream: "out", Path: out})
	appendFile(t, out, "a\nbb")
	appendFile(t, out, "b\n"+strings.Repeat("c", 5000)+"\n")
	if _, err := Rotate(out, Policy{MaxSize: 10, Keep: 1}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, out, "d\n")
	offs := offsets(c.waitCount(4))
	want := []int64{0, 2, 6, 5007}
	if !slices.Equal(offs, want) {
		t.Errorf("offsets %v, want %v", offs, want)
	}
	tail, err := TailStream(out, "", 4, -1)
	var tailOffs []int64
	for _, l := range tail {
		tailOffs = append(tailOffs, l.Off)
	}
	if err != nil || !slices.Equal(tailOffs, want) {
		t.Errorf("TailStream offsets %v, %v; want %v", tailOffs, err, want)
	}
}

// A file that did not exist when the follow began, written and rotated
// before the follower first looks at it: the rotated head is followed too,
// from the stream's start (before: from the live file's new base, losing
// what rotation took; TestFollowOffsets failed so under load).
func TestFollowFileAppearsRotated(t *testing.T) {
	_, out, _ := paths(t)
	f, err := Follower{PollInterval: time.Millisecond}.Open([]Source{{Stream: "out", Path: out}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Start(0) != 0 {
		t.Fatalf("Start = %d, want 0", f.Start(0))
	}
	appendFile(t, out, "a\nbb\n"+strings.Repeat("c", 5000)+"\n")
	if _, err := Rotate(out, Policy{MaxSize: 10, Keep: 1}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, out, "d\n")
	offs := offsets(runFollowing(t, f).waitCount(4))
	if want := []int64{0, 2, 5, 5006}; !slices.Equal(offs, want) {
		t.Errorf("offsets %v, want %v", offs, want)
	}
}

// A follower far behind a fast writer (here: 72 MiB, rotated away in six
// rotations before it first looks) reads what the rotated files hold and
// then keeps up across more rotations done while it runs: every numbered
// line exactly once, in order. Before, a follower more than 64 MiB behind
// went on from the live file's start and lost everything in between.
func TestFollowFarBehindAcrossRotations(t *testing.T) {
	_, out, _ := paths(t)
	w := openAppend(t, out)
	pol := Policy{MaxSize: 1 << 20, Keep: 100}
	const lineLen = 64
	const before = 72 << 20 / lineLen // lines written before the follow runs
	const total = before + 200000
	fl := fast()
	fl.Borrow = true // emit below keeps nothing of a line
	f, err := fl.Open([]Source{{Stream: "out", Path: out}})
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	// writeLines writes n numbered lines of lineLen bytes in 64 KiB writes.
	writeLines := func(n int) {
		var b []byte
		for range n {
			b = fmt.Appendf(b, "%09d %0*d\n", next, lineLen-11, 0)
			next++
			if len(b) >= 64<<10 {
				write(t, w, string(b))
				b = b[:0]
			}
		}
		write(t, w, string(b))
	}
	for range 6 {
		writeLines(before / 6)
		m, err := Rotate(out, pol)
		if m == CopyTruncate {
			t.Skip("the file system refuses to collapse: copy-and-truncate may lose lines by design")
		}
		if err != nil || m != Collapse {
			t.Fatalf("rotate: %q, %v", m, err)
		}
	}
	seen := make([]int, total)
	var got, bad, disorder int
	last := -1
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- f.Run(ctx, func(l Line) error {
			if len(l.Text) < 9 {
				bad++
				return nil
			}
			v, err := strconv.Atoi(l.Text[:9])
			if err != nil || v < 0 || v >= total || len(l.Text) != lineLen-1 {
				bad++
				return nil
			}
			if seen[v]++; seen[v] == 1 {
				if got++; got == total {
					close(done)
				}
			}
			if v < last {
				disorder++
			}
			last = v
			return nil
		})
	}()
	for next < total {
		writeLines(min(20000, total-next))
		if _, err := Rotate(out, pol); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a hang guard, not a timing assertion
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	var lost, dup []int
	for v, n := range seen {
		if n == 0 {
			lost = append(lost, v)
		} else if n > 1 {
			dup = append(dup, v)
		}
	}
	if len(lost) > 0 || len(dup) > 0 || bad > 0 || disorder > 0 {
		t.Fatalf("of %d lines: %d lost (first %v), %d duplicated (first %v), %d malformed, %d out of order",
			total, len(lost), lost[:min(len(lost), 3)], len(dup), dup[:min(len(dup), 3)], bad, disorder)
	}
}

// A rotation that leaves the live file exactly as long as what the follower
// had read of it is still noticed: the lines written before it are emitted
// (from the rotated file). Before, the follower took the equal size for "no
// news" and showed nothing until the file grew again.
func TestFollowRotationToSameSize(t *testing.T) {
	_, out, _ := paths(t)
	w := openAppend(t, out)
	line := func(i int) string { return fmt.Sprintf("line %010d", i) } // 15 bytes + newline
	for i := range 7 {
		write(t, w, line(i)+"\n") // 112 bytes
	}
	f, err := fast().Open([]Source{{Stream: "out", Path: out}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 7; i < 7+256; i++ { // 4096 bytes: the collapse takes one block
		want = append(want, line(i))
		write(t, w, line(i)+"\n")
	}
	if m, err := Rotate(out, Policy{MaxSize: 10, Keep: 1}); err != nil || m != Collapse {
		t.Skipf("needs a file system that collapses: %q, %v", m, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != 112 {
		t.Fatalf("live file after the rotation: %v, %v; want 112 bytes", fi, err)
	}
	c := runFollowing(t, f)
	c.waitFor(t, map[string][]string{"out": want})
}

// BenchmarkFollow is the follower's own cost per byte of 40-byte lines,
// read from a file written before it runs (emit only counts).
func BenchmarkFollow(b *testing.B) {
	out := filepath.Join(b.TempDir(), "current.out")
	const lines = 1 << 20
	var data []byte
	for i := range lines {
		data = fmt.Appendf(data, "#%09d %028d\n", i, 0)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		os.Remove(out)
		fl := fast()
		fl.Borrow = true
		f, err := fl.Open([]Source{{Stream: "out", Path: out}})
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(out, data, 0o600); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		f.Run(ctx, func(Line) error {
			if n++; n == lines {
				cancel()
			}
			return nil
		})
		cancel()
	}
}

// A rotation that leaves the live file shorter than what the follower had
// read of it, with nothing written after it, is still noticed: the line
// written before it is emitted. Before, the follower computed no chunk to
// read (a negative count) and waited for the file to grow past that point.
func TestFollowRotationToShorter(t *testing.T) {
	_, out, _ := paths(t)
	w := openAppend(t, out)
	line := func(i int) string { return fmt.Sprintf("line %010d", i) } // 15 bytes + newline
	// More than two read chunks past where the collapse leaves the file.
	const read = 3*followChunk + 7*16
	for i := range read / 16 {
		write(t, w, line(i)+"\n") // the follow starts at their end
	}
	f, err := fast().Open([]Source{{Stream: "out", Path: out}})
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, line(9999)+"\n")
	if m, err := Rotate(out, Policy{MaxSize: 10, Keep: 1}); err != nil || m != Collapse {
		t.Skipf("needs a file system that collapses: %q, %v", m, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() >= read-2*followChunk {
		t.Fatalf("live file after the rotation: %v, %v; want less than %d bytes", fi, err, read-2*followChunk)
	}
	c := runFollowing(t, f)
	c.waitFor(t, map[string][]string{"out": {line(9999)}})
}
