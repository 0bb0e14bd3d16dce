package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

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

// ScanTable reads the process table once: /proc/<pid>/stat of every
// process, and its owner when we are not root (the environment rule reads
// only our own processes). See Family for what a missed process means.
func ScanTable() (*Table, error) {
	euid := uint32(os.Geteuid())
	var missed error
	t := newTable(256)
	err := scanProcs(euid != 0, &missed, func(e procEntry) { t.add(e) })
	if err != nil {
		return nil, err
	}
	t.missed = missed
	return t, nil
}

// marked adds to w the processes whose environment holds the entry marker,
// and their descendants. Only processes not found yet are read, and only
// our own: reading another user's environ fails anyway (unless we are
// root) and costs a system call or three per process. What a process's
// environment holds of marker's key is cached in t, so a batch reads each
// environment once, not once per query.
func (t *Table) marked(w *walk, root int, marker string, since uint64) error {
	euid := uint32(os.Geteuid())
	key := marker
	if i := strings.IndexByte(marker, '='); i >= 0 {
		key = marker[:i+1]
	}
	var missed error
	var buf []byte
	t.envMu.Lock()
	defer t.envMu.Unlock()
	if t.envKey != key {
		t.envKey, t.env = key, make(map[int][]string)
	}
	for _, pid := range t.order {
		e := t.procs[pid]
		if w.in[pid] || e.kernel || pid == root || pid <= 1 || pid == t.self || (euid != 0 && e.uid != euid) || e.StartTime < since {
			continue
		}
		entries, ok := t.env[pid]
		if !ok {
			b, err := readProcFile(procPath(pid, "environ"), buf)
			if err != nil {
				// Gone, or not ours after all (setuid, dumpable flag).
				noteMissed(&missed, pid, err)
				continue
			}
			buf = b
			entries = []string{} // read, and holding none
			for entry := range envEntries(b) {
				if bytes.HasPrefix(entry, []byte(key)) {
					entries = append(entries, string(entry))
				}
			}
			t.env[pid] = entries
		}
		if slices.Contains(entries, marker) {
			w.addWithDescendants(pid)
		}
	}
	return missed
}

// MarkersVisible reports whether FindMarked can see processes' markers
// (Linux reads them from /proc/<pid>/environ).
const MarkersVisible = true

func findMarked(want map[string]bool) (map[string][]Member, error) {
	found := make(map[string][]Member)
	missed, err := scanEnvirons(func(e procEntry, env []byte) {
		if m, ok := oneEnvEntry(env, want); ok {
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

// scanEnvirons hands visit the environment of every process of our
// effective UID (any, as root) but kernel threads, PID 1 and the calling
// process. The environment is scratch space, reused for the next process.
// The first error is about a process that could not be read (the result
// is incomplete); the second stops the scan.
func scanEnvirons(visit func(e procEntry, env []byte)) (missed, err error) {
	self := os.Getpid()
	euid := uint32(os.Geteuid())
	var env []byte
	err = scanProcs(euid != 0, &missed, func(e procEntry) {
		if e.kernel || e.PID <= 1 || e.PID == self || (euid != 0 && e.uid != euid) {
			return
		}
		b, err := readProcFile(procPath(e.PID, "environ"), env)
		if err != nil {
			noteMissed(&missed, e.PID, err)
			return
		}
		env = b
		visit(e, b)
	})
	return missed, err
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
