// Package client is the CLI's side of the daemon socket: it dials
// $TSM_DIR/tsm.sock, starts the daemon on demand, sends api requests and
// turns error envelopes back into *api.Error values. It imports only api
// and paths.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/peer"
	"github.com/tetra/tsm/internal/prefetch"
)

// Client talks to the daemon of one state directory.
type Client struct {
	Root string
	// HangCheck is how long a request may go unanswered before the client
	// asks the daemon, on a second connection, whether it is still there;
	// a daemon that answers neither is given up on. Long operations (a
	// stop with a long grace period) go on for as long as the daemon
	// answers. Zero: 5 s.
	HangCheck time.Duration
	// Exe is the tsm binary started as `tsm daemon run` when no daemon
	// answers. Empty: os.Executable().
	Exe string
	// DaemonBuild is the release of the daemon that answered last.
	DaemonBuild string
	http        *http.Client
}

// New returns a client for the state directory root.
func New(root string) *Client {
	c := &Client{Root: root}
	sock := paths.Socket(root)
	c.http = &http.Client{Transport: transport{
		dial: func(ctx context.Context) (net.Conn, error) {
			return dial(ctx, sock)
		},
		sent: func(uri string) net.Conn { return prefetched(sock, uri) },
	}}
	return c
}

// prefetched returns the connection to sock on which package prefetch sent
// a GET of uri while the binary was starting, nil if it did not (or it is
// no longer usable).
func prefetched(sock, uri string) net.Conn {
	fd, ok := prefetch.Take(sock, uri)
	if !ok {
		return nil
	}
	f := os.NewFile(uintptr(fd), sock)
	defer f.Close() // FileConn has its own descriptor
	conn, err := net.FileConn(f)
	if err != nil {
		return nil
	}
	return conn
}

// dial connects to the daemon's socket and makes sure a process of the
// caller's own user is listening: requests carry the caller's environment,
// secrets included, and must never reach another user's daemon.
func dial(ctx context.Context, sock string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if errors.Is(err, syscall.EACCES) {
		uid, owned := ownerOf(sock)
		return nil, &WrongUserError{Socket: sock, UID: uid, Owned: owned}
	}
	if err != nil {
		return nil, err
	}
	uid, err := peer.UID(conn.(*net.UnixConn))
	if err == nil && uid != os.Geteuid() {
		err = &WrongUserError{Socket: sock, UID: uid, Listening: true}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// WrongUserError means the socket at Socket is another user's: either it
// cannot be connected to (its mode, or that of the directory Owned above
// it, keeps the caller out; UID owns Owned), or the process listening on it
// runs as UID (Listening).
type WrongUserError struct {
	Socket    string
	UID       int
	Owned     string // the socket, or the directory that keeps the caller out
	Listening bool
}

func (e *WrongUserError) Error() string {
	if e.Listening {
		return fmt.Sprintf("the tsm daemon on %s runs as uid %d, not as you (uid %d): tsm sends it nothing (a start would hand it your environment); use a state directory of your own (set TSM_DIR)",
			e.Socket, e.UID, os.Geteuid())
	}
	if e.Owned != "" && e.Owned != e.Socket {
		return fmt.Sprintf("permission denied connecting to %s: %s belongs to uid %d, not to you (uid %d), and keeps you out: it is another user's state directory; use a state directory of your own (set TSM_DIR)",
			e.Socket, e.Owned, e.UID, os.Geteuid())
	}
	return fmt.Sprintf("permission denied connecting to %s, which belongs to uid %d, not to you (uid %d): it is another user's tsm daemon; use a state directory of your own (set TSM_DIR)",
		e.Socket, e.UID, os.Geteuid())
}

// ownerOf returns the UID that owns path and path or, where the caller may
// not look at path (another user's 0700 directory above it), those of the
// directory that keeps them out; -1 and "" if unknown.
func ownerOf(path string) (int, string) {
	for {
		fi, err := os.Lstat(path)
		if err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				return int(st.Uid), path
			}
			return -1, ""
		}
		parent := filepath.Dir(path)
		if !errors.Is(err, fs.ErrPermission) || parent == path {
			return -1, ""
		}
		path = parent
	}
}

// APIError wraps an error envelope from the daemon: Body.Code says which
// kind of failure (api.CodeNotFound, ...), Body.Message how to fix it.
type APIError struct{ Body api.Error }

func (e *APIError) Error() string { return e.Body.Message }

// ErrNotRunning means that no daemon answers on the socket. Only Ping and
// Shutdown return it: every other method starts a daemon instead.
var ErrNotRunning = errors.New("the tsm daemon is not running")

