package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// procEntry is one process as scanProcs reads it.
type procEntry struct {
	Member
	uid    uint32 // valid only when scanProcs was asked for owners
	kernel bool
}

// scanProcs reads /proc/<pid>/stat of every process and hands each to
// visit; with owners, also the owner (the effective UID, which /proc/<pid>
// files belong to), from the same open. A process that exited meanwhile or
// is not ours to read is skipped; any other failure is noted in *missed
// (the first one) and the process skipped. The error is for failures that
// stop the whole scan.
func scanProcs(owners bool, missed *error, visit func(procEntry)) error {
	pids, err := allPIDs()
	if err != nil {
		return err
	}
	boot, err := bootID()
	if err != nil {
		return err
	}
	var st unix.Stat_t
	buf := make([]byte, 0, 1024)
	for _, pid := range pids {
		fd, err := unix.Open(procPath(pid, "stat"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			noteMissed(missed, pid, err)
			continue
		}
		if owners {
			err = unix.Fstat(fd, &st)
		}
		var b []byte
		if err == nil {
			b, err = readFD(fd, buf, true)
		}
		unix.Close(fd)
		if err != nil {
			noteMissed(missed, pid, err)
			continue
		}
		if len(b) == 0 {
			continue // exited after the open
		}
		buf = b
		ps, err := parseStat(b)
		if err != nil {
			noteMissed(missed, pid, err)
			continue
		}
		visit(procEntry{
			Member: Member{
				Identity: Identity{PID: pid, StartTime: ps.start, BootID: boot},
				PGID:     ps.pgrp, SID: ps.session, PPID: ps.ppid,
			},
			uid:    st.Uid,
			kernel: ps.kernel(),
		})
	}
	return nil
}

// noteMissed records the first failure to read a process that is not the
// process being gone or out of our reach.
func noteMissed(missed *error, pid int, err error) {
	if *missed == nil && !gone(err) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		*missed = fmt.Errorf("some processes could not be read: pid %d: %w", pid, err)
	}
}

func family(root int, marker string, since uint64) ([]Member, error) {
	euid := uint32(os.Geteuid())
	var missed error
	var entries []procEntry
	// The owner only matters to the environment rule, and not at all to root.
	err := scanProcs(marker != "" && euid != 0, &missed, func(e procEntry) {
		entries = append(entries, e)
	})
	if err != nil {
		return nil, err
	}
	t := newProcTable(len(entries))
	for _, e := range entries {
		t.add(e.Member)
	}
	t.descendantsOf(root)
	t.groupAndSession(root)
	if marker != "" {
		// Only processes not found yet, and only our own: reading another
		// user's environ fails anyway (unless we are root) and costs a
		// system call or three per process on every stop.
		entry := []byte(marker)
		var env []byte
		for _, e := range entries {
			if t.in[e.PID] || e.kernel || e.PID == root || e.PID <= 1 || e.PID == t.self || (euid != 0 && e.uid != euid) || e.StartTime < since {
				continue
			}
			b, err := readProcFile(procPath(e.PID, "environ"), env)
			if err != nil {
				// Gone, or not ours after all (setuid, dumpable flag).
				noteMissed(&missed, e.PID, err)
				continue
			}
			env = b
			if hasEnvEntry(b, entry) {
				t.addWithDescendants(e.PID)
			}
		}
	}
	return t.result(root), missed
}

// MarkersVisible reports whether FindMarked can see processes' markers
// (Linux reads them from /proc/<pid>/environ).
const MarkersVisible = true

func findMarked(want map[string]bool) (map[string][]Member, error) {
	found := make(map[string][]Member)
	self := os.Getpid()
	euid := uint32(os.Geteuid())
	var missed error
	var env []byte
	err := scanProcs(euid != 0, &missed, func(e procEntry) {
		if e.kernel || e.PID <= 1 || e.PID == self || (euid != 0 && e.uid != euid) {
			return
		}
		b, err := readProcFile(procPath(e.PID, "environ"), env)
		if err != nil {
			noteMissed(&missed, e.PID, err)
			return
		}
		env = b
		if m, ok := oneEnvEntry(b, want); ok {
			found[m] = append(found[m], e.Member)
		}
	})
	if err != nil {
		return nil, err
	}
	for _, ms := range found {
		sortMembers(ms)
	}
	return found, missed
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
	for e := range envEntries(env) {
		if bytes.Equal(e, entry) {
			return true
		}
	}
	return false
}

// oneEnvEntry returns the one entry of want that env holds, and false when
// it holds none or several (an entry repeated counts once).
func oneEnvEntry(env []byte, want map[string]bool) (string, bool) {
	found := ""
	for e := range envEntries(env) {
		if !want[string(e)] || found == string(e) {
			continue
		}
		if found != "" {
			return "", false
		}
		found = string(e)
	}
	return found, found != ""
}

// envEntries yields the entries of a NUL-separated environment block.
func envEntries(env []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(env) > 0 {
			e, rest, _ := bytes.Cut(env, []byte{0})
			if len(e) > 0 && !yield(e) {
				return
			}
			env = rest
		}
	}
}
