package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// constError lets sentinel errors be constants: the package keeps no mutable
// state, not even error variables.
type constError string

func (e constError) Error() string { return string(e) }

// errShrunk reports a file that got shorter while it was being read backwards,
// which copy-truncate rotation can do at any moment.
const errShrunk constError = "file shrank while being read"

// maxScan bounds how far back Tail reads to find the start of one line, so
// that a file of a gigabyte without a newline is answered as fast as any.
const maxScan = 1 << 20

// tailAttempts bounds how often Tail starts over after a concurrent truncation;
// a file truncated on every attempt is reported rather than retried forever.
const tailAttempts = 3

// Tail returns the last n lines of the file at path, oldest first, without
// their newlines. A final line without a trailing newline counts as a line;
// a "\r" before a newline is kept. A missing file has no lines: (nil, nil).
// n <= 0 returns nil.
//
// The file is read backwards in blocks from its end, so the cost depends on the
// length of the last n lines, not of the file. Lines longer than 64 KiB are cut
// to their first 64 KiB followed by "…"; bytes that are not valid UTF-8 are
// returned unchanged. A line longer than 1 MiB is not read back to its start:
// it is returned as 64 KiB from inside it between two "…", as the oldest line,
// so a file of a gigabyte without a newline costs what a short one does.
func Tail(path string, n int) ([]string, error) {
	return TailTo(path, n, -1)
}

// TailTo is Tail of the first limit bytes of the file (all of it when limit
// is negative): the part a Following has not taken over, so that a tail
// followed by a follow neither loses nor repeats a line.
func TailTo(path string, n int, limit int64) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logs: tail: %w", err)
	}
	defer f.Close()
	for range tailAttempts {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("logs: tail: %w", err)
		}
		size := fi.Size()
		if limit >= 0 && limit < size {
			size = limit
		}
		lines, err := tail(f, size, n, blockSize, maxLineLen)
		if errors.Is(err, errShrunk) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("logs: tail %s: %w", path, err)
		}
		return lines, nil
	}
	return nil, fmt.Errorf("logs: tail %s: %w", path, errShrunk)
}

// tail returns the last n lines of the first size bytes of r, reading block
// bytes at a time from the end and cutting lines longer than max. Block and
// max are parameters so tests can exercise every boundary with tiny values.
func tail(r io.ReaderAt, size int64, n, block, max int) ([]string, error) {
	lines, _, err := tailOffsets(r, size, n, block, max)
	return lines, err
}

// tailOffsets is tail that also returns where each line starts in r.
func tailOffsets(r io.ReaderAt, size int64, n, block, max int) ([]string, []int64, error) {
	if n <= 0 || size <= 0 {
		return nil, nil, nil
	}
	keep := max + utf8.UTFMax
	buf := make([]byte, min(int64(block), size))
	var lines []string // newest first
	var offs []int64   // where each of lines starts
	var curLen int64   // bytes of the line whose end has been read, so far
	var cur []byte     // start of the line whose end has been read, at most keep bytes
	trailing := true
	for pos := size; pos > 0; {
		k := min(int64(len(buf)), pos)
		pos -= k
		b := buf[:k]
		if _, err := r.ReadAt(b, pos); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, errShrunk
			}
			return nil, nil, err
		}
		if trailing {
			// The file's final newline ends its last line; it does not start
			// an empty one.
			b = bytes.TrimSuffix(b, []byte("\n"))
			trailing = false
		}
		for {
			i := bytes.LastIndexByte(b, '\n')
			if i < 0 {
				cur = prependCapped(b, cur, keep)
				if curLen += int64(len(b)); curLen > maxScan {
					// A line this long is not read back to its start:
					// what is shown of it starts somewhere inside it,
					// and it is the oldest line returned.
					lines = append(lines, truncMarker+lineString(cur, max))
					offs = append(offs, pos)
					slices.Reverse(lines)
					slices.Reverse(offs)
					return lines, offs, nil
				}
				break
			}
			curLen = 0
			var line string
			if len(cur) == 0 {
				line = lineString(b[i+1:], max)
			} else {
				line = lineString(prependCapped(b[i+1:], cur, keep), max)
				cur = nil
			}
			lines = append(lines, line)
			offs = append(offs, pos+int64(i)+1)
			if len(lines) == n {
				slices.Reverse(lines)
				slices.Reverse(offs)
				return lines, offs, nil
			}
			b = b[:i]
		}
	}
	// What is left reaches back to the start of the file: the first line.
	lines = append(lines, lineString(cur, max))
	offs = append(offs, 0)
	slices.Reverse(lines)
	slices.Reverse(offs)
	return lines, offs, nil
}

