package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// writeFile writes content to a new file in a test directory and returns its path.
func writeFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "current.out")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// naiveTail is the obvious whole-content implementation Tail must agree with.
func naiveTail(content string, n, max int) []string {
	if n <= 0 || content == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	lines = lines[len(lines)-min(n, len(lines)):]
	for i, l := range lines {
		lines[i] = naiveCut(l, max)
	}
	return lines
}

// naiveCut cuts l to its longest prefix of at most max bytes that does not
// split a valid rune, decoding forwards from the start.
func naiveCut(l string, max int) string {
	if len(l) <= max {
		return l
	}
	cut := 0
	for cut < len(l) {
		_, size := utf8.DecodeRuneInString(l[cut:])
		if cut+size > max {
			break
		}
		cut += size
	}
	return l[:cut] + truncMarker
}

func TestTail(t *testing.T) {
	tests := []struct {
		name    string
		content string
		n       int
		want    []string
	}{
		{"n larger than file", "a\nb\nc\n", 10, []string{"a", "b", "c"}},
		{"n equal to file", "a\nb\nc\n", 3, []string{"a", "b", "c"}},
		{"n smaller than file", "a\nb\nc\n", 2, []string{"b", "c"}},
		{"one line", "a\nb\nc\n", 1, []string{"c"}},
		{"n zero", "a\nb\n", 0, nil},
		{"n negative", "a\nb\n", -1, nil},
		{"empty file", "", 5, nil},
		{"no trailing newline", "a\nb\nc", 2, []string{"b", "c"}},
		{"single line without newline", "abc", 5, []string{"abc"}},
		{"only a newline", "\n", 5, []string{""}},
		{"trailing empty line", "a\n\n", 5, []string{"a", ""}},
		{"leading empty lines", "\n\nx", 5, []string{"", "", "x"}},
		{"CRLF kept but for the newline", "a\r\nb\r\n", 5, []string{"a\r", "b\r"}},
		{"CRLF empty line", "a\r\n\r\n", 1, []string{"\r"}},
		{"lone CR is not a newline", "a\rb\n", 5, []string{"a\rb"}},
		{"invalid UTF-8 passed through", "\xff\xfe\n\xc3\nok\n", 5, []string{"\xff\xfe", "\xc3", "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tail(writeFile(t, tt.content), tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Tail(%q, %d) mismatch (-want +got):\n%s", tt.content, tt.n, diff)
			}
		})
	}
}

func TestTailMissingFile(t *testing.T) {
	got, err := Tail(filepath.Join(t.TempDir(), "nope", "current.out"), 10)
	if err != nil || got != nil {
		t.Errorf("Tail(missing) = %q, %v; want nil, nil", got, err)
	}
}

func TestTailDirectoryIsAnError(t *testing.T) {
	if _, err := Tail(t.TempDir(), 10); err == nil {
		t.Error("Tail(directory) succeeded; want an error")
	}
}

// blockContents returns files around the size of one read block, laid out so
// that newlines fall just before, on and after block boundaries, and lines are
// exactly one block long or one byte off.
func blockContents() map[string]string {
	c := map[string]string{}
	for _, size := range []int{blockSize - 1, blockSize, blockSize + 1, 2*blockSize - 1, 2 * blockSize, 2*blockSize + 1} {
		// One line filling the file, with and without its newline.
		c[fmt.Sprintf("one line, %d bytes", size)] = strings.Repeat("x", size-1) + "\n"
		c[fmt.Sprintf("one unterminated line, %d bytes", size)] = strings.Repeat("x", size)
		// Short lines, the last one cut to make the size exact.
		var b strings.Builder
		for i := 0; b.Len() < size; i++ {
			b.WriteString(fmt.Sprintf("line %06d\n", i))
		}
		short := b.String()[:size]
		c[fmt.Sprintf("short lines, %d bytes", size)] = short
		c[fmt.Sprintf("short lines, %d bytes, terminated", size)] = short[:size-1] + "\n"
		// A newline at each position near the first block boundary from the end.
		for _, back := range []int{blockSize - 1, blockSize, blockSize + 1} {
			if back >= size {
				continue
			}
			b := []byte(strings.Repeat("y", size-1) + "\n")
			b[size-1-back] = '\n'
			c[fmt.Sprintf("newline %d bytes before the end, %d bytes", back, size)] = string(b)
		}
	}
	for _, length := range []int{blockSize - 1, blockSize, blockSize + 1} {
		line := strings.Repeat("z", length)
		c[fmt.Sprintf("lines of %d bytes", length)] = "head\n" + line + "\n" + line + "\n" + line + "\n"
		c[fmt.Sprintf("lines of %d bytes, unterminated", length)] = line + "\n" + line + "\n" + line
	}
	return c
}

