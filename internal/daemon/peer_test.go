package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The socket answers its own user and hangs up on anyone else, even when
// file permissions would let them connect.
func TestSocketRejectsOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	// Not t.TempDir: its parent directory is closed to other users.
	dir, err := os.MkdirTemp("", "tsm-peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sock, 0o777) // only the peer check stands in the way
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "answered") })}
	go srv.Serve(sameUser{ln.(*net.UnixListener), slog.New(slog.DiscardHandler)})
	defer srv.Close()

	if got := dial(sock); got != "answered" {
		t.Errorf("same user: %s", got)
	}
	// The test binary may live in a directory only root can enter: copy it.
	exe := filepath.Join(dir, "daemon.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(exe, b, 0o755)
	cmd := exec.Command(exe, "-test.run=^TestDialHelper$")
	cmd.Env = append(os.Environ(), "TSM_TEST_DIAL="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "dial: rejected") {
		t.Errorf("another user was not rejected:\n%s", out)
	}
}

// TestDialHelper runs as another user for TestSocketRejectsOtherUsers.
func TestDialHelper(t *testing.T) {
	sock := os.Getenv("TSM_TEST_DIAL")
	if sock == "" {
		t.Skip("helper process only")
	}
	fmt.Println("dial:", dial(sock))
}

func dial(sock string) string {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://tsm/")
	if err != nil {
		return "rejected"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