// Ping asks the daemon about itself. It never starts a daemon: with none
// running it returns an error that wraps ErrNotRunning.
func (c *Client) Ping(ctx context.Context) (api.Ping, error) {
	var p api.Ping
	err := c.do(ctx, http.MethodGet, api.RoutePing, nil, &p)
	return p, notRunning(err)
}

// Running reports whether a daemon answers. It never starts one.
func (c *Client) Running(ctx context.Context) bool {
	_, err := c.Ping(ctx)
	return err == nil
}

// Shutdown tells the daemon to exit and returns what it was (its PID and
// process count) just before; every service keeps running. It returns as
// soon as the daemon has answered, which may be before it has let go of its
// lock and socket. It never starts a daemon: with none running it returns
// an error that wraps ErrNotRunning.
func (c *Client) Shutdown(ctx context.Context) (api.Ping, error) {
	var p api.Ping
	err := c.do(ctx, http.MethodPost, api.RouteShutdown, nil, &p)
	if err == nil {
		// It is gone: its release is no longer worth a note.
		c.DaemonBuild = ""
	}
	return p, c.explainReset(notRunning(err), false)
}

// Start starts a process as req describes and returns it once it is up
// (see api.StartRequest for the wait). A process that dies during start is
// an *APIError whose Body.Detail holds its last lines of output.
func (c *Client) Start(ctx context.Context, req api.StartRequest) (api.Process, error) {
	var p api.Process
	err := c.call(ctx, http.MethodPost, api.RouteStart, req, &p)
	return p, err
}

// Plan asks how the daemon would start req now, starting nothing.
func (c *Client) Plan(ctx context.Context, req api.StartRequest) (api.Plan, error) {
	var p api.Plan
	err := c.call(ctx, http.MethodPost, api.RoutePlan, req, &p)
	return p, err
}

// Stop stops the processes req names: the stop signal (SIGTERM unless the
// process was started with --signal), then the kill signal after
// req.TimeoutMillis (absent: the process's --kill-timeout, 10 s unless
// set; 0: at once).
// The daemon resolves every
// target first; an unknown or ambiguous one is an *APIError and nothing is
// touched.
func (c *Client) Stop(ctx context.Context, req api.TargetsRequest) ([]api.Result, error) {
	return c.targets(ctx, api.RouteStop, req)
}

// Kill sends SIGKILL to the processes req names.
func (c *Client) Kill(ctx context.Context, req api.TargetsRequest) ([]api.Result, error) {
	return c.targets(ctx, api.RouteKill, req)
}

// Restart stops (as Stop does) and starts again the processes req names;
// with req.UpdateEnv, in the environment req.Env.
func (c *Client) Restart(ctx context.Context, req api.TargetsRequest) ([]api.Result, error) {
	return c.targets(ctx, api.RouteRestart, req)
}

// Delete stops (as Stop does) the processes req names and removes their
// directories, logs and IDs.
func (c *Client) Delete(ctx context.Context, req api.TargetsRequest) ([]api.Result, error) {
	return c.targets(ctx, api.RouteDelete, req)
}

// targets sends a multi-target operation. When one target fails, the

// Signal sends req.Signal to the main process of each process req names
// (with req.Group, to every process of its run). An unknown signal or
// target is an *APIError and nothing is touched.
func (c *Client) Signal(ctx context.Context, req api.TargetsRequest) ([]api.Result, error) {
	return c.targets(ctx, api.RouteSignal, req)
}

// Reload sends each process req names its reload signal (start
// --reload-signal), or restarts it when it declared none: Result.Action
// says "reloaded" or "restarted".
func (c *Client) Reload(ctx context.Context, req api.TargetsRequest) ([]api.Result, error) {
	return c.targets(ctx, api.RouteReload, req)
}

// Ports returns every managed process's declared port and the ports its
// whole run listens on (TCP, and bound UDP); port > 0 also asks who holds
// that port, managed or not (PortsResponse.Holders).
func (c *Client) Ports(ctx context.Context, port int) (api.PortsResponse, error) {
	var resp api.PortsResponse
	route := api.RoutePorts
	if port > 0 {
		route += "?port=" + strconv.Itoa(port)
	}
	err := c.call(ctx, http.MethodGet, route, nil, &resp)
	return resp, err
}

// Doctor runs the daemon's checks (only one of them when only is not "":
// cgroups, records, orphans or ports).
func (c *Client) Doctor(ctx context.Context, only string) (api.DoctorReport, error) {
	var rep api.DoctorReport
	route := api.RouteDoctor
	if only != "" {
		route += "?only=" + url.QueryEscape(only)
	}
	err := c.call(ctx, http.MethodGet, route, nil, &rep)
	return rep, err
}