func TestTailBlockBoundaries(t *testing.T) {
	for name, content := range blockContents() {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, content)
			for _, n := range []int{1, 2, 3, 4, 5, 1 << 20} {
				got, err := Tail(path, n)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(naiveTail(content, n, maxLineLen), got); diff != "" {
					t.Errorf("Tail(n=%d) mismatch (-want +got):\n%s", n, diff)
				}
			}
		})
	}
}

func TestTailLongLines(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"exactly the limit", x(maxLineLen) + "\nend\n", []string{x(maxLineLen), "end"}},
		{"one byte over", x(maxLineLen+1) + "\nend\n", []string{x(maxLineLen) + "…", "end"}},
		{"many blocks long", "start\n" + x(20*blockSize+3) + "\nend\n", []string{"start", x(maxLineLen) + "…", "end"}},
		{"unterminated and long", "start\n" + x(maxLineLen+100), []string{"start", x(maxLineLen) + "…"}},
		{"rune straddling the cut", x(maxLineLen-1) + "éé\n", []string{x(maxLineLen-1) + "…"}},
		{"rune ending at the cut", x(maxLineLen-2) + "éé\n", []string{x(maxLineLen-2) + "é…"}},
		{"invalid bytes at the cut", x(maxLineLen-1) + "\xc3\xc3\xc3\n", []string{x(maxLineLen-1) + "\xc3…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tail(writeFile(t, tt.content), 10)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r     io.ReaderAt
	total atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.total.Add(int64(n))
	return n, err
}

func TestTailReadsOnlyTheEnd(t *testing.T) {
	var b bytes.Buffer
	for i := 0; b.Len() < 8<<20; i++ {
		fmt.Fprintf(&b, "%08d a log line of about a hundred bytes, padded out with some more words to get there\n", i)
	}
	r := &countingReaderAt{r: bytes.NewReader(b.Bytes())}
	lines, err := tail(r, int64(b.Len()), 20, blockSize, maxLineLen)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 20 {
		t.Fatalf("got %d lines, want 20", len(lines))
	}
	if got := r.total.Load(); got > blockSize {
		t.Errorf("read %d bytes of %d to tail 20 short lines; want at most one block (%d)", got, b.Len(), blockSize)
	}
}

func TestTailShrunkWhileReading(t *testing.T) {
	// The size says 100 bytes but only 10 are left: a truncation after Stat.
	_, err := tail(bytes.NewReader([]byte("a\nb\nc\nd\ne\n")), 100, 3, 16, maxLineLen)
	if !errors.Is(err, errShrunk) {
		t.Errorf("tail of a shrunk file: err = %v, want errShrunk", err)
	}
}

// TestTailSmallBlocks checks the backwards reading against naiveTail with block
// and line limits small enough to put every boundary in a few bytes.
func TestTailSmallBlocks(t *testing.T) {
	contents := []string{
		"", "\n", "\n\n", "a", "a\n", "ab\ncd\n", "ab\ncd", "\nab\n\ncd\n\n",
		"abcdefghij\nk\n", "k\nabcdefghij", "a\r\nb\r\n", "ééé\nxéx\néxé",
		"\xff\xe2\x82\n\xe2\x82\xac\xe2\x82\xac\n", strings.Repeat("0123456789\n", 7),
	}
	for _, content := range contents {
		for block := 1; block <= 12; block++ {
			for _, max := range []int{1, 2, 3, 4, 5, 8, 100} {
				for n := 0; n <= 9; n++ {
					got, err := tail(strings.NewReader(content), int64(len(content)), n, block, max)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(naiveTail(content, n, max), got); diff != "" {
						t.Errorf("tail(%q, n=%d, block=%d, max=%d) mismatch (-want +got):\n%s", content, n, block, max, diff)
					}
				}
			}
		}
	}
}

func FuzzTail(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), 2, 3, 4)
	f.Add([]byte("ééé\n\xff\xe2\x82\n"), 5, 1, 2)
	f.Add([]byte("\n\n\n"), 2, 2, 1)
	f.Fuzz(func(t *testing.T, content []byte, n, block, max int) {
		n = n % 16
		block = 1 + int(uint(block)%64)
		max = 1 + int(uint(max)%64)
		got, err := tail(bytes.NewReader(content), int64(len(content)), n, block, max)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(naiveTail(string(content), n, max), got); diff != "" {
			t.Errorf("tail(%q, n=%d, block=%d, max=%d) mismatch (-want +got):\n%s", content, n, block, max, diff)
		}
	})
}

