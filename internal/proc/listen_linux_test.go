package proc

import (
	"net"
	"os"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParseTCPTable(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41001 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 41003 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F41 0100007F:D432 06 00000000:00000000 03:00000F5A 00000000     0        0 0 3 0000000000000000
   4: 00000000000000000000000000000000:1F40 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41004 1 0000000000000000 100 0 0 10 0
   5: truncated
`
	type sock struct {
		Port  int
		Inode uint64
	}
	var got []sock
	parseTCPTable([]byte(table), func(port int, inode uint64) { got = append(got, sock{port, inode}) })
	want := []sock{{8000, 41001}, {80, 41002}, {8000, 41004}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseTCPTable (-want +got):\n%s", diff)
	}
}

func TestHasEnvEntry(t *testing.T) {
	env := []byte("A=1\x00TSM_INSTANCE=api/1\x00B=\x00LAST=x")
	for entry, want := range map[string]bool{
		"TSM_INSTANCE=api/1":  true,
		"TSM_INSTANCE=api/":   false,
		"TSM_INSTANCE=api/12": false,
		"SM_INSTANCE=api/1":   false,
		"A=1":                 true,
		"B=":                  true,
		"LAST=x":              true,
		"LAST=":               false,
		"":                    false,
	} {
		if got := hasEnvEntry(env, []byte(entry)); got != want {
			t.Errorf("hasEnvEntry(%q) = %v, want %v", entry, got, want)
		}
	}
}

// TestListenSources checks that the netlink and /proc sources agree on the
// test's own listeners; either may be what a given machine ends up using.
func TestListenSources(t *testing.T) {
	want := map[listenSock]bool{}
	for _, c := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		ln, err := net.Listen(c.network, c.addr)
		if err != nil {
			t.Logf("%s: %v", c.network, err)
			continue
		}
		defer ln.Close()
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		f.Close()
		want[listenSock{ln.Addr().(*net.TCPAddr).Port, st.Ino}] = true
	}

	var viaDiag []listenSock
	if err := diagListening(&viaDiag); err != nil {
		t.Logf("sock_diag unavailable here (%v); only /proc is checked", err)
	}
	var viaProc []listenSock
	if err := scanListening("/proc/net", func(p int, inode uint64) { viaProc = append(viaProc, listenSock{p, inode}) }); err != nil {
		t.Fatal(err)
	}
	for s := range want {
		if viaDiag != nil && !slices.Contains(viaDiag, s) {
			t.Errorf("sock_diag lacks %+v", s)
		}
		if !slices.Contains(viaProc, s) {
			t.Errorf("/proc/net/tcp lacks %+v", s)
		}
	}
	if !sameNetNS(procPath(os.Getpid(), "net")) {
		t.Error("sameNetNS(self) = false")
	}
}

// Past portTTL a process's ports are served from the cache at once and
// its descriptors walked again in the background, after backgroundDelay
// (not beside the list that found them stale).
func TestPortCacheRewalksStaleLater(t *testing.T) {
	cmd, out := startProc(t, procOpts{env: []string{helperEnv + "=listen"}, stdout: true}, helperArgv(t)...)
	helperPort := readInt(t, out)
	helper, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		c := NewPortCache()
		walked := func() time.Time {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.c.procs[helper.PID].walked
		}
		ids := []Identity{helper}
		c.Ports(ids)
		first := walked()
		time.Sleep(portTTL + time.Second)
		if got := c.Ports(ids); !slices.Equal(got[0], []int{helperPort}) {
			t.Fatalf("Ports = %v, want [%d]", got, helperPort)
		}
		synctest.Wait()
		if walked() != first {
			t.Fatal("a stale entry was walked beside the call")
		}
		time.Sleep(backgroundDelay)
		synctest.Wait()
		if !walked().After(first) {
			t.Fatal("a stale entry was not walked again in the background")
		}
	})
}
