package logs

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The time of a line is known without the daemon in the output's path: the
// daemon notes, about once a second while a stream grows, where the stream
// ended then (a checkpoint, in path.times). A line was written before the
// first checkpoint past its offset, and after the one before it, so its time
// is known to within about a second, and lines written while no daemon ran
// get the time a daemon next saw them.

// Checkpoint says that the stream ended at absolute offset End at time At.
type Checkpoint struct {
	End int64
	At  time.Time
}

func timesPath(path string) string { return path + ".times" }

// timesMax is the size above which a rotation drops the checkpoints of
// bytes no file holds any more, and Note thins out the older half.
const timesMax = 256 << 10

// Note appends a checkpoint for the stream whose live file is path. Past
// timesMax it drops every other checkpoint of the older half, so that a
// stream that grows a little every second for months keeps a file of at
// most about timesMax (a checkpoint line is some 25 bytes: about three
// hours of them), precise to a second for recent lines and coarser for old
// ones.
func Note(path string, end int64, at time.Time) error {
	f, err := os.OpenFile(timesPath(path), os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d %d\n", end, at.UnixMilli())
	fi, serr := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || serr != nil || fi.Size() <= timesMax {
		return err
	}
	cps := Checkpoints(path)
	var b []byte
	for i, c := range cps {
		if i >= len(cps)/2 || i%2 == 1 {
			b = fmt.Appendf(b, "%d %d\n", c.End, c.At.UnixMilli())
		}
	}
	return writeAtomic(timesPath(path), b)
}

// Checkpoints returns the checkpoints of the stream whose live file is path,
// by offset; a missing file has none.
func Checkpoints(path string) []Checkpoint {
	f, err := os.Open(timesPath(path))
	if err != nil {
		return nil
	}
	defer f.Close()
	var cps []Checkpoint
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a, b, ok := strings.Cut(sc.Text(), " ")
		end, err1 := strconv.ParseInt(a, 10, 64)
		ms, err2 := strconv.ParseInt(b, 10, 64)
		if ok && err1 == nil && err2 == nil {
			cps = append(cps, Checkpoint{end, time.UnixMilli(ms)})
		}
	}
	slices.SortStableFunc(cps, func(x, y Checkpoint) int { return int(x.End - y.End) })
	return cps
}

// TimeAt returns when the byte at absolute offset off was written, as
// closely as the checkpoints know (the first one past it); ok is false for a
// byte no checkpoint has seen yet (written in the last second or so).
func TimeAt(cps []Checkpoint, off int64) (t time.Time, ok bool) {
	i, _ := slices.BinarySearchFunc(cps, off+1, func(c Checkpoint, o int64) int {
		switch {
		case c.End < o:
			return -1
		case c.End > o:
			return 1
		}
		return 0
	})
	if i == len(cps) {
		return time.Time{}, false
	}
	return cps[i].At, true
}

// trimTimes drops the checkpoints of bytes that are before start, once the
// file is larger than timesMax.
func trimTimes(path string, start int64) error {
	fi, err := os.Lstat(timesPath(path))
	if err != nil || fi.Size() <= timesMax {
		return nil
	}
	var b []byte
	for _, c := range Checkpoints(path) {
		if c.End >= start {
			b = fmt.Appendf(b, "%d %d\n", c.End, c.At.UnixMilli())
		}
	}
	return writeAtomic(timesPath(path), b)
}
