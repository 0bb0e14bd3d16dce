package logs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// With --log-time a process writes into a named pipe beside its log file
// (PipePath), and the daemon copies what comes out of it into the log file
// with each line's arrival time in front (Stamp). The process holds its end
// open for reading and writing, so the pipe never loses its last reader: when
// no daemon runs, what the process writes waits in the pipe (64 KiB on Linux)
// for the next daemon, and a process that writes more than that meanwhile
// waits too. What a dying daemon had read but not yet written (one read, at
// most 64 KiB, normally a few lines) is lost.

// StampLayout is the arrival time put before each line (local time, ms).
const StampLayout = "2006-01-02T15:04:05.000"

// PipePath is the named pipe a --log-time process writes the stream whose
// log file is live into.
func PipePath(live string) string { return live + ".pipe" }

// MakePipe creates the named pipe of the log file live (mode 0600) unless
// it exists; anything else at its path is an error.
func MakePipe(live string) error {
	path := PipePath(live)
	fi, err := os.Lstat(path)
	if err == nil {
		if fi.Mode()&fs.ModeNamedPipe == 0 {
			return fmt.Errorf("%s is not a named pipe; remove it", path)
		}
		return nil
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// Stamp copies what arrives in the named pipe of the log file live into live,
// each line preceded by its arrival time and a space, until ctx is done
// (then it returns nil). It serves every run of the process: it holds the pipe
// open for writing too, so it never sees an end between two runs. A line that
// arrives in pieces gets the time of its first piece, and its pieces are
// written as they come, so nothing waits in memory for its newline.
func Stamp(ctx context.Context, live string) error {
	// Non-blocking, so that Go's poller serves the reads and a deadline
	// ends them.
	in, err := os.OpenFile(PipePath(live), os.O_RDWR|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(live, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	defer out.Close()
	stop := context.AfterFunc(ctx, func() { in.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, followChunk)
	var b []byte
	lineStart := true
	for {
		n, err := in.Read(buf)
		if n > 0 {
			stamp := time.Now().Format(StampLayout) + " "
			b = b[:0]
			for _, c := range buf[:n] {
				if lineStart {
					b = append(b, stamp...)
				}
				b = append(b, c)
				lineStart = c == '\n'
			}
			if _, werr := out.Write(b); werr != nil {
				return fmt.Errorf("stamp: %w", werr)
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("stamp: %w", err)
		}
	}
}
