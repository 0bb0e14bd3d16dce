package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/tetra/tsm/internal/paths"
)

// StopBatch is one record of the stop journal: the runs one command
// stopped (or killed), written and synced before the first of them is
// signalled. Their settled records are then written without fsync: after
// a power loss, a run the journal names whose meta.json does not say it
// ended is stopped at recovery (see the supervisor's Adopt). One fsync
// for a batch replaces two per process (the record and its directory).
type StopBatch struct {
	At      int64     `json:"at"`       // when the batch began, Unix ms
	Pending string    `json:"pending"`  // "stop" or "kill"
	GraceMS int64     `json:"grace_ms"` // the grace period asked; -1: each process's own kill timeout
	Runs    []StopRun `json:"runs"`
}

// StopRun names one run of a batch: the process and which of its runs
// (RunBase and Run, as in meta.json), so that a later run of the same name,
// or a new entry that took the name, is never taken for it.
type StopRun struct {
	Name    string `json:"name"`
	RunBase string `json:"run_base"`
	Run     int    `json:"run"`
}

// Journal appends to the stop journal; safe for concurrent use. The zero
// value is not usable: see Store.Journal.
type Journal struct {
	path string

	mu      sync.Mutex // guards the fields below
	f       *os.File   // open for appending; nil until first needed
	batches int        // records appended since the journal was last cleared
	torn    bool       // the last write failed, maybe halfway through a line
	named   bool       // the directory entry of the file is synced
}

// Journal returns the state directory's stop journal.
func (s *Store) Journal() *Journal { return &Journal{path: paths.Stops(s.Root)} }

// Append writes b as one line and syncs it: once it returns, a power loss
// leaves the record. The daemon's first append also syncs the directory
// (the file may be new).
func (j *Journal) Append(b StopBatch) error {
	line, err := json.Marshal(b)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.openLocked(); err != nil {
		return err
	}
	if j.torn {
		// A failed write may have left part of a line: end it, so that
		// this record is a line of its own.
		line = append([]byte{'\n'}, line...)
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		j.torn = true
		return fmt.Errorf("write the stop journal: %w", err)
	}
	j.torn = false
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync the stop journal: %w", err)
	}
	if !j.named {
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			return fmt.Errorf("sync the stop journal's directory: %w", err)
		}
		j.named = true
	}
	j.batches++
	return nil
}

// Records returns how many records the journal holds (as appended since
// it was last cleared, or read at start-up), for Clear.
func (j *Journal) Records() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.batches
}

// Clear empties the journal if it still holds exactly n records (nothing
// was appended since the caller made their runs' records durable), and
// reports whether it did. The cut need not be durable: a record that
// comes back names runs whose meta.json says they ended, and is ignored.
func (j *Journal) Clear(n int) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.batches != n {
		return false, nil
	}
	if err := j.openLocked(); err != nil {
		return false, err
	}
	if err := j.f.Truncate(0); err != nil {
		return false, fmt.Errorf("clear the stop journal: %w", err)
	}
	j.batches, j.torn = 0, false
	return true, nil
}

// openLocked opens the journal for appending once (and reading its last
// byte). It is not followed if a link, and never blocks if a FIFO: it must
// be a regular file, like every record tsm reads.
func (j *Journal) openLocked() error {
	if j.f != nil {
		return nil
	}
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, fileMode)
	if err != nil {
		return fmt.Errorf("open the stop journal: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("the stop journal %s is not a regular file; remove it", j.path)
	}
	// An earlier daemon's append cut short (a full disk, a power loss)
	// may have left part of a line: the next record must not be glued
	// onto it, or it would be unreadable.
	last := []byte{'\n'}
	if fi.Size() > 0 {
		if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
			f.Close()
			return fmt.Errorf("read the end of the stop journal: %w", err)
		}
	}
	j.torn = last[0] != '\n'
	j.f = f
	return nil
}

// Read returns the records in the journal, oldest first, and counts them
// as appended (for Clear). A line that does not parse (the tail of an
// append a power loss cut short: its command was never answered) is
// skipped.
func (j *Journal) Read() ([]StopBatch, error) {
	b, err := readRecord(j.path, maxJournal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the stop journal: %w", err)
	}
	var out []StopBatch
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for sc.Scan() {
		var sb StopBatch
		if json.Unmarshal(sc.Bytes(), &sb) == nil {
			out = append(out, sb)
		}
	}
	j.mu.Lock()
	j.batches = len(out)
	j.mu.Unlock()
	return out, nil
}

// maxJournal bounds what Read takes in: far above what the records of
// unretired batches reach (a few hundred bytes per stopped process).
const maxJournal = 64 << 20

// SyncMeta makes the record now in name's meta.json durable, with the
// directory entry that names it: what WriteMeta does at once, done later
// for a record written by WriteIntent. A process directory that is gone
// (deleted since) is not an error: the processes directory is synced
// instead, so that the delete is durable before the journal that stands
// for the record is emptied (else a power loss could bring back the
// directory with its record from before the stop, on a filesystem that
// does not keep metadata changes in order).
func (s *Store) SyncMeta(name string) error {
	f, err := os.OpenFile(s.MetaPath(name), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err := syncDir(s.ProcessesDir()); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return syncDir(s.Dir(name))
}