// Clean ends the orphans listed, those that still are orphans with the same
// identity, and says what it did to each.
func (c *Client) Clean(ctx context.Context, orphans []api.Orphan) ([]api.CleanResult, error) {
	var res []api.CleanResult
	err := c.call(ctx, http.MethodPost, api.RouteClean, api.CleanRequest{Orphans: orphans}, &res)
	return res, err
}

// *APIError's Body.Detail says what was done to the others.
func (c *Client) targets(ctx context.Context, route string, req api.TargetsRequest) ([]api.Result, error) {
	var rs []api.Result
	err := c.call(ctx, http.MethodPost, route, req, &rs)
	return rs, err
}

// List returns every process, stopped ones included, with live stats.
func (c *Client) List(ctx context.Context) (api.ListResponse, error) {
	var l api.ListResponse
	err := c.call(ctx, http.MethodGet, api.RouteList, nil, &l)
	return l, err
}

// ListIfRunning is List that never starts a daemon: with none running the
// error wraps ErrNotRunning (a follow that polls must not start one that
// the user stopped).
func (c *Client) ListIfRunning(ctx context.Context) (api.ListResponse, error) {
	var l api.ListResponse
	err := c.do(ctx, http.MethodGet, api.RouteList, nil, &l)
	return l, notRunning(err)
}

// ListJSON returns what `tsm list --json` prints (all: stopped processes
// too) as the daemon rendered it, and the entries it skipped as corrupt.
// Against a daemon older than that route, the error wraps ErrUnsupported.
func (c *Client) ListJSON(ctx context.Context, all bool) (body []byte, problems []string, err error) {
	return c.rendered(ctx, api.RouteListJSON, all, false)
}

// ListTable returns the table `tsm list` prints (all: stopped processes
// too; color: status words painted for a terminal) as the daemon rendered
// it, and the entries it skipped as corrupt. Against a daemon older than
// that route, the error wraps ErrUnsupported.
func (c *Client) ListTable(ctx context.Context, all, color bool) (body []byte, problems []string, err error) {
	return c.rendered(ctx, api.RouteListTable, all, color)
}

// rendered asks route for an answer to print as it comes.
func (c *Client) rendered(ctx context.Context, route string, all, color bool) (body []byte, problems []string, err error) {
	q := url.Values{}
	if all {
		q.Set("all", "1")
	}
	if color {
		q.Set("color", "1")
	}
	if len(q) > 0 {
		route += "?" + q.Encode()
	}
	var raw rawAnswer
	err = c.call(ctx, http.MethodGet, route, nil, &raw)
	return raw.body.Bytes(), raw.header.Values(api.ProblemHeader), err
}

// rawAnswer receives an answer as it came, for do.
type rawAnswer struct {
	body   bytes.Buffer
	header http.Header
}

// Info returns the one process target names (an ID, an exact name or a
// unique part of a name), with live stats. No such process is an *APIError
// with code api.CodeNotFound; several, one with api.CodeAmbiguous.
func (c *Client) Info(ctx context.Context, target string) (api.Process, error) {
	var p api.Process
	route := api.RouteInfo + "?" + url.Values{"target": {target}}.Encode()
	err := c.call(ctx, http.MethodGet, route, nil, &p)
	return p, err
}

// call sends a request, starting the daemon first if none answers.
func (c *Client) call(ctx context.Context, method, route string, in, out any) error {
	err := c.do(ctx, method, route, in, out)
	// A daemon that is dying (kill -9) may still accept and then reset the
	// connection. Reads are safe to repeat once it is gone; writes are not
	// repeated, since the old daemon may have acted on them.
	for try := 0; try < 50 && method == http.MethodGet && isReset(err); try++ {
		time.Sleep(20 * time.Millisecond)
		err = c.do(ctx, method, route, in, out)
	}
	write := method != http.MethodGet
	if !isDialError(err) {
		return c.explainReset(err, write)
	}
	if err := c.StartDaemon(ctx); err != nil {
		return err
	}
	err = c.do(ctx, method, route, in, out)
	if isDialError(err) { // it said it listens, then died at once (kill -9)
		return c.lost(err, false)
	}
	return c.explainReset(err, write)
}

// explainReset turns a connection the daemon dropped into advice; write
// says the request may have changed something (see lost).
func (c *Client) explainReset(err error, write bool) error {
	if !isReset(err) {
		return err
	}
	return c.lost(err, write)
}

