package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	okExec := func(context.Context, string) error { return nil }
	for _, tt := range []struct {
		spec string
		port int
		err  string
	}{
		{"tcp", 8000, ""},
		{"tcp", 0, "declares no port"},
		{"tcp:9000", 0, ""},
		{"tcp:x", 0, "not a port"},
		{"tcp:70000", 0, "not a port"},
		{"http://127.0.0.1:8000/health", 0, ""},
		{"https://example.com/", 0, ""},
		{"http://", 0, "not a URL"},
		{"exec:curl -f localhost", 0, ""},
		{"exec:  ", 0, "no command"},
		{"ping", 0, "unknown kind"},
	} {
		_, err := Parse(tt.spec, tt.port, okExec)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("Parse(%q, %d) = %v, want %q", tt.spec, tt.port, err, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "use tcp, tcp:PORT") {
			t.Errorf("Parse(%q): %v does not say what is accepted", tt.spec, err)
		}
	}
}

func TestProbes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
	defer srv.Close()
	p, _ := Parse(srv.URL+"/health", 0, nil)
	if err := p.Check(ctx); err != nil {
		t.Errorf("http 200: %v", err)
	}
	code = http.StatusServiceUnavailable
	if err := p.Check(ctx); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("http 503: %v, want an error naming the status", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	p, _ = Parse("tcp:"+strconv.Itoa(port), 0, nil)
	if err := p.Check(ctx); err != nil {
		t.Errorf("tcp open: %v", err)
	}
	ln.Close()
	if err := p.Check(ctx); err == nil {
		t.Error("tcp closed: healthy")
	}

	failing := errors.New("exit status 1")
	p, _ = Parse("exec:false", 0, func(_ context.Context, cmd string) error {
		if cmd != "false" {
			t.Errorf("exec got %q", cmd)
		}
		return failing
	})
	if err := p.Check(ctx); !errors.Is(err, failing) {
		t.Errorf("exec: %v", err)
	}
}

func TestLogProbe(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/current.out"
	os.WriteFile(out, []byte("Server started (an old run)\n"), 0o644)
	p, err := ParseReady("log:Server started", 0, nil, []string{out, dir + "/missing"}, []int64{27, 0})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Check(ctx); err == nil {
		t.Error("ready on a line of the previous run")
	}
	f, _ := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	defer f.Close()
	f.WriteString("booting\nServer sta")
	if err := p.Check(ctx); err == nil {
		t.Error("ready on half a line")
	}
	f.WriteString("rted on :80\n")
	if err := p.Check(ctx); err != nil {
		t.Errorf("the matching line: %v", err)
	}
	if _, err := ParseReady("log:(", 0, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "log:REGEX") {
		t.Errorf("bad regexp: %v", err)
	}
	if _, err := Parse("log:x", 0, nil); err == nil || !strings.Contains(err.Error(), "--ready only") {
		t.Errorf("log: as a health check: %v", err)
	}
}
