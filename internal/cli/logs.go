package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/paths"
)

// logsOpts are the flags of `tsm logs`.
type logsOpts struct {
	lines                    int
	follow, nostream, asJSON bool
	errOnly, outOnly         bool
	grep                     string
	invert, timestamps       bool
	since, until             string
	noMarkers                bool
	// every: the targets were every process (none given, or all): a
	// follow then takes in processes started after it began.
	every bool
}

// manyLines is -n when a filter (--grep, --since, --until) is given and -n
// is not: the filter decides what is shown, within a bound on memory.
const manyLines = 10000

func (a *App) newLogsCmd() *cobra.Command {
	var o logsOpts
	cmd := &cobra.Command{
		Use:   "logs [<target>... | all]",
		Short: "Show the last lines of processes' stdout and stderr, and follow them",
		Long: `Logs prints the last --lines lines of current.out (stdout) and current.err
(stderr), reading on into the rotated files (current.out.1, ...) when the
live file holds fewer. -f then follows, printing new lines as they arrive,
until interrupted.

One target: each stream under a header, with a marker where each run began
("── run 4 · started ... · previous exit 1 ──"; --no-markers hides them).
No target, all, or several targets: every line prefixed with its process's
name (in a colour of its own on a terminal); -f shows the lines of all of
them in arrival order, like pm2 logs. With no target or all, -f also takes
in the processes started while it follows (within about a second; their
lines from their start on).

Filters: --grep RE shows only lines matching the regular expression (-v:
not matching). --since/--until take a duration back from now (10m, 2h) or a
time (2026-11-30T10:00, 10:00, or RFC 3339). The time of a line is known to
within about a second from checkpoints the daemon notes while a stream grows
(a line written while no daemon ran gets the time it was next seen);
--timestamps prefixes each line with it. With a filter and no -n, up to
10000 lines are searched.

--json prints {"service": NAME, "entries": [{"stream", "line"}]} for one
target and {"entries": [{"name", "stream", "line"}]} for several; with -f,
one {"name", "service", "stream", "line"} object per line.`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.errOnly && o.outOnly {
				return usageError("--err and --out exclude each other; give neither to see both")
			}
			if o.lines < 0 {
				return usageError("--lines must be 0 or more")
			}
			if o.nostream {
				o.follow = false
			}
			f, err := newLineFilter(o, time.Now())
			if err != nil {
				return err
			}
			if f.active() && !cmd.Flags().Changed("lines") {
				o.lines = manyLines
			}
			// Catch Ctrl-C before printing anything, so an interrupt during
			// the tail still ends the command cleanly.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			procs, merged, err := a.logTargets(cmd, args)
			if err != nil {
				return err
			}
			o.every = len(args) == 0 || (len(args) == 1 && args[0] == "all")
			return a.showLogs(ctx, cmd, procs, merged, o, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&o.lines, "lines", "n", 50, "number of lines to show from each stream")
	fl.BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines until interrupted")
	fl.BoolVar(&o.nostream, "nostream", false, "do not follow (the default; accepted for bash tsm scripts)")
	fl.BoolVarP(&o.errOnly, "err", "e", false, "stderr only")
	fl.BoolVarP(&o.outOnly, "out", "o", false, "stdout only")
	fl.BoolVar(&o.asJSON, "json", false, "print JSON")
	fl.StringVar(&o.grep, "grep", "", "show only lines matching this regular expression (Go syntax)")
	fl.BoolVarP(&o.invert, "invert-match", "v", false, "with --grep: show the lines that do not match")
	fl.StringVar(&o.since, "since", "", "show lines written at or after this time (10m, 2h, 2026-11-30T10:00, 10:00)")
	fl.StringVar(&o.until, "until", "", "show lines written before this time (same forms as --since)")
	fl.BoolVar(&o.timestamps, "timestamps", false, "prefix each line with when it was written (to about a second)")
	fl.BoolVar(&o.noMarkers, "no-markers", false, "do not show where each run began")
	return cmd
}

// logTargets resolves the targets of `tsm logs`: none or all means every
// process, and merged says whether lines are prefixed with names.
func (a *App) logTargets(cmd *cobra.Command, args []string) ([]api.Process, bool, error) {
	if len(args) == 0 || (len(args) == 1 && args[0] == "all") {
		resp, err := a.client.List(cmd.Context())
		if err != nil {
			return nil, false, err
		}
		if len(resp.Processes) == 0 {
			return nil, false, fmt.Errorf("no processes to show the logs of; start one with `tsm start <command>`")
		}
		return resp.Processes, true, nil
	}
	var procs []api.Process
	seen := map[string]bool{}
	for _, t := range args {
		p, err := a.resolve(cmd, t)
		if err != nil {
			return nil, false, err
		}
		if !seen[p.Name] {
			seen[p.Name] = true
			procs = append(procs, p)
		}
	}
	return procs, len(args) > 1, nil
}

// logSource is one stream of one process, and where to read it.
type logSource struct {
	proc   api.Process
	stream string // "out" or "err"
	path   string // the live file
	via    string // /proc/PID/fd/N when the live file was removed, else ""
	cps    []logs.Checkpoint
}

func (a *App) showLogs(ctx context.Context, cmd *cobra.Command, procs []api.Process, merged bool, o logsOpts, f lineFilter) error {
	errw := cmd.ErrOrStderr()
	// Lines are gathered and written many to a write(2): when the tail is
	// shown and whenever the follow has nothing more to read (and at least
	// every poll interval while lines keep coming), so a fast writer is
	// kept up with and a slow one is still shown at once.
	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	colour := a.colors(cmd.OutOrStdout()).on // of the terminal, not of the buffer
	var gone <-chan struct{}
	if file, ok := cmd.OutOrStdout().(*os.File); ok && o.follow {
		var stop func()
		gone, stop = outputGone(file)
		defer stop()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if gone != nil {
		go func() {
			select {
			case <-gone:
				cancel(errOutputGone)
			case <-ctx.Done():
			}
		}()
	}
	err := a.showLogsTo(ctx, out, colour, errw, procs, merged, o, f)
	if context.Cause(ctx) == errOutputGone {
		// Nobody reads any more (`| head -1` has its line): end as a
		// write there would have, by SIGPIPE's exit status, and write
		// nothing more.
		return quiet{code: 128 + int(syscall.SIGPIPE)}
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

// errOutputGone cancels a follow whose output nobody reads any more.
var errOutputGone = errors.New("the output of logs -f was closed")

func (a *App) showLogsTo(ctx context.Context, out *bufio.Writer, colour bool, errw io.Writer, procs []api.Process, merged bool, o logsOpts, f lineFilter) error {
	// The daemon reads the config; only its log says when it is bad. Say
	// it where the user looks at logs.
	if _, err := logs.LoadConfig(paths.Config(a.root)); err != nil {
		fmt.Fprintf(errw, "tsm: note: %v; log rotation keeps the limits it had (the defaults if none) until it is fixed\n", err)
	}
	var srcs []logSource
	for _, p := range procs {
		srcs = append(srcs, sourcesOf(p, o, f, errw)...)
	}
	p := newLinePrinter(out, colour, srcs, merged, o)

	// Take the follow's starting points before the tail, and tail only up
	// to them: no line written in between is lost or shown twice.
	var following *logs.Following
	if o.follow {
		sources := make([]logs.Source, len(srcs))
		for i, s := range srcs {
			sources[i] = logs.Source{Stream: s.stream, Path: s.path}
			if s.via != "" {
				sources[i] = logs.Source{Stream: s.stream, Path: s.via, Live: s.path}
			}
		}
		var err error
		// Borrow: the emit below keeps nothing of a line's text.
		if following, err = (logs.Follower{Flush: p.flush, Borrow: true}).Open(sources); err != nil {
			return err
		}
	}
	shown := 0
	for i, s := range srcs {
		limit := int64(-1)
		if following != nil {
			limit = following.Start(i)
		}
		lines, err := s.tail(o.lines, limit, f)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if err := p.marks(i, l.Off); err != nil {
				return err
			}
			t, _ := logs.TimeAt(s.cps, l.Off)
			if err := p.emit(i, l.Text, t); err != nil {
				return err
			}
			shown++
		}
	}
	if err := p.end(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if shown == 0 && o.lines > 0 && !o.asJSON {
		// Silence would look like a broken command.
		what := "has written nothing yet"
		if f.active() {
			what = "has written no line that matches"
		}
		wait := ""
		if following != nil {
			wait = "; waiting for output (Ctrl-C to stop)"
		}
		names := make([]string, len(procs))
		for i, p := range procs {
			names[i] = p.Name
		}
		fmt.Fprintf(errw, "tsm: %s %s%s\n", strings.Join(names, ", "), what, wait)
	}
	if following == nil {
		return nil
	}
	emit := func(base int) func(l logs.Line) error {
		return func(l logs.Line) error {
			if f.active() && !f.match(l.Text, l.Seen) {
				return nil
			}
			if err := p.marks(base+l.Source, l.Off); err != nil {
				return err
			}
			return p.emit(base+l.Source, l.Text, l.Seen)
		}
	}
	if !o.every {
		return ignoreCanceled(following.Run(ctx, emit(0)))
	}
	// Every process: the lines of several followers go through one printer.
	p.mu = new(sync.Mutex)
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	known := map[string]bool{}
	for _, pr := range procs {
		known[pr.Name] = true
	}
	// Every goroutine that prints is waited for before the caller flushes
	// the output (unlocked) and returns.
	var wg sync.WaitGroup
	wg.Go(func() {
		a.followNew(fctx, cancel, known, func(pr api.Process) error {
			return a.followAlso(fctx, cancel, &wg, p, sourcesOf(pr, o, f, errw), f, emit)
		})
	})
	err := ignoreCanceled(following.Run(fctx, p.locked(emit(0))))
	if err == nil && ctx.Err() == nil {
		err = context.Cause(fctx) // a follower of a later process failed
	}
	cancel(nil)
	wg.Wait()
	return err
}

// sourcesOf returns the streams of process pr that o asks for, saying on
// errw where a live file was removed.
func sourcesOf(pr api.Process, o logsOpts, f lineFilter, errw io.Writer) []logSource {
	var srcs []logSource
	for _, s := range []struct{ stream, path string }{{"out", pr.OutLog}, {"err", pr.ErrLog}} {
		if (o.errOnly && s.stream == "out") || (o.outOnly && s.stream == "err") {
			continue
		}
		src := logSource{proc: pr, stream: s.stream, path: s.path}
		if note := src.checkRemoved(); note != "" {
			fmt.Fprintln(errw, "tsm: "+note)
		}
		if f.needsTime() || o.timestamps {
			src.cps = logs.Checkpoints(s.path)
		}
		srcs = append(srcs, src)
	}
	return srcs
}

// newProcessesEvery is how often a follow of every process asks the daemon
// for processes started since.
const newProcessesEvery = time.Second

// followNew calls add for each process the daemon lists that known does
// not hold, until ctx is done; a failure of add ends the follow (cancel).
func (a *App) followNew(ctx context.Context, cancel context.CancelCauseFunc, known map[string]bool, add func(api.Process) error) {
	t := time.NewTicker(newProcessesEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := a.client.ListIfRunning(ctx)
		if err != nil {
			continue // no daemon (stopped, restarting): the files are still followed
		}
		for _, pr := range resp.Processes {
			if known[pr.Name] {
				continue
			}
			known[pr.Name] = true
			if err := add(pr); err != nil {
				cancel(err)
				return
			}
		}
	}
}

// followAlso shows what srcs (a process that started after the follow
// began) have written so far, and follows them beside the others.
func (a *App) followAlso(ctx context.Context, cancel context.CancelCauseFunc, wg *sync.WaitGroup, p *linePrinter, srcs []logSource, f lineFilter, emit func(base int) func(logs.Line) error) error {
	sources := make([]logs.Source, len(srcs))
	for i, s := range srcs {
		sources[i] = logs.Source{Stream: s.stream, Path: s.path}
	}
	following, err := (logs.Follower{Flush: p.flush, Borrow: true}).Open(sources)
	if err != nil {
		return err
	}
	p.mu.Lock()
	base := p.add(srcs)
	for i, s := range srcs {
		// All it wrote before the follow took it in: it is new.
		lines, err := s.tail(manyLines, following.Start(i), f)
		if err == nil {
			for _, l := range lines {
				t, _ := logs.TimeAt(s.cps, l.Off)
				err = p.emit(base+i, l.Text, t)
			}
		}
		if err != nil {
			p.mu.Unlock()
			return err
		}
	}
	err = p.w.Flush()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	wg.Go(func() {
		if err := following.Run(ctx, p.locked(emit(base))); err != nil && ctx.Err() == nil {
			cancel(err)
		}
	})
	return nil
}

// tail returns the last n lines of the source that pass f, up to limit; a
// filter searches the last manyLines lines (or n, if more).
func (s logSource) tail(n int, limit int64, f lineFilter) ([]logs.StreamLine, error) {
	search := n
	if f.active() && n > 0 {
		search = max(n, manyLines)
	}
	lines, err := logs.TailStream(s.path, s.via, search, limit)
	if err != nil || !f.active() {
		return lines, err
	}
	kept := lines[:0]
	for _, l := range lines {
		t, ok := logs.TimeAt(s.cps, l.Off)
		if !ok {
			t = time.Now() // not seen by a checkpoint yet: just written
		}
		if f.match(l.Text, t) {
			kept = append(kept, l)
		}
	}
	return kept[max(len(kept)-n, 0):], nil
}

// checkRemoved notices a live log file that was removed or replaced while
// the process runs; on Linux the file the process still writes to is read
// through /proc/PID/fd. It returns a note for the user, or "".
func (s *logSource) checkRemoved() string {
	fd := 1
	if s.stream == "err" {
		fd = 2
	}
	name := "current." + s.stream
	if via, ok := logs.RemovedLog(s.path, s.proc.PID, fd); ok {
		s.via = via
		return fmt.Sprintf("%s's %s was removed while it runs; showing what it writes through %s. `tsm restart %s` starts a new %s (what is in the removed file is gone once the process ends)",
			s.proc.Name, name, via, s.proc.Name, name)
	}
	if via, target, ok := logs.MovedLog(s.path, s.proc.PID, fd); ok {
		s.via = via
		return fmt.Sprintf("%s's %s is not the file it writes (moved, replaced or made a link while it runs, or the program redirected its output); showing the one it writes, %s. `tsm restart %s` starts a new %s",
			s.proc.Name, name, target, s.proc.Name, name)
	}
	if _, err := os.Lstat(s.path); err != nil && s.proc.PID > 0 {
		return fmt.Sprintf("%s's %s was removed (%v); its output is lost until `tsm restart %s` starts a new one", s.proc.Name, name, err, s.proc.Name)
	}
	return ""
}

// lineFilter is --grep/-v/--since/--until.
type lineFilter struct {
	re           *regexp.Regexp
	invert       bool
	since, until time.Time
}

func newLineFilter(o logsOpts, now time.Time) (lineFilter, error) {
	f := lineFilter{invert: o.invert}
	if o.invert && o.grep == "" {
		return f, usageError("-v needs --grep RE: it shows the lines that do not match RE")
	}
	if o.grep != "" {
		re, err := regexp.Compile(o.grep)
		if err != nil {
			return f, usageError("--grep %q is not a regular expression: %v", o.grep, err)
		}
		f.re = re
	}
	var err error
	if f.since, err = parseWhen("--since", o.since, now); err != nil {
		return f, err
	}
	if f.until, err = parseWhen("--until", o.until, now); err != nil {
		return f, err
	}
	return f, nil
}

func (f lineFilter) active() bool    { return f.re != nil || f.needsTime() }
func (f lineFilter) needsTime() bool { return !f.since.IsZero() || !f.until.IsZero() }

// match says whether a line written at t passes the filter.
func (f lineFilter) match(text string, t time.Time) bool {
	if f.re != nil && f.re.MatchString(text) == f.invert {
		return false
	}
	if !f.since.IsZero() && t.Before(f.since) {
		return false
	}
	return f.until.IsZero() || t.Before(f.until)
}

// parseWhen reads a --since/--until value: a duration back from now, a date
// and time in local time, a time of today, or RFC 3339.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, now.Location()); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, v, now.Location()); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, now.Location()), nil
		}
	}
	return time.Time{}, usageError("%s %q: give a duration back from now (10m, 2h) or a time (2026-11-30T10:00, 10:00, RFC 3339)", flag, v)
}

// linePrinter writes the lines of the sources in the chosen form.
type linePrinter struct {
	w      *bufio.Writer // flushed by the caller
	srcs   []logSource
	merged bool
	o      logsOpts
	hw     *logs.HeaderWriter
	enc    *json.Encoder
	colour bool
	width  int // of the longest name, for the prefix
	// entries collects a non-following --json listing.
	entries []map[string]string
	// Run markers (one target, text only): the marks of the process, when
	// they were read, the offset of the last run start of each stream in
	// them, and per source the offset of the last line shown.
	runs      []logs.RunMark
	runsRead  time.Time
	runsStale bool // read them again: set when older than runsFresh, not looked at for each line
	lastRun   map[string]int64
	prev      []int64
	// prefixes[i] is what goes before each line of source i when merged;
	// stampSec and stamp are the last --timestamps prefix and the second
	// it was made for.
	prefixes []string
	stampSec int64
	stamp    string
	// mu, when set, is held around every use of the printer and of w:
	// several followers print through it (a follow of every process).
	mu *sync.Mutex
}

// flush writes out what the printer holds (a Follower's Flush).
func (p *linePrinter) flush() error {
	if p.mu != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	p.runsStale = time.Since(p.runsRead) > runsFresh
	return p.w.Flush()
}

// locked returns emit called with p.mu held.
func (p *linePrinter) locked(emit func(logs.Line) error) func(logs.Line) error {
	return func(l logs.Line) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		return emit(l)
	}
}