// lost says that the daemon went away under err, and what to do. After a
// write (start, stop, restart, ...) the daemon may have acted on it before
// it went, and the next daemon carries on what was under way: the user must
// look before repeating it.
func (c *Client) lost(err error, write bool) error {
	done := ""
	if write {
		done = "; what was asked may have been done, in part or in full: check `tsm list all` before repeating it"
	}
	return fmt.Errorf("lost the connection to the tsm daemon (it may have crashed; see %s; the next command starts a new one%s): %w",
		paths.DaemonLog(c.Root), done, err)
}

// isReset reports whether the daemon dropped the connection under err:
// reset, closed before the answer ended, or before the request was written
// (EPIPE).
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// notRunning marks the error of a request that found no daemon.
func notRunning(err error) error {
	if isDialError(err) {
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return err
}

// ErrUnresponsive is wrapped by the error of a request the daemon accepted
// but stopped answering: neither the request nor a ping on a second
// connection got an answer.
var ErrUnresponsive = errors.New("the tsm daemon does not answer")

// hangCheck is HangCheck or its default. It also bounds a ping: the daemon
// answers one at once, whatever else it is doing.
func (c *Client) hangCheck() time.Duration {
	if c.HangCheck > 0 {
		return c.HangCheck
	}
	return 5 * time.Second
}

// do sends one request. A ping gets hangCheck; any other request as long
// as the daemon keeps answering pings meanwhile (see HangCheck).
func (c *Client) do(ctx context.Context, method, route string, in, out any) error {
	if route == api.RoutePing {
		ctx, cancel := context.WithTimeout(ctx, c.hangCheck())
		defer cancel()
		return c.send(ctx, &c.DaemonBuild, method, route, in, out)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A timer, not a goroutine: most requests are answered before the
	// first check is due, and a goroutine started for nothing costs a CLI
	// command a thread wake-up.
	watch := time.AfterFunc(c.hangCheck(), func() { c.watch(ctx, cancel, route) })
	defer watch.Stop()
	err := c.send(ctx, &c.DaemonBuild, method, route, in, out)
	if cause := context.Cause(ctx); errors.Is(cause, ErrUnresponsive) {
		return cause
	}
	return err
}

// watch pings the daemon now and then every HangCheck while a request is
// unanswered (it runs once the request has waited HangCheck), and cancels
// the request when a ping goes unanswered too.
func (c *Client) watch(ctx context.Context, cancel context.CancelCauseFunc, route string) {
	every := c.hangCheck()
	t := time.NewTicker(every)
	defer t.Stop()
	for waited := every; ctx.Err() == nil; waited += every {
		pctx, pcancel := context.WithTimeout(ctx, every)
		err := c.send(pctx, nil, http.MethodGet, api.RoutePing, nil, nil)
		pcancel()
		if err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("%w: a %s request went unanswered for %s and then a ping did too (%v); it may be stuck: see %s, and `kill $(cat %s)` to end it (services keep running)",
				ErrUnresponsive, strings.TrimPrefix(route, "/v1/"), waited, err, paths.DaemonLog(c.Root), paths.DaemonPID(c.Root)))
			return
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// send makes one request; build, if not nil, receives the daemon's release.
func (c *Client) send(ctx context.Context, build *string, method, route string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://tsm"+route, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if build != nil {
		*build = resp.Header.Get(api.BuildHeader)
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error.Message == "" {
			if resp.StatusCode == http.StatusNotFound { // a route this daemon predates
				return fmt.Errorf("daemon answered %s to %s: %w", resp.Status, route, errors.ErrUnsupported)
			}
			return fmt.Errorf("daemon answered %s to %s", resp.Status, route)
		}
		return &APIError{Body: eb.Error}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*rawAnswer); ok {
		raw.header = resp.Header
		raw.body.Reset() // a read repeated after a reset starts over
		if resp.ContentLength > 0 {
			raw.body.Grow(int(resp.ContentLength) + bytes.MinRead)
		}
		if _, err := raw.body.ReadFrom(resp.Body); err != nil {
			return fmt.Errorf("read daemon answer to %s: %w", route, err)
		}
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read daemon answer to %s: %w", route, err)
	}
	return nil
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// StartDaemon launches `tsm daemon run` in its own session, detached from
// this terminal, and waits until it answers. If another CLI started one at
// the same moment, whichever wins the lock serves both.
func (c *Client) StartDaemon(ctx context.Context) error {
	// A plain list's init that found no daemon started one already; a
	// client asked for another binary's daemon (tests) leaves it alone.
	if c.Exe == "" {
		if d, ok := prefetch.StartedDaemon(c.Root); ok {
			ready := os.NewFile(uintptr(d.Ready), "ready")
			defer ready.Close()
			exited := make(chan error, 1)
			go func() { exited <- waitPID(d.PID) }()
			return c.awaitDaemon(ctx, ready, exited, d.LogFrom)
		}
	}
	exe := c.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find the tsm binary to start the daemon: %w", err)
		}
	}
	// Checked before anything is created or opened there: a directory
	// someone else controls could point daemon.log anywhere.
	if err := paths.CheckPrivate(c.Root); err != nil {
		return err
	}
	// Private from the first instant: the daemon would close it, but
	// daemon.log is created before the daemon runs.
	err := os.MkdirAll(filepath.Dir(c.Root), 0o755)
	if err == nil {
		if err = os.Mkdir(c.Root, 0o700); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil { // e.g. HOME=/nonexistent, as nobody's is
		return fmt.Errorf("cannot create the state directory %s: %w; set TSM_DIR to a directory of your own (or HOME to a home you can write to)", c.Root, err)
	}
	logPath := paths.DaemonLog(c.Root)
	// O_NONBLOCK: opening a FIFO for writing would wait for a reader forever.
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("%s is a symbolic link, which tsm does not follow; remove it", logPath)
	}
	notFile := fmt.Errorf("%s is not a regular file; remove it so that tsm can create its daemon log", logPath)
	if errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EISDIR) { // a FIFO without a reader, a directory
		return notFile
	}
	if err != nil { // err names the path
		return fmt.Errorf("cannot open the daemon log: %w", err)
	}
	defer logf.Close()
	st, err := logf.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return notFile
	}
	// The daemon reports on this pipe that it listens (api.ReadyFDEnv).
	ready, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	defer ready.Close()
	// argv[0] stays "tsm" so a copy of the binary dispatches the same way.
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        []string{"tsm", "daemon", "run"},
		Env:         append(paths.DaemonEnv(os.Environ(), c.Root), api.ReadyFDEnv+"=3"),
		Stdout:      logf,
		Stderr:      logf,
		ExtraFiles:  []*os.File{readyW}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return fmt.Errorf("start the daemon (%s daemon run): %w", exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return c.awaitDaemon(ctx, ready, exited, st.Size())
}

