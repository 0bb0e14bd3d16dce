package proc

import (
	"context"

	gnet "github.com/shirou/gopsutil/v4/net"
)

func lingering(port int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lsofTimeout)
	defer cancel()
	conns, err := gnet.ConnectionsWithContext(ctx, "tcp")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range conns {
		if c.Laddr.Port == uint32(port) && c.Status != "LISTEN" && c.Pid == 0 {
			n++
		}
	}
	return n, nil
}
