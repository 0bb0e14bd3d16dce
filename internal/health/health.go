// Package health owns probes: whether a process answers, asked one way
// (a TCP connect, an HTTP request, a command's exit code). It neither
// schedules nor runs processes itself: the supervisor times the checks
// and injects how a command is run (the daemon must reap its own
// children). It imports only the standard library.
package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Probe asks once whether the process is healthy: nil means yes. Check
// returns when ctx is done at the latest.
type Probe interface {
	Check(ctx context.Context) error
}

// Settings are a process's health check: the probe (Spec) and its timing.
type Settings struct {
	Spec     string        // see Parse
	Interval time.Duration // between the end of one check and the start of the next
	Timeout  time.Duration // one check fails after this
	Retries  int           // consecutive failures that restart the process
}

// Defaults for Settings left zero.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 5 * time.Second
	DefaultRetries  = 3
)

// WithDefaults fills the zero fields of s.
func (s Settings) WithDefaults() Settings {
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Retries <= 0 {
		s.Retries = DefaultRetries
	}
	return s
}

// Exec runs a shell command line for an exec: probe and returns nil when
// it exits 0; it must end the command when ctx is done.
type Exec func(ctx context.Context, command string) error

// ParseReady reads a readiness probe: what Parse accepts, or "log:REGEX"
// (ready once a line the process writes to one of logs after it started
// matches REGEX; logs are read from their size at spawn, from).
func ParseReady(spec string, port int, exec Exec, logs []string, from []int64) (Probe, error) {
	if !strings.HasPrefix(spec, "log:") {
		return Parse(spec, port, exec)
	}
	re, err := regexp.Compile(strings.TrimPrefix(spec, "log:"))
	if err != nil || re.String() == "" {
		return nil, fmt.Errorf("readiness check %q: not a regular expression after log:; use log:REGEX (e.g. 'log:Listening on'), tcp, tcp:PORT, http://HOST:PORT/PATH or exec:COMMAND", spec)
	}
	return &logProbe{re: re, files: logs, offs: append([]int64(nil), from...)}, nil
}

// Parse reads a probe: "tcp" (the process's declared port, port), "tcp:PORT",
// "http://HOST:PORT/PATH" or "https://…" (healthy on a 2xx or 3xx answer),
// or "exec:COMMAND" (healthy when the command, run by exec, exits 0). A bad
// spec is an error that shows the accepted forms.
func Parse(spec string, port int, exec Exec) (Probe, error) {
	bad := func(why string) error {
		return fmt.Errorf("health check %q: %s; use tcp, tcp:PORT, http://HOST:PORT/PATH or exec:COMMAND", spec, why)
	}
	switch {
	case spec == "tcp":
		if port <= 0 {
			return nil, bad("the process declares no port (give one: tcp:PORT)")
		}
		return tcpProbe{port}, nil
	case strings.HasPrefix(spec, "tcp:"):
		p, err := strconv.Atoi(strings.TrimPrefix(spec, "tcp:"))
		if err != nil || p < 1 || p > 65535 {
			return nil, bad("not a port after tcp:")
		}
		return tcpProbe{p}, nil
	case strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://"):
		u, err := url.Parse(spec)
		if err != nil || u.Host == "" {
			return nil, bad("not a URL")
		}
		return httpProbe{spec}, nil
	case strings.HasPrefix(spec, "exec:"):
		cmd := strings.TrimSpace(strings.TrimPrefix(spec, "exec:"))
		if cmd == "" {
			return nil, bad("no command after exec:")
		}
		if exec == nil {
			return nil, bad("commands cannot be run here")
		}
		return execProbe{cmd, exec}, nil
	}
	if strings.HasPrefix(spec, "log:") {
		return nil, bad("log: is for --ready only")
	}
	return nil, bad("unknown kind")
}

type tcpProbe struct{ port int }

// Check connects to the port on the loopback interface, IPv4 then IPv6.
func (p tcpProbe) Check(ctx context.Context) error {
	var d net.Dialer
	var errs []error
	for _, host := range []string{"127.0.0.1", "::1"} {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p.port)))
		if err == nil {
			c.Close()
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("nothing accepts connections on port %d: %w", p.port, errors.Join(errs...))
}

type httpProbe struct{ url string }

// client follows no redirect: a 3xx is an answer, and a redirect to
// another host must not make the probe depend on it.
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

func (p httpProbe) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", p.url, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", p.url, resp.Status)
	}
	return nil
}

type execProbe struct {
	cmd  string
	exec Exec
}

func (p execProbe) Check(ctx context.Context) error {
	if err := p.exec(ctx, p.cmd); err != nil {
		return fmt.Errorf("%s: %w", p.cmd, err)
	}
	return nil
}

// logProbe looks for a matching line in what was appended to the files
// since the last check; a partial last line waits for its end. It is
// stateful: one goroutine checks it.
type logProbe struct {
	re    *regexp.Regexp
	files []string
	offs  []int64
}

func (p *logProbe) Check(ctx context.Context) error {
	for i, name := range p.files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && fi.Size() < p.offs[i] {
			p.offs[i] = 0 // truncated (rotated): read it from the start
		}
		b, _ := io.ReadAll(io.NewSectionReader(f, p.offs[i], 1<<62))
		f.Close()
		end := bytes.LastIndexByte(b, '\n') + 1
		for line := range bytes.Lines(b[:end]) {
			if p.re.Match(bytes.TrimRight(line, "\r\n")) {
				return nil
			}
		}
		p.offs[i] += int64(end)
	}
	return fmt.Errorf("no line matches %q yet", p.re.String())
}
