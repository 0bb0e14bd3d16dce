package api

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The `tsm list` table. The daemon renders it (RouteListTable), so that a
// CLI copies bytes instead of decoding rows; a CLI talking to a daemon
// older than that route renders it itself, with the same code.

// WriteTable writes the `tsm list` table of rows to w, or, with no rows,
// the line that says there is nothing to list (all: the stopped processes
// were asked for too). With color, status words are painted as
// PaintStatus does; columns are aligned by screen width (Columns), so a
// name in Japanese or with an emoji keeps its row in line.
func WriteTable(w io.Writer, rows []Row, all, color bool) error {
	if len(rows) == 0 {
		msg := "no running processes (start one with `tsm start <command>`; `tsm list all` shows stopped ones)"
		if all {
			msg = "no processes (start one with `tsm start <command>`)"
		}
		_, err := fmt.Fprintln(w, msg)
		return err
	}
	tw := NewColumns(w)
	io.WriteString(tw, "ID\tNAME\tPID\tPORT\tSTATUS\tUPTIME\t↺\tCPU\tMEM\n")
	// Appended, not fmt.Fprintf'd: this runs in the daemon for every
	// `tsm list`, and fmt was two thirds of it.
	var line []byte
	for _, p := range rows {
		pid, up, cpu := "-", "-", "-"
		if p.Status == "online" {
			pid, up, cpu = strconv.Itoa(p.PID), p.Uptime, strconv.FormatFloat(p.CPU, 'f', 1, 64)+"%"
		}
		status := p.StatusNote()
		if color {
			status = PaintStatus(status)
		}
		line = strconv.AppendInt(line[:0], int64(p.TsmID), 10)
		for _, cell := range [...]string{Truncate(p.Name, 40), pid, p.ActualPort(), status, up, strconv.Itoa(p.Restarts), cpu, HumanBytes(p.Memory)} {
			line = append(append(line, '\t'), cell...)
		}
		tw.Write(append(line, '\n'))
	}
	return tw.Flush()
}

// PortString renders a declared port (an integer, or "none" from the wire)
// as the tables show it: the number, or "-".
func PortString(port any) string {
	switch v := port.(type) {
	case float64:
		return strconv.Itoa(int(v))
	case int:
		return strconv.Itoa(v)
	}
	return "-"
}

// ActualPort is the port column: the process's port, or, when it listens
// but not there (it ignores $PORT), where it does listen: "5000 (not 18104)";
// for a process started without a port (`npm start`, --port none), where
// its process tree listens, if anywhere.
func (p Row) ActualPort() string {
	declared := PortString(p.Port)
	if len(p.ListeningPorts) == 0 {
		return declared
	}
	if declared == "-" {
		return JoinPorts(p.ListeningPorts)
	}
	for _, l := range p.ListeningPorts {
		if strconv.Itoa(l) == declared {
			return declared
		}
	}
	return JoinPorts(p.ListeningPorts) + " (not " + declared + ")"
}

// JoinPorts renders port numbers as "80, 443".
func JoinPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, n := range ports {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// StateWord is the lifecycle state, or the seed's status from a daemon
// that predates states.
func (p Row) StateWord() string {
	if p.Unverified != "" {
		return "not verified"
	}
	if p.State != "" {
		return p.State
	}
	return p.Status
}

// StatusNote renders the state with what explains it: the last exit and
// the next retry ("crashed (exit 1, retry in 1.6s)"), or what a stop is
// for ("stopping (restart)").
func (p Row) StatusNote() string {
	word := p.StateWord()
	switch word {
	case "online", "stopped", "starting":
		// A stop the user asked for needs no explanation.
		return word
	case "stopping":
		if p.Pending != "" && p.Pending != "stop" {
			return word + " (" + p.Pending + ")"
		}
		return word
	case "backoff":
		word = "crashed"
	case "unhealthy":
		// Up, failing its health check: why, not the last exit.
		return word + " (" + Truncate(p.HealthError, 60) + ")"
	}
	var notes []string
	switch {
	case p.ExitSignal != "":
		notes = append(notes, p.ExitSignal)
	case p.ExitCode != nil:
		notes = append(notes, fmt.Sprintf("exit %d", *p.ExitCode))
	}
	if p.NextRestart > 0 {
		wait := max(time.Until(time.UnixMilli(p.NextRestart)), 0).Round(100 * time.Millisecond)
		notes = append(notes, "retry in "+wait.String())
	}
	if len(notes) == 0 {
		return word
	}
	return word + " (" + strings.Join(notes, ", ") + ")"
}

// PaintStatus wraps a status ("online", "crashed (exit 1)") in the ANSI
// color of its first word; a word it does not know stays as it is.
func PaintStatus(s string) string {
	code := ""
	word, _, _ := strings.Cut(s, " ") // "crashed (exit 1)" is red too
	switch word {
	case "online":
		code = "32"
	case "starting", "stopping":
		code = "33"
	case "crashed", "errored", "unhealthy":
		code = "31"
	case "stopped", "exited":
		code = "90"
	default:
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// HumanBytes renders a memory size: 812K, 14.2M, 1.3G; 0 is "-".
func HumanBytes(n uint64) string {
	switch {
	case n == 0:
		return "-"
	case n < 1<<20:
		return strconv.FormatUint(n>>10, 10) + "K"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "M"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "G"
}

// Truncate shortens s to n runes with an ellipsis.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// EscapeControls writes the control bytes of s (a record directory's name
// in a problem may hold any) as \xNN: net/http refuses them in a header
// value, so the CLI would fail on the whole listing, and printed raw they
// would drive the user's terminal.
func EscapeControls(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