// add takes in the sources of a process that started after the printer
// was made and returns the index of the first; called with p.mu held.
func (p *linePrinter) add(srcs []logSource) int {
	base := len(p.srcs)
	p.srcs = append(p.srcs, srcs...)
	for _, s := range srcs {
		p.prev = append(p.prev, -1)
		p.prefixes = append(p.prefixes, p.prefix(s.proc.Name))
	}
	return base
}

// prefix is what goes before each line of process name when merged.
func (p *linePrinter) prefix(name string) string {
	prefix := fmt.Sprintf("%-*s |", p.width, name)
	if p.colour {
		prefix = "\x1b[" + nameColour(name) + "m" + prefix + "\x1b[0m"
	}
	return prefix + " "
}

// runsFresh is how long the run marks read are used before they are read
// again, while following: a new run shows its marker within that (checked
// when the output is flushed, at least every poll interval).
const runsFresh = 100 * time.Millisecond

// marks shows the markers of the runs that begin at or before offset off of
// source i and after its previous line shown: a run's marker goes before its
// first line among those shown. The run of the first line shown is marked
// only if that line is its first.
func (p *linePrinter) marks(i int, off int64) error {
	if p.merged || p.o.noMarkers || p.o.asJSON || off < 0 {
		return nil
	}
	if p.runsStale {
		p.runs, _ = logs.ReadRuns(p.srcs[i].proc.OutLog)
		p.runsRead, p.runsStale = time.Now(), false
		p.lastRun = map[string]int64{"out": -1, "err": -1}
		for _, m := range p.runs {
			p.lastRun["out"] = max(p.lastRun["out"], m.Out)
			p.lastRun["err"] = max(p.lastRun["err"], m.Err)
		}
	}
	prev := p.prev[i]
	if prev >= p.lastRun[p.srcs[i].stream] && prev < off {
		// Past every run's start (the common case while following): no
		// marker, and no walk over the runs for each line.
		p.prev[i] = off
		return nil
	}
	for _, m := range p.runs {
		at := m.Out
		if p.srcs[i].stream == "err" {
			at = m.Err
		}
		if at == off || (prev >= 0 && prev < at && at <= off) {
			if err := p.emit(i, m.String(), time.Time{}); err != nil {
				return err
			}
		}
	}
	p.prev[i] = off
	return nil
}

