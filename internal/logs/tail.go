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
)

// constError lets sentinel errors be constants: the package keeps no mutable
// state, not even error variables.
type constError string

func (e constError) Error() string { return string(e) }

// errShrunk reports a file that got shorter while it was being read backwards,
// which copy-truncate rotation can do at any moment.
const errShrunk constError = "file shrank while being read"

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
// returned unchanged.
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
	if n <= 0 || size <= 0 {
		return nil, nil
	}
	keep := max + utf8.UTFMax
	buf := make([]byte, min(int64(block), size))
	var lines []string // newest first
	var cur []byte     // start of the line whose end has been read, at most keep bytes
	trailing := true
	for pos := size; pos > 0; {
		k := min(int64(len(buf)), pos)
		pos -= k
		b := buf[:k]
		if _, err := r.ReadAt(b, pos); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errShrunk
			}
			return nil, err
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
				break
			}
			var line string
			if len(cur) == 0 {
				line = lineString(b[i+1:], max)
			} else {
				line = lineString(prependCapped(b[i+1:], cur, keep), max)
				cur = nil
			}
			lines = append(lines, line)
			if len(lines) == n {
				slices.Reverse(lines)
				return lines, nil
			}
			b = b[:i]
		}
	}
	// What is left reaches back to the start of the file: the first line.
	lines = append(lines, lineString(cur, max))
	slices.Reverse(lines)
	return lines, nil
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
