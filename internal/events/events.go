// Package events owns the lifecycle event log, $TSM_DIR/events.jsonl: one
// JSON object per line for every start, readiness, exit, restart, backoff,
// crash loop, adoption and stop. The daemon appends; the CLI reads and
// follows the file directly. It imports no other tsm package.
package events

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
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

// Log appends events to a file. It is safe for concurrent use.
type Log struct {
	path string
	mu   sync.Mutex // guards f and serialises rotation
	f    *os.File
}

// Open opens (creating) the event log at path for appending.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	return &Log{path: path, f: f}, nil
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
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
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
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
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
// a torn or foreign line must not hide the rest.
func Read(path string, n int, keep func(Event) bool) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		e, ok := Parse(sc.Text())
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
	return out, sc.Err()
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