func newLinePrinter(w *bufio.Writer, colour bool, srcs []logSource, merged bool, o logsOpts) *linePrinter {
	p := &linePrinter{w: w, srcs: srcs, merged: merged, o: o, colour: colour, prev: make([]int64, len(srcs)), runsStale: true}
	for i := range p.prev {
		p.prev[i] = -1
	}
	for _, s := range srcs {
		p.width = max(p.width, len(s.proc.Name))
	}
	for _, s := range srcs {
		p.prefixes = append(p.prefixes, p.prefix(s.proc.Name))
	}
	if o.asJSON {
		p.enc = json.NewEncoder(w)
		p.entries = []map[string]string{}
	} else if !merged && !(o.errOnly || o.outOnly) && len(srcs) > 0 {
		labels := map[string]string{}
		for _, s := range srcs {
			word := map[string]string{"out": "stdout", "err": "stderr"}[s.stream]
			labels[s.stream] = fmt.Sprintf("%s %s (%s)", s.proc.Name, word, s.path)
		}
		p.hw = &logs.HeaderWriter{W: w, Labels: labels}
	}
	return p
}

// emit writes one line of source i, written at t (zero: unknown). text may
// be borrowed (logs.Follower.Borrow): only the listing without -f keeps it,
// and its lines come from the tail, which owns them.
func (p *linePrinter) emit(i int, text string, t time.Time) error {
	s := p.srcs[i]
	stamp := ""
	if p.o.timestamps && !t.IsZero() {
		if sec := t.Unix(); sec != p.stampSec || p.stamp == "" {
			p.stampSec, p.stamp = sec, t.Format("2006-01-02T15:04:05")+" "
		}
		stamp = p.stamp
	}
	if stamp != "" && (p.enc != nil || p.hw != nil) {
		text = stamp + text
	}
	if p.enc != nil {
		e := map[string]string{"stream": s.stream, "line": text}
		if p.merged || p.o.follow {
			e["name"] = s.proc.Name
		}
		if p.o.follow {
			e["service"] = s.proc.Name
			return p.enc.Encode(e)
		}
		p.entries = append(p.entries, e)
		return nil
	}
	if p.hw != nil {
		return p.hw.Write(logs.Line{Stream: s.stream, Text: text})
	}
	if p.merged {
		p.w.WriteString(p.prefixes[i])
	}
	p.w.WriteString(stamp)
	p.w.WriteString(text)
	return p.w.WriteByte('\n') // bufio: an earlier failed write fails this one too
}

// end finishes a non-following --json listing.
func (p *linePrinter) end() error {
	if p.enc == nil || p.o.follow {
		return nil
	}
	if !p.merged && len(p.srcs) > 0 {
		for _, e := range p.entries {
			delete(e, "name")
		}
		return printJSON(p.w, map[string]any{"service": p.srcs[0].proc.Name, "entries": p.entries})
	}
	return printJSON(p.w, map[string]any{"entries": p.entries})
}

// nameColour picks a process's colour from its name, so it keeps it from
// one invocation to the next.
func nameColour(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return strconv.Itoa(31 + int(h.Sum32()%6))
}

func ignoreCanceled(err error) error {
	if err == context.Canceled {
		return nil
	}
	return err
}