// awaitDaemon waits until the daemon just started says on ready that it
// listens, or else until a daemon answers (another one won the lock) or it
// exited (exited: nil for exit status 0). Its lines in daemon.log start at
// the offset logFrom.
func (c *Client) awaitDaemon(ctx context.Context, ready *os.File, exited chan error, logFrom int64) error {
	logPath := paths.DaemonLog(c.Root)
	if waitReady(ctx, ready) {
		return nil
	}
	// No word from it: it lost the race for the lock to another daemon
	// (which answers soon), or it failed, which its exit says.

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c.Running(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			if err != nil {
				// A daemon that lost the lock race exits 0 (the winner
				// answers soon); anything else is a failure worth showing.
				return fmt.Errorf("the tsm daemon failed to start (%v): %s", err, lastLine(logPath, logFrom))
			}
			exited = nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Its last word says why, if it had one: a daemon that found the lock
	// held by another that does not answer says so, and exits.
	return fmt.Errorf("the tsm daemon did not answer within 10s: %s", lastLine(logPath, logFrom))
}

// waitReady reports whether the daemon wrote its ready byte within 10 s.
// waitPID waits for the child pid to end: nil when it exited with status 0.
func waitPID(pid int) error {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case ws.Exited() && ws.ExitStatus() == 0:
			return nil
		case ws.Exited():
			return fmt.Errorf("exit status %d", ws.ExitStatus())
		}
		return fmt.Errorf("signal: %v", ws.Signal())
	}
}

func waitReady(ctx context.Context, ready *os.File) bool {
	ready.SetReadDeadline(time.Now().Add(10 * time.Second))
	stop := context.AfterFunc(ctx, func() { ready.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var b [1]byte
	n, _ := ready.Read(b[:])
	return n == 1
}

// lastLine returns the last non-empty line that the daemon's log got from
// the offset from (in bytes) on, read from its last 4 KiB: the log keeps
// every earlier daemon's lines too, and a daemon that failed without a word
// must not be blamed on one of theirs.
func lastLine(path string, from int64) string {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "see " + path
	}
	defer f.Close()
	var b []byte
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		const tail = 4 << 10
		b = make([]byte, min(tail, max(0, fi.Size()-from)))
		n, _ := f.ReadAt(b, fi.Size()-int64(len(b)))
		b = b[:n]
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return "see " + path
	}
	return strings.TrimPrefix(text[strings.LastIndexByte(text, '\n')+1:], "tsm: ")
}
