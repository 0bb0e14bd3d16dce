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
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/paths"
)

// Client talks to the daemon of one state directory.
type Client struct {
	Root string
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
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
	return c
}

// APIError wraps an error envelope from the daemon.
type APIError struct{ Body api.Error }

func (e *APIError) Error() string { return e.Body.Message }

// Ping asks the daemon about itself without starting one.
func (c *Client) Ping(ctx context.Context) (api.Ping, error) {
	var p api.Ping
	err := c.do(ctx, http.MethodGet, api.RoutePing, nil, &p)
	return p, err
}

// Running reports whether a daemon answers.
func (c *Client) Running(ctx context.Context) bool {
	_, err := c.Ping(ctx)
	return err == nil
}

// Call sends a request, starting the daemon first if none answers.
func (c *Client) Call(ctx context.Context, method, route string, in, out any) error {
	err := c.do(ctx, method, route, in, out)
	// A daemon that is dying (kill -9) may still accept and then reset the
	// connection. Reads are safe to repeat once it is gone; writes are not
	// repeated, since the old daemon may have acted on them.
	for try := 0; try < 50 && method == http.MethodGet && isReset(err); try++ {
		time.Sleep(20 * time.Millisecond)
		err = c.do(ctx, method, route, in, out)
	}
	if isReset(err) {
		return fmt.Errorf("lost the connection to the tsm daemon (it may have crashed; see %s; the next command starts a new one): %w",
			paths.DaemonLog(c.Root), err)
	}
	if !isDialError(err) {
		return err
	}
	if err := c.StartDaemon(ctx); err != nil {
		return err
	}
	return c.do(ctx, method, route, in, out)
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Get is Call with a query string.
func (c *Client) Get(ctx context.Context, route string, query url.Values, out any) error {
	if len(query) > 0 {
		route += "?" + query.Encode()
	}
	return c.Call(ctx, http.MethodGet, route, nil, out)
}

func (c *Client) do(ctx context.Context, method, route string, in, out any) error {
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
	c.DaemonBuild = resp.Header.Get(api.BuildHeader)
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error.Message == "" {
			return fmt.Errorf("daemon answered %s to %s", resp.Status, route)
		}
		return &APIError{Body: eb.Error}
	}
	if out == nil {
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
	exe := c.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find the tsm binary to start the daemon: %w", err)
		}
	}
	if err := os.MkdirAll(c.Root, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", c.Root, err)
	}
	logPath := paths.DaemonLog(c.Root)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logf.Close()
	// argv[0] stays "tsm" so a copy of the binary dispatches the same way.
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        []string{"tsm", "daemon", "run"},
		Env:         append(os.Environ(), "TSM_DIR="+c.Root),
		Stdout:      logf,
		Stderr:      logf,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the daemon (%s daemon run): %w", exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

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
				return fmt.Errorf("the tsm daemon failed to start (%v): %s", err, lastLine(logPath))
			}
			exited = nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("the tsm daemon did not answer within 10s; see %s", logPath)
}

// lastLine returns the last non-empty line of a small log file.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "see " + path
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimPrefix(lines[len(lines)-1], "tsm: ")
}
