package proc

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"
)

// sZOMB is p_stat of a zombie (sys/proc.h); x/sys/unix does not export it.
const sZOMB = 5

// bootID prefers the kernel's per-boot UUID. kern.boottime is not fixed:
// macOS re-derives it as now - uptime whenever the clock is slewed or
// stepped (NTP, sleep/wake), so a boot ID built from it would change under
// running services and make tsm disown them. kern.boottime seconds remain
// as a fallback for systems without kern.bootsessionuuid.
var bootID = onceOK(func() (string, error) {
	if u, err := unix.Sysctl("kern.bootsessionuuid"); err == nil && u != "" {
		return u, nil
	}
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil {
		return "", fmt.Errorf("read boot time: %w", err)
	}
	return strconv.FormatInt(int64(tv.Sec), 10), nil
})

// kinfo reads the kernel's process record. A PID that does not exist
// yields a zero-length answer, which x/sys/unix reports as EIO.
func kinfo(pid int) (*unix.KinfoProc, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if errors.Is(err, unix.EIO) || errors.Is(err, unix.ESRCH) || (err == nil && int(k.Proc.P_pid) != pid) {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	return k, nil
}

func identify(pid int) (Identity, error) {
	k, err := kinfo(pid)
	if err != nil {
		return Identity{}, err
	}
	if k.Proc.P_stat == sZOMB {
		return Identity{}, fmt.Errorf("pid %d is a zombie: %w", pid, ErrNoProcess)
	}
	boot, err := bootID()
	if err != nil {
		return Identity{}, err
	}
	return Identity{PID: pid, StartTime: kinfoStart(k), BootID: boot}, nil
}

// kinfoStart is a process's start time as Identity.StartTime holds it.
func kinfoStart(k *unix.KinfoProc) uint64 {
	st := k.Proc.P_starttime
	return uint64(st.Sec)*1_000_000 + uint64(st.Usec)
}

// readUsage asks libproc through gopsutil (there is no sysctl for CPU time
// or RSS). gopsutil ignores libproc failures and returns zeros, so the
// identity is checked after the reads too: numbers read from a process that
// died and whose PID was reused in between are thrown away.
func readUsage(id Identity) (usage, error) {
	check := func() error {
		cur, err := identify(id.PID)
		if err != nil {
			return err
		}
		if cur != id {
			return notSame(id.PID)
		}
		return nil
	}
	if err := check(); err != nil {
		return usage{}, err
	}
	p := &process.Process{Pid: int32(id.PID)}
	times, err := p.Times()
	if err != nil {
		return usage{}, fmt.Errorf("pid %d: cpu times: %w", id.PID, err)
	}
	at := time.Now()
	mem, err := p.MemoryInfo()
	if err != nil {
		return usage{}, fmt.Errorf("pid %d: memory: %w", id.PID, err)
	}
	threads, err := p.NumThreads()
	if err != nil {
		return usage{}, fmt.Errorf("pid %d: threads: %w", id.PID, err)
	}
	if err := check(); err != nil {
		return usage{}, err
	}
	cpu := time.Duration((times.User + times.System) * float64(time.Second))
	return usage{
		at:      at,
		cpu:     cpu,
		age:     at.Sub(time.UnixMicro(int64(id.StartTime))),
		rss:     mem.RSS,
		threads: threads,
	}, nil
}

// startedAt is when the process id names started, by the wall clock.
func startedAt(id Identity) (time.Time, error) {
	return time.UnixMicro(int64(id.StartTime)), nil
}
