// Package logs owns the log files of managed processes and the files beside
// them: reading them (Tail, TailStream across rotated files, Follow), the
// tail(1)-style labelled output of mixed streams (HeaderWriter), bounding them
// while their writer runs (Rotate, Flush, TrimTotal, the [logs] table of
// config.toml), and what makes their bytes addressable and datable without
// writing into them (Base offsets, run marks, time checkpoints), and the
// opt-in relay that does write arrival times into them (Stamp). Processes
// write their logs themselves, straight into the files, so everything here
// must cope with whatever state a writer leaves them in: huge files,
// unterminated lines, truncation, rotation by others. It imports no other tsm
// package.
package logs

import (
	"time"
	"unicode/utf8"
)

const (
	// blockSize is how much Tail reads per step backwards from the end of a
	// file. Small enough that tailing a few lines costs one or two reads, large
	// enough that a long line does not cost many system calls.
	blockSize = 16 << 10

	// maxLineLen bounds the memory one line can take. A process that writes
	// gigabytes without a newline must not take the CLI or the daemon down
	// with it.
	maxLineLen = 64 << 10

	// truncMarker replaces whatever is cut off a line longer than maxLineLen,
	// so a reader can tell a cut line from one that really ends there.
	truncMarker = "…"

	// lineKeep is how many bytes of a line are held while it is assembled. The
	// bytes past maxLineLen let lineString see a whole rune straddling the cut.
	lineKeep = maxLineLen + utf8.UTFMax
)

// Source is one log file to follow. Stream names it in the emitted lines: "out"
// or "err".
type Source struct {
	Stream string
	Path   string
	// Live is the log file's own path when Path is another way to it
	// (/proc/PID/fd/1 for a file removed while its process runs): its Base
	// and rotated files are found by Live. "" means Path.
	Live string
}

// live is the path the Base and rotated files of s are found by.
func (s Source) live() string {
	if s.Live != "" {
		return s.Live
	}
	return s.Path
}

// Line is one line of a Source, without its newline.
type Line struct {
	Stream string
	Text   string
	// Source is the index of the line's Source among those followed.
	Source int
	// Off is the absolute stream offset (see Base) where the line starts.
	Off int64
	// Seen is when Follow read the end of the line (one clock reading for
	// all the lines of one read); zero where nothing followed it.
	Seen time.Time
}

// lineString converts the held start of a line (at most max+utf8.UTFMax bytes
// of it) to its text, cutting lines longer than max. The cut moves back to the
// start of a rune it would split, so a valid UTF-8 line stays valid; bytes that
// are not valid UTF-8 are passed through as they are.
func lineString(b []byte, max int) string {
	if len(b) <= max {
		return string(b)
	}
	cut := max
	for s := cut - 1; s >= 0 && s > cut-utf8.UTFMax; s-- {
		if utf8.RuneStart(b[s]) {
			if _, size := utf8.DecodeRune(b[s:]); s+size > cut {
				cut = s
			}
			break
		}
	}
	return string(b[:cut]) + truncMarker
}

// appendCapped appends as much of data to b as fits in keep bytes. The rest of
// an overlong line is dropped: only its start is ever shown.
func appendCapped(b, data []byte, keep int) []byte {
	room := keep - len(b)
	if room <= 0 {
		return b
	}
	return append(b, data[:min(room, len(data))]...)
}
