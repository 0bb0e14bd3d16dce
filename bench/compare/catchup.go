package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetra/tsm/bench/internal/stamp"
)

// The logs -f catch-up row: a managed process (bench/logsf write) writes
// burstLines lines of 40 bytes (50 MB) in 1 MiB writes while the manager's
// follow command runs; the time is from the end of the writes until the
// follower has printed the last line.
const burstLines = 50_000_000 / 40

var (
	logsfBin   = flag.String("logsf", "", "bench/logsf binary (the burst writer); empty: no logs -f row")
	catchupMax = 15 * time.Second // a follower later than this is reported as never
)

// burstArgv is m's burst writer; its go and time files are m's own.
func burstArgv(m *manager) []string {
	return []string{*logsfBin, "write", "-lines", strconv.Itoa(burstLines), "-len", "40", "-batch", "1048576",
		"-go", burstFile(m, "go"), "-t0", burstFile(m, "t0")}
}

// burstFile is the go or time file (ext "go", "t0", "t0.done") of m's writer.
func burstFile(m *manager, ext string) string {
	return filepath.Join(*work, "burst", strings.ReplaceAll(m.Name, " ", "_")+"."+ext)
}

// catchUp starts m's burst writer and m's follow of it, lets the writer go,
// and returns ms from the writer's end to the follower's last line.
func catchUp(m *manager) (float64, error) {
	os.MkdirAll(filepath.Join(*work, "burst"), 0o700)
	for _, ext := range []string{"go", "t0", "t0.done"} {
		os.Remove(burstFile(m, ext))
	}
	if err := run(m, m.startOne("burst", 0, 0)); err != nil {
		return 0, err
	}
	defer m.undo("burst", 0)
	argv := m.follow(extraName("burst", 0))
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(os.Environ(), m.env...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := c.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := c.Start(); err != nil {
		return 0, err
	}
	defer stopFollower(c)
	last := []byte(fmt.Sprintf("#%09d ", burstLines-1))
	// Every time the last line shows: a follower may first replay an
	// earlier round's (process-compose keeps a process's recent lines
	// across its runs), which counts only before the writer was let go.
	seen := make(chan time.Time, 16)
	go func() {
		b := make([]byte, 1<<20)
		var tail []byte
		for {
			n, err := out.Read(b)
			chunk := append(tail, b[:n]...)
			if bytes.Contains(chunk, last) {
				select {
				case seen <- time.Now():
				default:
				}
			}
			tail = append([]byte(nil), chunk[max(len(chunk)-len(last), 0):]...)
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second) // the follower is in place
	let := time.Now()
	if err := os.WriteFile(burstFile(m, "go"), nil, 0o600); err != nil {
		return 0, err
	}
	var at time.Time
	timeout := time.After(catchupMax)
	for at.Before(let) {
		select {
		case at = <-seen:
		case <-timeout:
			return 0, fmt.Errorf("the last line was not shown within %v", catchupMax)
		}
	}
	// The writer notes its end after its last write returns: a fast
	// follower may show the last line first.
	end := stamp.Await(burstFile(m, "t0.done"), 2*time.Second)
	if end.IsZero() {
		return 0, fmt.Errorf("the writer noted no end")
	}
	return ms(at.Sub(end)), nil
}

// catchupN is the one N at which the catch-up row is measured (the burst
// costs seconds per manager): the first of -n.
var catchupN int

// measureNoWait times tsm's `start --no-wait` of a port-less command, runs
// of the managers that have one interleaved.
func measureNoWait(mgrs []*manager) map[string][]float64 {
	t := map[string][]float64{}
	for i := range *starts {
		for _, m := range mgrs {
			if m.startNoWait == nil {
				continue
			}
			if d, err := timeCmd(m, m.startNoWait(i)); err == nil {
				t[m.Name] = append(t[m.Name], ms(d))
			}
			run(m, append(m.startNoWait(i)[:1:1], "delete", "y"+strconv.Itoa(i)))
		}
	}
	return t
}

// measureCatchUp measures the catch-up of every manager, 3 rounds
// interleaved; a manager whose follower never shows the last line is said
// on stderr, left without a figure and not tried again (each try costs
// catchupMax).
func measureCatchUp(mgrs []*manager) map[string][]float64 {
	t := map[string][]float64{}
	failed := map[string]bool{}
	for range min(*starts, 3) {
		for _, m := range mgrs {
			if failed[m.Name] {
				continue
			}
			d, err := catchUp(m)
			if err != nil {
				fmt.Fprintf(os.Stderr, "compare: %s logs -f catch-up: %v\n", m.Name, err)
				failed[m.Name] = true
				continue
			}
			t[m.Name] = append(t[m.Name], d)
		}
	}
	return t
}

// stopFollower ends a follow command as a user's Ctrl-C does, then for
// good: process-compose's server hung (and its `down` with it) when a
// `process logs -f` client was killed mid-stream.
func stopFollower(c *exec.Cmd) {
	syscall.Kill(-c.Process.Pid, syscall.SIGINT)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// runFor is run with a time limit: a manager's command that hangs is
// killed after d and reported.
func runFor(m *manager, d time.Duration, argv []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = append(os.Environ(), m.env...)
	c.Dir = m.dir
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %v", strings.Join(argv, " "), err)
	}
	return nil
}
