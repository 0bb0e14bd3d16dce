package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/paths"
)

// fakeDaemon serves root's socket with raw HTTP and sends each request it
// reads (request line and headers) to the returned channel, "" for a
// connection that sent nothing; it answers every request with body.
func fakeDaemon(t *testing.T, root, body string) <-chan string {
	t.Helper()
	ln, err := net.Listen("unix", paths.Socket(root))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	os.Chmod(paths.Socket(root), 0o666)
	got := make(chan string, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			var req strings.Builder
			for {
				line, err := r.ReadString('\n')
				req.WriteString(line)
				if err != nil || line == "\r\n" {
					break
				}
			}
			got <- req.String()
			if req.Len() > 0 {
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\n%s: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", api.BuildHeader, api.Build, len(body), body)
			}
			c.Close()
		}
	}()
	return got
}

// tsmExe returns a path that runs this test binary as tsm (TestMain
// dispatches on the name), in a directory every user may enter.
func tsmExe(t *testing.T) string {
	dir, err := os.MkdirTemp("", "tsm-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "tsm")
	if err := os.Symlink(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// A plain `tsm list` sends its request while the binary initialises
// (package prefetch) and uses that connection: one request, written by the
// prefetch (net/http would add a User-Agent), for the route the client
// would ask, and its answer printed.
func TestListPrefetched(t *testing.T) {
	exe := tsmExe(t)
	root := t.TempDir()
	got := fakeDaemon(t, root, "the table\n")
	for args, uri := range map[string]string{
		"list":                 "/v1/list/table",
		"ls -a":                "/v1/list/table?all=1",
		"list all":             "/v1/list/table?all=1",
		"list running --json":  "/v1/list/json",
		"list --json --all":    "/v1/list/json?all=1",
		"list --all --json -a": "/v1/list/json?all=1",
	} {
		cmd := exec.Command(exe, strings.Fields(args)...)
		cmd.Env = append(os.Environ(), "TSM_DIR="+root)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "the table\n" {
			t.Fatalf("tsm %s: %v\n%s", args, err, out)
		}
		req := <-got
		if want := "GET " + uri + " HTTP/1.1\r\n"; !strings.HasPrefix(req, want) || strings.Contains(req, "User-Agent") {
			t.Errorf("tsm %s: the request was not the prefetched %q:\n%s", args, want, req)
		}
		select {
		case req := <-got:
			t.Errorf("tsm %s: a second request:\n%s", args, req)
		default:
		}
	}
}

// The prefetch checks whose daemon it reached before it sends anything, as
// the client does: another user's `tsm list` sends a 0666 socket of root's
// nothing, and says why.
func TestListPrefetchOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run tsm as another user (uid 65534)")
	}
	exe := tsmExe(t)
	root, err := os.MkdirTemp("", "tsm-peer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	got := fakeDaemon(t, root, "root's table\n")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	// The test binary itself may sit in a directory closed to others.
	bin := filepath.Join(filepath.Dir(exe), "tsm.bin")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(exe)
	os.Symlink(bin, exe)
	cmd := exec.Command(exe, "list")
	cmd.Env = append(os.Environ(), "TSM_DIR="+root, "HOME=/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "runs as uid 0, not as you (uid 65534)") {
		t.Errorf("tsm list as uid 65534:\n%s", out)
	}
	// Two connections, neither of which sent anything: the prefetch's and
	// the client's, each closed after the peer check.
	for range 2 {
		select {
		case req := <-got:
			if req != "" {
				t.Errorf("another user's tsm list sent root's daemon:\n%s", req)
			}
		case <-time.After(2 * time.Second):
			return
		}
	}
}
