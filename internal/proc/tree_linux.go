package proc

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

type procEntry struct {
	pid, pgrp, session int
	uid                uint32 // valid only when the environment rule needs it
	kernel             bool
	start              uint64 // clock ticks since boot
}

func tree(root int, marker string, since uint64) ([]int, error) {
	pids, err := allPIDs()
	if err != nil {
		return nil, err
	}
	f := newFamily(len(pids))
	entries := make([]procEntry, 0, len(pids))
	euid := uint32(os.Geteuid())
	// The owner only matters to the environment rule, and not at all to root.
	needOwner := marker != "" && euid != 0
	var st unix.Stat_t
	buf := make([]byte, 0, 1024)
	for _, pid := range pids {
		// One open serves both the stat fields and the owner: files under
		// /proc/<pid> belong to the process's effective UID.
		fd, err := unix.Open(procPath(pid, "stat"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // exited since the directory was listed
		}
		if needOwner {
			err = unix.Fstat(fd, &st)
		}
		var b []byte
		if err == nil {
			b, err = readFD(fd, buf, true)
		}
		unix.Close(fd)
		if err != nil || len(b) == 0 {
			continue
		}
		buf = b
		ps, err := parseStat(b)
		if err != nil {
			continue
		}
		f.link(pid, ps.ppid)
		entries = append(entries, procEntry{pid: pid, pgrp: ps.pgrp, session: ps.session, uid: st.Uid, kernel: ps.kernel(), start: ps.start})
	}

	f.descendantsOf(root)
	for _, e := range entries {
		if e.pgrp == root || e.session == root {
			f.addWithDescendants(e.pid)
		}
	}
	if marker != "" {
		// Only processes not found yet, and only our own: reading another
		// user's environ fails anyway (unless we are root) and costs a
		// system call or three per process on every stop.
		self := os.Getpid()
		entry := []byte(marker)
		var env []byte
		for _, e := range entries {
			if f.in[e.pid] || e.kernel || e.pid == root || e.pid <= 1 || e.pid == self || (euid != 0 && e.uid != euid) || e.start < since {
				continue
			}
			b, err := readProcFile(procPath(e.pid, "environ"), env)
			if err != nil {
				continue // gone, or not ours after all (setuid, dumpable flag)
			}
			env = b
			if hasEnvEntry(b, entry) {
				f.addWithDescendants(e.pid)
			}
		}
	}
	return f.result(root), nil
}

// allPIDs lists the thread-group leaders in /proc; threads live under
// /proc/<pid>/task and never show up here.
func allPIDs() ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(names))
	for _, name := range names {
		if pid, ok := atoi(name); ok && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// hasEnvEntry reports whether the NUL-separated environment block env holds
// exactly entry: "K=v" must not match "K=v2" or "XK=v".
func hasEnvEntry(env, entry []byte) bool {
	for len(env) > 0 {
		i := bytes.IndexByte(env, 0)
		if i < 0 {
			return bytes.Equal(env, entry)
		}
		if bytes.Equal(env[:i], entry) {
			return true
		}
		env = env[i+1:]
	}
	return false
}