// prependCapped returns the first keep bytes of seg followed by cur, in a new
// slice: cur must not alias the read buffer that seg lives in.
func prependCapped(seg, cur []byte, keep int) []byte {
	if len(seg) == 0 {
		return cur
	}
	if len(seg) >= keep {
		return slices.Clone(seg[:keep])
	}
	out := make([]byte, 0, min(len(seg)+len(cur), keep))
	out = append(out, seg...)
	return appendCapped(out, cur, keep)
}

// StreamLine is a line of a log stream and where it starts: its absolute
// offset in everything the process wrote to the stream since its log file
// was created, rotated and flushed bytes included (see Base).
type StreamLine struct {
	Text string
	Off  int64
}

// TailStream returns the last n lines of the stream whose live file is path,
// reading on into its rotated files (newest first) when the live file holds
// fewer; limit, when not negative, is an absolute offset where the stream is
// cut (a Following's start). A line that began in a rotated file and ended in
// the next one is whole. It holds a shared flock on the live file, so a
// rotation waits until it is done. Its cost depends on the length of the
// lines returned, not of the files. When via is not "", the live file is
// read through via (see RemovedLog).
func TailStream(path, via string, n int, limit int64) ([]StreamLine, error) {
	if n <= 0 {
		return nil, nil
	}
	open := path
	if via != "" {
		open = via
	}
	live, err := lockLive(open, os.O_RDONLY, unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("logs: tail: %w", err)
	}
	var segs multiReader
	rotated := RotatedFiles(path)
	for i := len(rotated) - 1; i >= 0; i-- {
		f, err := os.Open(rotated[i])
		if err != nil {
			continue // deleted by a trim meanwhile: the stream starts later
		}
		defer f.Close()
		if err := segs.add(f); err != nil {
			return nil, fmt.Errorf("logs: tail: %w", err)
		}
	}
	// The live file's first byte is at base; the rotated files end there.
	start := Base(path) - segs.size
	if live != nil {
		defer live.Close()
		if err := segs.add(live); err != nil {
			return nil, fmt.Errorf("logs: tail: %w", err)
		}
	}
	size := segs.size
	if limit >= 0 && limit-start < size {
		size = max(limit-start, 0)
	}
	lines, offs, err := tailOffsets(&segs, size, n, blockSize, maxLineLen)
	if err != nil {
		return nil, fmt.Errorf("logs: tail %s: %w", path, err)
	}
	out := make([]StreamLine, len(lines))
	for i := range lines {
		out[i] = StreamLine{Text: lines[i], Off: start + offs[i]}
	}
	return out, nil
}

// multiReader reads files one after the other as one: the rotated files of a
// stream followed by its live file, each as large as when it was added.
type multiReader struct {
	files []*os.File
	ends  []int64 // ends[i]: offset just past files[i]
	size  int64
}

func (m *multiReader) add(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	m.files = append(m.files, f)
	m.size += fi.Size()
	m.ends = append(m.ends, m.size)
	return nil
}

func (m *multiReader) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		i, _ := slices.BinarySearch(m.ends, off+1)
		if i >= len(m.files) {
			return done, io.EOF
		}
		begin := int64(0)
		if i > 0 {
			begin = m.ends[i-1]
		}
		want := min(int64(len(p)-done), m.ends[i]-off)
		k, err := m.files[i].ReadAt(p[done:done+int(want)], off-begin)
		done += k
		off += int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
