// Package events owns the lifecycle event log, $TSM_DIR/events.jsonl: one
// JSON object per line for every start, readiness, exit, restart, backoff,
// crash loop, adoption and stop. The daemon appends; the CLI reads and
// follows the file directly. It imports no other tsm package.
package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Types of events.
const (
	Start   = "start"   // spawned by tsm start
	Ready   = "ready"   // the port accepts connections, or the settle window passed
	Exit    = "exit"    // a run ended (code or signal when known)
	Restart = "restart" // spawned again, by tsm restart or automatically
	Backoff = "backoff" // an automatic restart is scheduled
	Errored = "errored" // too many unstable restarts in a row: no more spawning
	Adopt   = "adopt"   // a new daemon took over a live process
	Lost    = "lost"    // a process died while no daemon watched it
	Stop    = "stop"    // stopped (or killed) on request
	Delete  = "delete"  // removed on request
	Cleanup = "cleanup" // what a run's main process left behind when it exited was ended
	Daemon  = "daemon"  // the daemon started or stopped
	// Unhealthy: a health check failed (and, after the process's retries,
	// the restart it caused, with the reason); Healthy: it passes again.
	Unhealthy = "unhealthy"
	Healthy   = "healthy"
	// Limit: a limit restarts the process (--max-memory exceeded, a
	// --cron-restart due), with the reason.
	Limit = "limit"
	// Watch: watched files changed, and the process is restarted.
	Watch = "watch"
)

// Event is one line of events.jsonl.
type Event struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"event"`
	Name     string    `json:"name,omitempty"`
	ID       *int      `json:"id,omitempty"`
	PID      int       `json:"pid,omitempty"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Signal   string    `json:"signal,omitempty"`
	Restarts int       `json:"restarts,omitempty"`
	DelayMS  int64     `json:"delay_ms,omitempty"`
	Message  string    `json:"message,omitempty"`
}

// MaxSize is the size at which the log is rotated to events.jsonl.1, so it
// never grows without bound.
const MaxSize = 10 << 20

// MaxLine bounds one line of the log, newline included: Append trims an
// event's message to fit (saying so), so that every reader, `tsm events -f`
// among them, takes every line whole. A start of a 1 MB command line would
// otherwise write a 1 MB line.
const MaxLine = 16 << 10

// Log appends events to a file. It is safe for concurrent use.
type Log struct {
	path string
	mu   sync.Mutex // guards f and serialises rotation
	f    *os.File
}

// Open opens (creating) the event log at path for appending. The log is
// private to the user (0600), and a symbolic link at path is refused, never
// followed: appending through one would write wherever it points.
func Open(path string) (*Log, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	return &Log{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link, which tsm does not follow; remove it", path)
	}
	if err != nil {
		return nil, err
	}
	// An older tsm made it 0644.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// encode renders e as one line of at most MaxLine bytes.
func encode(e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	msg, note := e.Message, fmt.Sprintf("… (trimmed from %d bytes)", len(e.Message))
	// JSON escaping can grow a message sixfold: trim by what the encoded
	// line must lose, and again if that was not enough.
	for err == nil && len(b) >= MaxLine && msg != "" {
		cut := max(len(msg)-(len(b)-MaxLine)-len(note), 0)
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
		e.Message = msg + note
		b, err = json.Marshal(e)
	}
	return append(b, '\n'), err
}

// Append writes e with one write(2), so concurrent readers never see half a
// line. A nil Log discards events. Errors are returned for the caller to
// log; losing an event never stops supervision.
func (l *Log) Append(e Event) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b, err := encode(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if fi, err := l.f.Stat(); err == nil && fi.Size()+int64(len(b)) > MaxSize {
		l.rotate()
	}
	_, err = l.f.Write(b)
	return err
}

// rotate keeps one previous generation. Called with l.mu held.
func (l *Log) rotate() {
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return
	}
	f, err := openAppend(l.path)
	if err != nil {
		return
	}
	l.f.Close()
	l.f = f
}

// Close closes the file.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Read returns the last n events (all when n <= 0) for which keep is true
// (all when keep is nil), oldest first. Lines that do not parse are skipped:
// a torn or foreign line must not hide the rest, however long it is (one
// longer than maxRead is skipped without being held in memory).
func Read(path string, n int, keep func(Event) bool) ([]Event, error) {
	// Non-blocking: a FIFO put in its place must not hang the reader.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; remove it (the daemon makes a new one)", path)
	}
	var out []Event
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := readLine(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		e, ok := Parse(string(line))
		if !ok || (keep != nil && !keep(e)) {
			continue
		}
		out = append(out, e)
		if n > 0 && len(out) > 2*n {
			out = append(out[:0], out[len(out)-n:]...)
		}
	}
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}

// maxRead is the longest line Read parses: far above MaxLine, for lines
// an older tsm wrote untrimmed.
const maxRead = 4 << 20

// readLine returns the next line without its newline; a line longer than
// maxRead comes back empty (it does not parse), read past but not kept.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	long := false
	for {
		chunk, err := r.ReadSlice('\n')
		long = long || len(line)+len(chunk) > maxRead
		if !long {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || (len(line) == 0 && !long)) {
			return nil, err
		}
		if long {
			return nil, nil
		}
		return bytes.TrimSuffix(line, []byte("\n")), nil
	}
}

// Parse decodes one line.
func Parse(line string) (Event, bool) {
	var e Event
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.Type == "" {
		return Event{}, false
	}
	return e, true
}

// Format renders an event for people:
// "2026-11-25 23:42:29.120  exit      api-8000 (id 0)  pid 123, exit code 1".
func Format(e Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s", e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Type)
	if e.Name != "" {
		fmt.Fprintf(&b, "  %s", e.Name)
		if e.ID != nil {
			fmt.Fprintf(&b, " (id %d)", *e.ID)
		}
	}
	var parts []string
	if e.PID > 0 {
		parts = append(parts, fmt.Sprintf("pid %d", e.PID))
	}
	if e.Signal != "" {
		parts = append(parts, "killed by "+e.Signal)
	} else if e.ExitCode != nil {
		parts = append(parts, fmt.Sprintf("exit code %d", *e.ExitCode))
	}
	if e.DelayMS > 0 {
		parts = append(parts, fmt.Sprintf("retry in %s", time.Duration(e.DelayMS)*time.Millisecond))
	}
	if e.Restarts > 0 {
		parts = append(parts, fmt.Sprintf("restarts %d", e.Restarts))
	}
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	if len(parts) > 0 {
		b.WriteString("  " + strings.Join(parts, ", "))
	}
	return b.String()
}
