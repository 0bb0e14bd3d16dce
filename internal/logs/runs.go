package logs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// RunMark records where a run of a process began in its log streams, so
// `tsm logs` can show run boundaries without anything written into the
// program's own output.
type RunMark struct {
	Run     int   `json:"run"`
	Started int64 `json:"started"` // unix ms
	// Out and Err are the absolute stream offsets (see Base) at which the
	// run's output begins.
	Out int64 `json:"out"`
	Err int64 `json:"err"`
	// PrevExit and PrevSignal say how the previous run ended, when known.
	PrevExit   *int   `json:"prev_exit,omitempty"`
	PrevSignal string `json:"prev_signal,omitempty"`
}

// runsKeep bounds the runs file: a crash loop must not grow it without end.
const runsKeep = 200

// runsPath is the file of run marks of the process whose stdout log is out.
func runsPath(out string) string { return filepath.Join(filepath.Dir(out), "runs.jsonl") }

// MarkRun appends m to the run marks of the process whose stdout log is out:
// one append, no fsync (a mark lost in a crash only hides a boundary). Take
// m.Out and m.Err with End before the run starts, and call MarkRun after.
func MarkRun(out string, m RunMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	path := runsPath(out)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("mark run: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	fi, serr := f.Stat()
	f.Close()
	if werr != nil {
		return fmt.Errorf("mark run: %w", werr)
	}
	if serr == nil && fi.Size() > runsKeep*200 {
		if runs, err := ReadRuns(out); err == nil && len(runs) > runsKeep/2 {
			var buf []byte
			for _, r := range runs[len(runs)-runsKeep/2:] {
				line, _ := json.Marshal(r)
				buf = append(append(buf, line...), '\n')
			}
			return writeAtomic(path, buf)
		}
	}
	return nil
}

// End is the absolute offset (see Base) of the end of the stream whose live
// file is path.
func End(path string) int64 {
	var size int64
	if fi, err := os.Lstat(path); err == nil {
		size = fi.Size()
	}
	return Base(path) + size
}

// ReadRuns returns the run marks of the process whose stdout log is out,
// oldest first; lines that do not parse are skipped.
func ReadRuns(out string) ([]RunMark, error) {
	f, err := os.Open(runsPath(out))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var runs []RunMark
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r RunMark
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Run > 0 {
			runs = append(runs, r)
		}
	}
	return runs, sc.Err()
}

// String is the marker line shown between two runs' output:
// "── run 4 · started 10:42:01 · previous exit 1 ──".
func (r RunMark) String() string {
	s := fmt.Sprintf("── run %d · started %s", r.Run, time.UnixMilli(r.Started).Format("2006-01-02 15:04:05"))
	switch {
	case r.PrevSignal != "":
		s += " · previous killed by " + r.PrevSignal
	case r.PrevExit != nil:
		s += fmt.Sprintf(" · previous exit %d", *r.PrevExit)
	}
	return s + " ──"
}
