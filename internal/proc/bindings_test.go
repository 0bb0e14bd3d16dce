package proc

import (
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
)

func TestBindingsSelf(t *testing.T) {
	tcpPort := listenLocal(t, "tcp", "127.0.0.1:0")
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	udpPort := uc.LocalAddr().(*net.UDPAddr).Port
	me := os.Getpid()

	got, err := Bindings([]int{me}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Binding{{me, "tcp", tcpPort}, {me, "udp", udpPort}} {
		if !slices.Contains(got, want) {
			t.Errorf("Bindings(self) = %v, missing %v", got, want)
		}
	}
	got, err = Bindings(nil, udpPort)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, Binding{me, "udp", udpPort}) {
		t.Errorf("Bindings(all, %d) = %v, missing this process", udpPort, got)
	}
	for _, b := range got {
		if b.Port != udpPort {
			t.Errorf("Bindings(all, %d) returned another port: %v", udpPort, b)
		}
	}
	if uid, err := Owner(me); err != nil || uid != os.Getuid() {
		t.Errorf("Owner(self) = %d, %v; want %d", uid, err, os.Getuid())
	}
	if _, err := Bindings(nil, 70000); err == nil {
		t.Error("port 70000 accepted")
	}
}

func TestFindCarriers(t *testing.T) {
	if !MarkersVisible {
		t.Skip("environments are not readable here")
	}
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), "TSM_TEST_DIR=/x/carrier-"+strconv.Itoa(os.Getpid()), "TSM_TEST_KEY=v1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var got []Carrier
	eventually(t, "the sleep found by its entry", func() bool {
		got, _ = FindCarriers("TSM_TEST_DIR=/x/carrier-"+strconv.Itoa(os.Getpid()), "TSM_TEST_KEY")
		return len(got) == 1
	})
	if got[0].PID != cmd.Process.Pid || got[0].Env["TSM_TEST_KEY"] != "v1" || got[0].Command != "sleep 60" {
		t.Errorf("FindCarriers = %+v, want pid %d with TSM_TEST_KEY=v1, command sleep 60", got, cmd.Process.Pid)
	}
}
