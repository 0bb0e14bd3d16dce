package proc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// bootID changes at every boot, unlike btime in /proc/stat, which moves
// whenever the wall clock is stepped and would make live processes look
// like strangers.
var bootID = onceOK(func() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", errors.New("read boot id: empty")
	}
	return id, nil
})

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat. Go has
// no sysconf without cgo; the kernel hands the value to every process in the
// auxiliary vector (AT_CLKTCK), which is where libc's sysconf gets it too.
var clockTicks = sync.OnceValue(func() uint64 {
	const atClkTck = 17
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atClkTck && kv[1] > 0 {
				return uint64(kv[1])
			}
		}
	}
	return 100
})

func ticks(n uint64) time.Duration {
	hz := clockTicks()
	// Split to avoid overflowing int64 nanoseconds on long uptimes.
	return time.Duration(n/hz)*time.Second + time.Duration(n%hz)*time.Second/time.Duration(hz)
}

// sinceBoot reads the clock that /proc/<pid>/stat start times count on:
// CLOCK_BOOTTIME keeps running during suspend, as the start times do.
func sinceBoot() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime(CLOCK_BOOTTIME): %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// procStat holds the fields of /proc/<pid>/stat that tsm uses.
type procStat struct {
	state        byte
	ppid, pgrp   int
	session      int
	flags        uint64 // PF_* of the task
	utime, stime uint64 // clock ticks
	threads      int32
	start        uint64 // clock ticks since boot
	rssPages     uint64
}

var errBadStat = errors.New("malformed /proc/<pid>/stat")

// parseStat parses /proc/<pid>/stat. The command name (field 2) is in
// parentheses but may itself contain spaces and ')' — any process can name
// itself "a) Z 1 (" — so fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	var st procStat
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, errBadStat
	}
	rest := b[i+1:]
	field := 2
	for field < 24 {
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return st, errBadStat
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		tok := rest[:end]
		rest = rest[end:]
		field++
		var ok = true
		switch field {
		case 3:
			st.state = tok[0]
		case 4:
			st.ppid, ok = atoi(tok)
		case 5:
			st.pgrp, ok = atoiSigned(tok)
		case 6:
			st.session, ok = atoiSigned(tok)
		case 9:
			st.flags, ok = atou(tok)
		case 14:
			st.utime, ok = atou(tok)
		case 15:
			st.stime, ok = atou(tok)
		case 20:
			var n int
			n, ok = atoi(tok)
			st.threads = int32(n)
		case 22:
			st.start, ok = atou(tok)
		case 24:
			st.rssPages, ok = atou(tok)
		}
		if !ok {
			return st, errBadStat
		}
	}
	return st, nil
}

// atou parses a decimal without allocating; /proc is read in hot loops.
func atou[T string | []byte](b T) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func atoi[T string | []byte](b T) (int, bool) {
	n, ok := atou(b)
	return int(n), ok && n <= math.MaxInt32
}

// atoiSigned also takes a negative number: a task being torn down (state
// X) shows -1 as its process group and session.
func atoiSigned(b []byte) (int, bool) {
	if len(b) > 1 && b[0] == '-' {
		n, ok := atoi(b[1:])
		return -n, ok
	}
	return atoi(b)
}

// readProcFile reads a whole /proc file into buf's storage with raw system
// calls: os.Open would also try to register every file with the netpoller,
// a wasted system call per file when scanning all processes.
func readProcFile(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readFD(fd, buf, false)
}

// readFD reads fd to the end. With oneRecord, a short read is taken as the
// end: files that the kernel renders as a single seq_file record (stat,
// not net/tcp) come whole in one read if the buffer fits them, which saves
// the read that would only return EOF — one system call in five per
// process during a Tree scan.
func readFD(fd int, buf []byte, oneRecord bool) ([]byte, error) {
	if cap(buf) < 1024 {
		buf = make([]byte, 0, 1024)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		want := cap(buf) - len(buf)
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+n]
		if n == 0 || (oneRecord && n < want) {
			return buf, nil
		}
	}
}

// gone reports errors that mean the process disappeared under us.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

func readStatFile(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readFD(fd, buf, true)
}

func procPath(pid int, file string) string {
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

func readStat(pid int, buf []byte) (procStat, error) {
	b, err := readStatFile(procPath(pid, "stat"), buf)
	if gone(err) || (err == nil && len(b) == 0) {
		return procStat{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	if err != nil {
		return procStat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	st, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return st, nil
}

// kernel is true for kernel threads, which have no environment or files.
func (st procStat) kernel() bool {
	const pfKthread = 0x00200000 // PF_KTHREAD, include/linux/sched.h
	return st.flags&pfKthread != 0
}

// dead covers zombies (exited, not yet reaped) and tasks being torn down.
func (st procStat) dead() bool { return st.state == 'Z' || st.state == 'X' || st.state == 'x' }

func identify(pid int) (Identity, error) {
	var buf [1024]byte
	st, err := readStat(pid, buf[:0])
	if err != nil {
		return Identity{}, err
	}
	if st.dead() {
		return Identity{}, fmt.Errorf("pid %d is a zombie: %w", pid, ErrNoProcess)
	}
	boot, err := bootID()
	if err != nil {
		return Identity{}, err
	}
	return Identity{PID: pid, StartTime: st.start, BootID: boot}, nil
}

// readUsage is the Linux source of Sampler: one read of /proc/<pid>/stat,
// no gopsutil, and above all no child processes, which the daemon's
// wait4(-1) reaper would collect.
func readUsage(id Identity) (usage, error) {
	var buf [1024]byte
	st, err := readStat(id.PID, buf[:0])
	if err != nil {
		return usage{}, err
	}
	at := time.Now()
	up, err := sinceBoot()
	if err != nil {
		return usage{}, err
	}
	boot, err := bootID()
	if err != nil {
		return usage{}, err
	}
	if st.dead() {
		return usage{}, fmt.Errorf("pid %d is a zombie: %w", id.PID, ErrNoProcess)
	}
	if st.start != id.StartTime || boot != id.BootID {
		return usage{}, notSame(id.PID)
	}
	return usage{
		at:      at,
		cpu:     ticks(st.utime + st.stime),
		age:     up - ticks(st.start),
		rss:     st.rssPages * uint64(os.Getpagesize()),
		threads: st.threads,
	}, nil
}

// startedAt is when the process id names started, by the wall clock.
func startedAt(id Identity) (time.Time, error) {
	up, err := sinceBoot()
	if err != nil {
		return time.Time{}, err
	}
	return time.Now().Add(ticks(id.StartTime) - up), nil
}
