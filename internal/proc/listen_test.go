package proc

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
)

func listenLocal(t *testing.T, network, addr string) int {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestListenersSelf(t *testing.T) {
	for _, c := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		t.Run(c.network, func(t *testing.T) {
			port := listenLocal(t, c.network, c.addr)
			got, err := Listeners(port)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(got, func(l Listener) bool { return l.PID == os.Getpid() })
			if i < 0 {
				t.Fatalf("Listeners(%d) = %+v, want the test process %d", port, got, os.Getpid())
			}
			if want := strings.Join(os.Args, " "); got[i].Command != want {
				t.Errorf("Command = %q, want %q", got[i].Command, want)
			}
			ports, err := ListeningPorts(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ports, port) {
				t.Errorf("ListeningPorts(self) = %v lacks %d", ports, port)
			}
		})
	}
}

func TestListenersOtherProcess(t *testing.T) {
	cmd, out := startProc(t, procOpts{env: []string{helperEnv + "=listen"}, stdout: true}, helperArgv(t)...)
	port := readInt(t, out)
	got, err := Listeners(port)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].PID != cmd.Process.Pid {
		t.Fatalf("Listeners(%d) = %+v, want only the helper %d", port, got, cmd.Process.Pid)
	}
	if !strings.Contains(got[0].Command, "-test.run=^TestProcHelper$") {
		t.Errorf("Command = %q, want the helper's arguments", got[0].Command)
	}
	ports, err := ListeningPorts(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ports, []int{port}) {
		t.Errorf("ListeningPorts(helper) = %v, want [%d]", ports, port)
	}
}

func TestListenersFreePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	got, err := Listeners(port)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Listeners(closed port %d) = %+v, want none", port, got)
	}
	if _, err := Listeners(70000); err == nil {
		t.Error("Listeners(70000) accepted an impossible port")
	}
}

func TestListeningPortsQuietAndMissing(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	ports, err := ListeningPorts(cmd.Process.Pid)
	if err != nil || len(ports) != 0 {
		t.Errorf("ListeningPorts(sleep) = %v, %v; want none", ports, err)
	}
	if _, err := ListeningPorts(0x7ffffff0); !errors.Is(err, ErrNoProcess) {
		t.Errorf("ListeningPorts(missing) error = %v, want ErrNoProcess", err)
	}
}

func TestCommandLine(t *testing.T) {
	if got, want := commandLine(os.Getpid()), strings.Join(os.Args, " "); got != want {
		t.Errorf("commandLine(self) = %q, want %q", got, want)
	}
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	// Right after exec the kernel may still show an empty cmdline.
	eventually(t, "the sleep's command line", func() bool { return commandLine(cmd.Process.Pid) == "sleep 60" })
	if got := commandLine(0x7ffffff0); got != "" {
		t.Errorf("commandLine(missing) = %q", got)
	}
}

func BenchmarkListeners(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for b.Loop() {
		if got, err := Listeners(port); err != nil || len(got) != 1 {
			b.Fatalf("Listeners = %v, %v", got, err)
		}
	}
}

func BenchmarkListeningPorts(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	for b.Loop() {
		if _, err := ListeningPorts(os.Getpid()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPortCacheSeesChanges checks that the cache never hides a socket that
// was opened or closed since the previous call.
func TestPortCacheSeesChanges(t *testing.T) {
	self, err := Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	cmd, out := startProc(t, procOpts{env: []string{helperEnv + "=listen"}, stdout: true}, helperArgv(t)...)
	helperPort := readInt(t, out)
	helper, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	c := NewPortCache()
	ids := []Identity{self, helper}
	got := c.Ports(ids)
	if len(got) != 2 || !slices.Equal(got[1], []int{helperPort}) {
		t.Fatalf("Ports = %v, want the helper's [%d] second", got, helperPort)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if got := c.Ports(ids); !slices.Contains(got[0], port) {
		t.Errorf("after listening on %d, Ports(self) = %v", port, got[0])
	}
	ln.Close()
	if got := c.Ports(ids); slices.Contains(got[0], port) {
		t.Errorf("after closing %d, Ports(self) = %v still has it", port, got[0])
	}
	if got := c.Ports(ids); !slices.Equal(got[1], []int{helperPort}) {
		t.Errorf("Ports(helper) = %v, want [%d]", got[1], helperPort)
	}
}

func BenchmarkPortCache100(b *testing.B) {
	self, err := Identify(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	ids := slices.Repeat([]Identity{self}, 100)
	c := NewPortCache()
	for b.Loop() {
		c.Ports(ids)
	}
}

func BenchmarkListeningPorts100(b *testing.B) {
	for b.Loop() {
		for range 100 {
			ListeningPorts(os.Getpid())
		}
	}
}