func BenchmarkTail(b *testing.B) {
	path := filepath.Join(b.TempDir(), "current.out")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var size int
	for i := 0; size < 50<<20; i++ {
		n, _ := fmt.Fprintf(w, "2026-01-02T15:04:05.000Z INFO request %09d handled in 12ms status=200 path=/api/v1/items\n", i)
		size += n
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		lines, err := Tail(path, 20)
		if err != nil || len(lines) != 20 {
			b.Fatalf("Tail = %d lines, %v", len(lines), err)
		}
	}
}

// A tail up to a Following's start, then the follow, shows every line once
// even when lines are written in between.
func TestTailToThenFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.out")
	os.WriteFile(path, []byte("a\nb\n"), 0o644)
	f, err := (Follower{PollInterval: time.Millisecond}).Open([]Source{{Stream: "out", Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	appendTo := func(s string) {
		w, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		w.WriteString(s)
		w.Close()
	}
	appendTo("c\n") // after the start was taken, before the tail
	got, err := TailTo(path, 10, f.Start(0))
	if err != nil || strings.Join(got, ",") != "a,b" {
		t.Fatalf("TailTo = %q, %v; want a,b", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var seen []string
	done := make(chan error, 1)
	go func() {
		done <- f.Run(ctx, func(l Line) error {
			seen = append(seen, l.Text)
			if len(seen) == 2 {
				cancel()
			}
			return nil
		})
	}()
	appendTo("d\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "c,d" {
		t.Errorf("followed %q, want c,d", seen)
	}
}

// BenchmarkTail1GB tails 50 lines of a 1 GiB file, with newlines and
// without any (one endless line): the cost must not depend on the size.
// The files are sparse where the file system allows, so they cost no disk.
func BenchmarkTail1GB(b *testing.B) {
	for _, tc := range []struct {
		name string
		tail string
	}{
		{"lines", strings.Repeat("a log line of about fifty bytes, give or take\n", 1000)},
		{"no newline", ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "current.out")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			// A hole of zero bytes (no newline in it), then the tail.
			if err := f.Truncate(1<<30 - int64(len(tc.tail))); err != nil {
				b.Fatal(err)
			}
			if _, err := f.WriteAt([]byte(tc.tail), 1<<30-int64(len(tc.tail))); err != nil {
				b.Fatal(err)
			}
			f.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := TailStream(path, "", 50, -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A line longer than maxScan is not read back to its start.
func TestTailEndlessLine(t *testing.T) {
	path := writeFile(t, "first\n"+strings.Repeat("x", 2*maxScan))
	r := &countingReaderAt{r: strings.NewReader("first\n" + strings.Repeat("x", 2*maxScan))}
	lines, _, err := tailOffsets(r, int64(6+2*maxScan), 50, blockSize, maxLineLen)
	if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], truncMarker+"xxx") {
		t.Fatalf("got %d lines, %v; want one, cut at both ends", len(lines), err)
	}
	if got := r.total.Load(); got > maxScan+blockSize {
		t.Errorf("read %d bytes; want at most %d", got, maxScan+blockSize)
	}
	if got, _ := Tail(path, 50); len(got) != 1 {
		t.Errorf("Tail = %d lines, want 1", len(got))
	}
}
