package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/testutil"
)

// A daemon that accepts a request and never answers it (nor a ping) does
// not hang the command: the client gives up with advice.
func TestUnresponsiveDaemon(t *testing.T) {
	root := stateDir(t)
	ln, err := net.Listen("unix", paths.Socket(root))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	c := newClient(root)
	c.HangCheck = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := c.Stop(context.Background(), api.TargetsRequest{Targets: []string{"all"}})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnresponsive) || !strings.Contains(err.Error(), "daemon.log") {
			t.Errorf("err = %v, want ErrUnresponsive with advice", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the client hangs on a daemon that never answers")
	}
	if _, err := c.Ping(context.Background()); err == nil {
		t.Error("a ping to a daemon that never answers succeeded")
	}
}

// A long operation is not cut short while the daemon answers pings: the
// deadline scales with what the daemon is doing, not with a guess.
func TestLongOperationIsNotCut(t *testing.T) {
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.RouteStop {
			time.Sleep(5 * 400 * time.Millisecond)
		}
		if r.URL.Path == api.RoutePing {
			json.NewEncoder(w).Encode(api.Ping{})
			return
		}
		json.NewEncoder(w).Encode([]api.Result{})
	}))
	c.HangCheck = 400 * time.Millisecond
	if _, err := c.Stop(context.Background(), api.TargetsRequest{Targets: []string{"all"}}); err != nil {
		t.Errorf("a stop that takes 5 hang checks: %v", err)
	}
}

// The client talks only to a daemon of its own user: another user's
// socket, whether its mode keeps us out (0600) or lets us in (0666), is
// refused with what is wrong, never "daemon not running".
func TestOtherUsersSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user (uid 65534)")
	}
	// Not t.TempDir: its parent directory is closed to other users.
	dir, err := os.MkdirTemp("", "tsm-peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	for _, c := range []struct {
		dirMode, mode os.FileMode
		want          string
	}{
		{0o755, 0o600, "permission denied connecting to .* which belongs to uid 0, not to you \\(uid 65534\\)"},
		{0o755, 0o666, "the tsm daemon on .* runs as uid 0, not as you \\(uid 65534\\): tsm sends it nothing"},
		// The socket cannot even be looked at: its directory keeps us out.
		{0o700, 0o666, "permission denied connecting to .*/700-666/tsm.sock: .*/700-666 belongs to uid 0, not to you \\(uid 65534\\), and keeps you out: it is another user's state directory"},
	} {
		mode, want := c.mode, c.want
		root := filepath.Join(dir, fmt.Sprintf("%o-%o", c.dirMode, mode))
		os.Mkdir(root, 0o755)
		ln, err := net.Listen("unix", paths.Socket(root))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		os.Chmod(paths.Socket(root), mode)
		os.Chmod(root, c.dirMode)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Errorf("another user's client reached the daemon: %s", r.URL.Path)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		out := testutil.RunAs(t, testutil.Nobody, "TestOtherUserHelper", "TSM_TEST_ROOT="+root)
		if !regexp.MustCompile(want).MatchString(string(out)) {
			t.Errorf("socket mode %o: got\n%s\nwant %q", mode, out, want)
		}
	}
}

// TestOtherUserHelper runs as another user for TestOtherUsersSocket.
func TestOtherUserHelper(t *testing.T) {
	root := os.Getenv("TSM_TEST_ROOT")
	if root == "" {
		t.Skip("helper process only")
	}
	_, err := newClient(root).List(context.Background())
	fmt.Println("list:", err)
}
