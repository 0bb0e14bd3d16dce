package proc

import (
	"context"
	"fmt"
	"strings"
	"time"

	gnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// lsofTimeout bounds gopsutil's lsof run (macOS exposes sockets per process
// only through libproc): lsof can stall on a busy machine and tsm must not
// hang with it. The darwin reaper waits only for tracked children, so the
// lsof child is not stolen from gopsutil.
const lsofTimeout = 10 * time.Second

func listeners(port int) ([]Listener, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lsofTimeout)
	defer cancel()
	conns, err := gnet.ConnectionsPidWithContext(ctx, "tcp", 0)
	if err != nil {
		return nil, err
	}
	seen := make(map[int32]bool)
	var out []Listener
	for _, c := range conns {
		if c.Status != "LISTEN" || c.Laddr.Port != uint32(port) || seen[c.Pid] {
			continue
		}
		seen[c.Pid] = true
		out = append(out, Listener{PID: int(c.Pid), Command: commandLine(int(c.Pid))})
	}
	return out, nil
}

func listeningPorts(pid int) ([]int, error) {
	// lsof answers "nothing" both for a quiet process and a missing one.
	if _, err := kinfo(pid); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), lsofTimeout)
	defer cancel()
	conns, err := gnet.ConnectionsPidWithContext(ctx, "tcp", int32(pid))
	if err != nil {
		return nil, fmt.Errorf("pid %d: sockets: %w", pid, err)
	}
	var ports []int
	for _, c := range conns {
		if c.Status == "LISTEN" && int(c.Pid) == pid {
			ports = append(ports, int(c.Laddr.Port))
		}
	}
	return ports, nil
}

// commandLine uses kern.procargs2 (through gopsutil), which the kernel only
// answers for our own processes unless we are root.
func commandLine(pid int) string {
	args, err := (&process.Process{Pid: int32(pid)}).CmdlineSlice()
	if err != nil {
		return ""
	}
	return strings.Join(args, " ")
}

// portCache on macOS asks lsof about each process: there is no cheap way
// to see which process holds a socket.
type portCache struct{}

func newPortCache() portCache { return portCache{} }

func (portCache) ports(ids []Identity, _ time.Time) ([][]int, []Identity) {
	out := make([][]int, len(ids))
	for i, id := range ids {
		out[i], _ = listeningPorts(id.PID)
	}
	return out, nil
}

func (portCache) rewalk([]Identity, time.Time) {}
