package proc

import (
	"context"
	"syscall"

	gnet "github.com/shirou/gopsutil/v4/net"
)

func bindings(pids []int, port int) ([]Binding, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lsofTimeout)
	defer cancel()
	conns, err := gnet.ConnectionsPidWithContext(ctx, "inet", 0)
	if err != nil {
		return nil, err
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	var out []Binding
	for _, c := range conns {
		if (pids != nil && !want[int(c.Pid)]) || (port > 0 && int(c.Laddr.Port) != port) {
			continue
		}
		switch {
		case c.Type == syscall.SOCK_STREAM && c.Status == "LISTEN":
			out = append(out, Binding{PID: int(c.Pid), Proto: "tcp", Port: int(c.Laddr.Port)})
		case c.Type == syscall.SOCK_DGRAM && c.Raddr.Port == 0:
			out = append(out, Binding{PID: int(c.Pid), Proto: "udp", Port: int(c.Laddr.Port)})
		}
	}
	return out, nil
}

// Owner returns the user ID pid runs as.
func Owner(pid int) (int, error) {
	k, err := kinfo(pid)
	if err != nil {
		return -1, err
	}
	return int(k.Eproc.Ucred.Uid), nil
}
