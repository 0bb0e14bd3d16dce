package proc

import (
	"os"
	"syscall"
)

// udpBoundHex is the state /proc/net/udp shows for a bound socket that is
// not connected (TCP_CLOSE, which UDP reuses).
const udpBoundHex = "07"

func bindings(pids []int, port int) ([]Binding, error) {
	type sock struct {
		proto string
		port  int
	}
	socks := make(map[uint64]sock)
	add := func(proto string) func(int, uint64) {
		return func(p int, inode uint64) {
			if port == 0 || p == port {
				socks[inode] = sock{proto, p}
			}
		}
	}
	if err := listenTable("", add("tcp")); err != nil {
		return nil, err
	}
	udp := add("udp")
	for _, name := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		if b, err := readProcFile(name, nil); err == nil {
			parseSockTable(b, udpBoundHex, udp)
		}
	}
	if len(socks) == 0 {
		return nil, nil
	}
	if pids == nil {
		var err error
		if pids, err = allPIDs(); err != nil {
			return nil, err
		}
	}
	var out []Binding
	var names []string
	for _, pid := range pids {
		names, _ = socketInodes(pid, names, func(inode uint64) bool {
			if s, ok := socks[inode]; ok {
				out = append(out, Binding{PID: pid, Proto: s.proto, Port: s.port})
			}
			return true
		})
	}
	return out, nil
}

// Owner returns the user ID pid runs as.
func Owner(pid int) (int, error) {
	fi, err := os.Stat(procPath(pid, ""))
	if err != nil {
		return -1, err
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid), nil
}
