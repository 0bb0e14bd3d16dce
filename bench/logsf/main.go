// Command logsf measures `tsm logs -f` (or any follower) against a fast
// writer. It has two halves, joined by the log file under test:
//
//	logsf write -lines N -len L -go FILE -t0 FILE   # the managed process
//	FOLLOWER | logsf count -lines N -t0 FILE         # checks what came out
//
// write waits until the file named by -go exists (so the follower is in
// place first), notes the time in -t0 (Unix ns), then writes N numbered
// lines of L bytes ("#000000042 xxx…\n") to stdout in -batch byte writes, as
// fast as it can, and notes when it finished in -t0.done.
//
// count reads lines on stdin, finds the number after the first '#' of each
// (so name prefixes, timestamps and headers do not matter; lines without one
// are ignored), and once it has seen every number, or saw nothing for
// -idle, prints one JSON object: lines seen, lost, duplicated, out of order,
// bytes, and the milliseconds from the writer's start (-t0) to the last line
// and from the writer's end to the last line, and the MB/s over the former.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/tetra/tsm/bench/internal/stamp"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: logsf write|count [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	lines := fs.Int("lines", 1000000, "lines written / expected")
	length := fs.Int("len", 40, "bytes a line, newline included (12 or more)")
	batch := fs.Int("batch", 64<<10, "bytes a write(2) (write)")
	goFile := fs.String("go", "", "write: wait for this file to exist before writing")
	t0 := fs.String("t0", "", "file the writer notes its start time in (Unix ns); its end goes to FILE.done")
	idle := fs.Duration("idle", 5*time.Second, "count: give up after this long without a line")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "write":
		write(*lines, *length, *batch, *goFile, *t0)
	case "count":
		count(*lines, *t0, *idle)
	default:
		fmt.Fprintln(os.Stderr, "usage: logsf write|count [flags]")
		os.Exit(2)
	}
}

func write(n, length, batch int, goFile, t0 string) {
	length = max(length, 12)
	for goFile != "" {
		if _, err := os.Stat(goFile); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	pad := strings.Repeat("x", length-12)
	buf := make([]byte, 0, batch+length)
	stamp.Write(t0)
	for i := range n {
		buf = append(buf, '#')
		buf = fmt.Appendf(buf, "%09d ", i)
		buf = append(buf, pad...)
		buf = append(buf, '\n')
		if len(buf) >= batch {
			if _, err := os.Stdout.Write(buf); err != nil {
				os.Exit(1)
			}
			buf = buf[:0]
		}
	}
	os.Stdout.Write(buf)
	if t0 != "" {
		stamp.Write(t0 + ".done")
	}
	// Stay alive, as a service does: the manager must not see an exit.
	for {
		time.Sleep(time.Hour)
	}
}

type result struct {
	Lines, Lost, Dup, Disorder int
	Bytes                      int64
	FromStartMs, FromEndMs     float64
	MBps                       float64
	WriterMBps                 float64
}

func count(n int, t0 string, idle time.Duration) {
	seen := make([]bool, n)
	var r result
	distinct, last := 0, -1
	var lastAt time.Time
	// One goroutine, one buffer: the counter must be much faster than
	// what it measures. Stdin non-blocking, so a read can time out; its
	// pipe as large as allowed, so the follower seldom waits for room.
	syscall.SetNonblock(0, true)
	in := os.NewFile(0, "stdin")
	growPipe(0)
	buf := make([]byte, 1<<20)
	keep := 0 // bytes of an unterminated line at the start of buf
	for distinct < n {
		in.SetReadDeadline(time.Now().Add(idle))
		k, err := in.Read(buf[keep:])
		if err != nil {
			break // the follower ended, or nothing came for idle
		}
		r.Bytes += int64(k)
		lastAt = time.Now()
		b := buf[:keep+k]
		for len(b) > 0 {
			e := bytes.IndexByte(b, '\n')
			if e < 0 {
				break
			}
			line := b[:e]
			b = b[e+1:]
			i := bytes.IndexByte(line, '#')
			if i < 0 || len(line) < i+10 {
				continue
			}
			v := 0
			for _, c := range line[i+1 : i+10] {
				v = v*10 + int(c-'0')
			}
			if v < 0 || v >= n {
				continue
			}
			r.Lines++
			if seen[v] {
				r.Dup++
				continue
			}
			seen[v] = true
			distinct++
			if v < last {
				r.Disorder++
			}
			last = v
		}
		keep = copy(buf, b)
		if keep == len(buf) {
			keep = 0 // a line longer than buf: not one of ours
		}
	}
	r.Lost = n - distinct
	start, end := stamp.Read(t0), time.Time{}
	if t0 != "" {
		// A follower that keeps up shows the last line first.
		end = stamp.Await(t0+".done", 2*time.Second)
	}
	if !start.IsZero() && !lastAt.IsZero() {
		r.FromStartMs = float64(lastAt.Sub(start).Microseconds()) / 1000
		r.MBps = float64(r.Bytes) / 1e6 / lastAt.Sub(start).Seconds()
		if !end.IsZero() {
			r.FromEndMs = float64(lastAt.Sub(end).Microseconds()) / 1000
			r.WriterMBps = float64(r.Bytes) / 1e6 / end.Sub(start).Seconds()
		}
	}
	json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}
