package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Cgroups places each service in a cgroup v2 of its own, under a subtree the
// daemon may write to. A nil *Cgroups means "not available": every method is
// safe on nil (no-op / nil results), so callers need no checks.
//
// Walking /proc (Tree) cannot follow a descendant that double-forked, called
// setsid and scrubbed its environment; a cgroup can, because the kernel puts
// every process forked inside it there too, and nothing short of a write to
// cgroup.procs by a privileged process takes it out.
//
// A Cgroups holds no mutable state; its methods may be called concurrently
// (for different services).
type Cgroups struct {
	// base is <cgroup2 mount><daemon's own cgroup>/<tag>, cleaned. Every
	// path that Members, Kill and Remove accept lies strictly below it.
	base string
	// kill is whether cgroup.kill exists (Linux >= 5.14): one write then
	// kills the whole subtree, forks racing the kill included.
	kill bool

	mu sync.Mutex
	// clean holds the cgroups this Cgroups made and never wrote
	// cgroup.kill to: the only ones Prepare may reuse (see there).
	clean map[string]bool
}

// OpenCgroups finds the cgroup2 hierarchy and the daemon's own cgroup in it,
// and creates (or reuses: services outlive the daemon, and their cgroups are
// there to be re-adopted) the directory <own cgroup>/<tag>. It returns an
// error, and the caller runs without cgroups, when there is no cgroup2
// hierarchy, the kernel cannot start a child in a cgroup (clone3
// CLONE_INTO_CGROUP, Linux >= 5.7), or the own cgroup is not delegated to
// us. The error wraps errors.ErrUnsupported when the system lacks the
// feature altogether, and fs.ErrPermission when it is not delegated.
//
// tag should be stable for one state directory, so that a restarted daemon
// finds the cgroups of the services it re-adopts.
func OpenCgroups(tag string) (*Cgroups, error) {
	if err := checkCgroupName(tag); err != nil {
		return nil, fmt.Errorf("cgroups: tag %w", err)
	}
	if err := cloneIntoCgroup(); err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	own, err := ownCgroupDir()
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	base := filepath.Join(own, tag)
	created := true
	if err := os.Mkdir(base, 0o755); errors.Is(err, fs.ErrExist) {
		created = false
	} else if err != nil {
		return nil, fmt.Errorf("cgroups: %w (is %s delegated to this user?)", err, own)
	}
	kill, err := probeCgroups(own, base)
	if err != nil {
		if created {
			unix.Rmdir(base) // leave nothing behind for a feature we do not use
		}
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	return &Cgroups{base: base, kill: kill}, nil
}

// probeCgroups checks, in a throwaway cgroup below base, what placing a
// service needs: write access to cgroup.procs of the daemon's own cgroup
// (the kernel checks the common ancestor of the source and destination
// cgroups, also for clone3, and that is own) and of the new cgroup. It
// reports whether cgroup.kill exists. The name starts with a dot, which no
// service name does.
func probeCgroups(own, base string) (kill bool, err error) {
	probe := filepath.Join(base, ".probe")
	if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return false, err // EEXIST: left by a daemon that died mid-probe
	}
	defer unix.Rmdir(probe)
	for _, dir := range []string{own, probe} {
		f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			return false, fmt.Errorf("%w (is %s delegated to this user?)", err, own)
		}
		f.Close()
	}
	_, err = os.Stat(filepath.Join(probe, "cgroup.kill"))
	return err == nil, nil
}

// cloneIntoCgroup reports whether clone3 with CLONE_INTO_CGROUP works, which
// Go's SysProcAttr.UseCgroupFD needs: without it every spawn would fail,
// and the hybrid layout of Ubuntu 20.04 (cgroup2 at /sys/fs/cgroup/unified,
// kernel 5.4) passes every directory check. A kernel feature is fixed for
// the life of the process, hence the Once.
//
// The probe calls clone3 with arguments that every kernel rejects before
// creating anything: a cgroup fd above INT_MAX and an exit signal with
// high bits set. Linux >= 5.7 answers EINVAL; 5.3 to 5.6 do not know the
// cgroup field and answer E2BIG, since it is not zero; older kernels, and
// seccomp filters that hide clone3 (older container runtimes), answer
// ENOSYS or EPERM.
var cloneIntoCgroup = sync.OnceValue(func() error {
	args := struct {
		flags, pidfd, childTID, parentTID, exitSignal uint64
		stack, stackSize, tls, setTID, setTIDSize     uint64
		cgroup                                        uint64
	}{
		flags:      unix.CLONE_INTO_CGROUP,
		exitSignal: 1 << 32,
		cgroup:     1 << 32,
	}
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	switch errno {
	case unix.EINVAL:
		return nil
	case 0:
		// Unreachable by the argument checks above; should a kernel ever
		// fork anyway, the copy of this process must not run Go code.
		if pid == 0 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
		}
		return fmt.Errorf("clone3 probe created process %d", pid)
	case unix.E2BIG:
		return fmt.Errorf("clone3 cannot start a process in a cgroup (Linux < 5.7): %w", errors.ErrUnsupported)
	default:
		return fmt.Errorf("clone3: %w: %w", errno, errors.ErrUnsupported)
	}
})

// ownCgroupDir returns the directory of the calling process's cgroup in the
// cgroup2 hierarchy.
func ownCgroupDir() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	own, ok := "", false
	for line := range strings.Lines(string(b)) {
		if own, ok = strings.CutPrefix(strings.TrimSuffix(line, "\n"), "0::"); ok {
			break
		}
	}
	if !ok || !strings.HasPrefix(own, "/") {
		return "", fmt.Errorf("no cgroup v2 membership in /proc/self/cgroup: %w", errors.ErrUnsupported)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	dir, err := cgroup2Dir(f, own)
	if err != nil {
		return "", err
	}
	// A mount from another cgroup namespace, or a bind mount of some other
	// subtree, would send us to a directory that is not ours: we would
	// create cgroups, and later kill their members, in the wrong place.
	// Own "/" was found through a mount whose root field is "/", which
	// the kernel writes only for the root of the reader's own cgroup
	// namespace (another's shows "/.." parts, a subtree its path): ours.
	// Its member list is every process of the machine, whose read (1 ms
	// at 1000) would delay every daemon start.
	if own == "/" {
		return dir, nil
	}
	b, err = readProcFile(filepath.Join(dir, "cgroup.procs"), nil)
	if err != nil {
		return "", err
	}
	if !slices.Contains(parsePIDs(b), os.Getpid()) {
		return "", fmt.Errorf("%s does not list this process: %w", dir, errors.ErrUnsupported)
	}
	return dir, nil
}

// cgroup2Dir finds, in a mountinfo table, a cgroup2 mount that shows the
// cgroup own (a path from the hierarchy's root) and returns its directory.
// On a unified system the mount is /sys/fs/cgroup, on a hybrid one
// /sys/fs/cgroup/unified; a mount may also show only a subtree (its root
// field), as inside a container.
func cgroup2Dir(mountinfo io.Reader, own string) (string, error) {
	sc := bufio.NewScanner(mountinfo)
	found := false
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		found = true
		root, mnt := unescapeMountField(fields[3]), unescapeMountField(fields[4])
		if root == "/" {
			return filepath.Join(mnt, own), nil
		}
		if rel, ok := strings.CutPrefix(own, root); ok && (rel == "" || rel[0] == '/') {
			return filepath.Join(mnt, rel), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if found {
		return "", fmt.Errorf("no cgroup2 mount shows %s: %w", own, errors.ErrUnsupported)
	}
	return "", fmt.Errorf("no cgroup2 mount: %w", errors.ErrUnsupported)
}

// unescapeMountField undoes the octal escapes (\040 for a space, \011,
// \012, \134) that the kernel writes in mountinfo paths.
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkCgroupName refuses names that are not one plain directory entry,
// and names starting with a dot, which are tsm's own (the probe).
func checkCgroupName(name string) error {
	if name == "" || name[0] == '.' || strings.ContainsAny(name, "/\x00\n") {
		return fmt.Errorf("%q: not a plain name", name)
	}
	return nil
}

// Path returns the cgroup directory of service, as Prepare makes it, or ""
// when c is nil or the name is not a plain name. A restarted daemon uses it
// to find the cgroup of a service it re-adopts.
//
// The directory is the service name, except that a name with a dot gets a
// "_" in front: the kernel's own files in a cgroup are all named
// <controller>.<file>, so a service called "cpu.stat" or "io.max" would
// otherwise collide with one. Names without a dot cannot collide, and the
// prefix keeps the mapping one-to-one.
func (c *Cgroups) Path(service string) string {
	if c == nil || checkCgroupName(service) != nil {
		return ""
	}
	if strings.Contains(service, ".") {
		service = "_" + service
	}
	return filepath.Join(c.base, service)
}

// Prepare makes the cgroup for one run of service and returns an fd of its
// directory for SysProcAttr.CgroupFD (with UseCgroupFD: clone3 puts the
// child in it atomically, so nothing it forks can start outside), and its
// path. The caller closes the fd after the spawn. On a nil c it returns
// -1, "", nil.
//
// A cgroup left by an earlier run is killed (its members escaped that run's
// stop), removed and made afresh: sub-cgroups or settings the old run left
// (a controller enabled in cgroup.subtree_control makes the directory
// refuse processes; cgroup.freeze would freeze the new run) must not carry
// over. Call it only when no run of the service is meant to be alive.
func (c *Cgroups) Prepare(service string) (fd int, path string, err error) {
	if c == nil {
		return -1, "", nil
	}
	path = c.Path(service)
	if path == "" {
		return -1, "", fmt.Errorf("cgroup for service %q: refusing a name that is not a plain name", service)
	}
	err = os.Mkdir(path, 0o755)
	if errors.Is(err, fs.ErrExist) && c.isClean(path) && cgroupPristine(path) {
		// The common case of a restart after a crash: reuse it as is,
		// which keeps rmdir and mkdir off the respawn path. Only a cgroup
		// this daemon made and never killed: once cgroup.kill has been
		// written to one (a daemon that died between a forced stop and
		// the removal leaves such a cgroup behind), Linux kills every
		// child later cloned into it, before it can exec.
		err = nil
	} else if errors.Is(err, fs.ErrExist) {
		if err := c.Kill(path); err != nil {
			return -1, "", err
		}
		if err := c.Remove(path); err != nil {
			return -1, "", err
		}
		err = os.Mkdir(path, 0o755)
	}
	if err != nil {
		return -1, "", fmt.Errorf("create cgroup: %w", err)
	}
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open cgroup %s: %w", path, err)
	}
	c.setClean(path, true)
	return fd, path, nil
}

func (c *Cgroups) isClean(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clean[path]
}

func (c *Cgroups) setClean(path string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clean == nil {
		c.clean = make(map[string]bool)
	}
	if ok {
		c.clean[path] = true
	} else {
		delete(c.clean, path)
	}
}

// cgroupPristine reports whether an existing cgroup is as Mkdir would make
// it: no members, no sub-cgroups, no controllers enabled below, not frozen.
func cgroupPristine(dir string) bool {
	var pids []int
	if err := collectMembers(dir, &pids); err != nil || len(pids) > 0 {
		return false
	}
	if subs, err := subCgroups(dir); err != nil || len(subs) > 0 {
		return false
	}
	for file, want := range map[string]string{"cgroup.subtree_control": "", "cgroup.freeze": "0"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil && !errors.Is(err, fs.ErrNotExist) || err == nil && strings.TrimSpace(string(b)) != want {
			return false
		}
	}
	return true
}

// Release removes the base when no service cgroup is left in it, so that a
// state directory that is gone leaves nothing behind; otherwise it keeps it
// for the next daemon. Safe on nil.
func (c *Cgroups) Release() {
	if c != nil {
		os.Remove(c.base) // fails, harmlessly, while it has sub-cgroups
	}
}

// inside returns path cleaned, or an error when it is not strictly below
// the base: Members, Kill and Remove end processes and delete cgroups, and
// must never reach the daemon's own cgroup or anything beside the base.
func (c *Cgroups) inside(path string) (string, error) {
	p := filepath.Clean(path)
	if rel, ok := strings.CutPrefix(p, c.base+"/"); ok && rel != "" {
		return p, nil
	}
	return "", fmt.Errorf("cgroup %q: not below %s: refusing", path, c.base)
}

// Members returns every PID in the cgroup at path and its descendant
// cgroups (a service may create sub-cgroups), sorted, without duplicates.
// A missing directory gives nil, nil. The kernel lists processes, not
// zombies; only a zombie leader whose other threads still run is listed.
func (c *Cgroups) Members(path string) ([]int, error) {
	if c == nil {
		return nil, nil
	}
	p, err := c.inside(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := collectMembers(p, &pids); err != nil {
		return nil, err
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// Populated reports whether the cgroup at path or any cgroup below it has
// a live process, from the kernel's own count (cgroup.events): one read,
// however deep the tree, where Members reads every cgroup's list. A
// missing directory is not populated; an error means "cannot tell".
func (c *Cgroups) Populated(path string) (bool, error) {
	if c == nil {
		return false, nil
	}
	p, err := c.inside(path)
	if err != nil {
		return false, err
	}
	var buf [128]byte
	b, err := readProcFile(filepath.Join(p, "cgroup.events"), buf[:0])
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cgroup %s: %w", p, err)
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("populated ")); ok {
			return string(v) != "0", nil
		}
	}
	return false, fmt.Errorf("cgroup %s: no populated line in cgroup.events", p)
}

// collectMembers appends the processes of dir and of the cgroups below it.
// A cgroup removed during the walk has no members.
func collectMembers(dir string, pids *[]int) error {
	b, err := readProcFile(filepath.Join(dir, "cgroup.procs"), nil)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", dir, err)
	}
	*pids = append(*pids, parsePIDs(b)...)
	subs, err := subCgroups(dir)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if err := collectMembers(sub, pids); err != nil {
			return err
		}
	}
	return nil
}

// subCgroups lists the child cgroups of dir: in cgroupfs every
// subdirectory is one, every file an interface file.
func subCgroups(dir string) ([]string, error) {
	// kernfs gives a directory a link count of 2 plus its subdirectories,
	// so a stat tells a cgroup without children — a run's, nearly always
	// — without listing its two dozen interface files: that listing was
	// 3 of the 66 ms of CPU a stop of 100 runs took. Any other count (or
	// a failed stat) is decided by the listing.
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Nlink == 2 {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	var subs []string
	for _, e := range entries {
		if e.IsDir() {
			subs = append(subs, filepath.Join(dir, e.Name()))
		}
	}
	return subs, nil
}

// parsePIDs parses cgroup.procs: one decimal PID a line.
func parsePIDs(b []byte) []int {
	var pids []int
	for line := range bytes.Lines(b) {
		if pid, ok := atoi(bytes.TrimSpace(line)); ok && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Bounds of Kill and Remove: 100 rounds, waiting 1ms at first and doubling
// up to 20ms, about two seconds in all. A SIGKILLed process is normally
// gone within a millisecond; one in uninterruptible sleep (a hung NFS
// mount) may take forever, and a stop must not.
const (
	cgroupRounds   = 100
	cgroupMaxPause = 20 * time.Millisecond
)

// Kill ends every member of the cgroup at path and its descendants, and
// returns once none is left alive, or an error after about two seconds if
// some still are. With cgroup.kill one write kills them all and the kernel
// stops forks racing the kill; without it (Linux < 5.14) every member is
// sent SIGKILL, in rounds until cgroup.procs is empty, to catch children
// forked between reading the list and the signal. A missing directory is
// not an error.
//
// A cgroup that holds the calling process or PID 1 is refused and nothing
// in it is killed: tsm never puts either in a service's cgroup, so such a
// cgroup is not a service's, whatever its path says.
func (c *Cgroups) Kill(path string) error {
	if c == nil {
		return nil
	}
	p, err := c.inside(path)
	if err != nil {
		return err
	}
	c.setClean(p, false)
	self := os.Getpid()
	pause := time.Millisecond
	var live []int
	for range cgroupRounds {
		var pids []int
		if err := collectMembers(p, &pids); err != nil {
			return err
		}
		live = live[:0]
		for _, pid := range pids {
			if pid <= 1 || pid == self {
				return fmt.Errorf("cgroup %s holds pid %d: refusing to kill", p, pid)
			}
			if cgroupMemberAlive(pid) {
				live = append(live, pid)
			}
		}
		if len(live) == 0 {
			return nil
		}
		if c.kill {
			err := writeCgroupFile(filepath.Join(p, "cgroup.kill"), "1")
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed: it was empty after all
			}
			if err != nil {
				return fmt.Errorf("cgroup %s: kill: %w", p, err)
			}
		} else {
			for _, pid := range live {
				unix.Kill(pid, unix.SIGKILL) // ESRCH: it beat us to it
			}
		}
		time.Sleep(pause)
		pause = min(2*pause, cgroupMaxPause)
	}
	return fmt.Errorf("cgroup %s: processes %v still alive after SIGKILL", p, live)
}

// writeCgroupFile writes an interface file that must exist: unlike
// os.WriteFile it never creates one.
func writeCgroupFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// cgroupMemberAlive reports whether a PID listed in cgroup.procs still has
// something to kill. Recent kernels do not list zombies, older ones may;
// a zombie leader with threads still running is alive.
func cgroupMemberAlive(pid int) bool {
	var buf [1024]byte
	st, err := readStat(pid, buf[:0])
	if err != nil {
		return false
	}
	return !st.dead() || st.threads > 1
}

// Remove deletes the cgroup at path and the cgroups below it, deepest
// first. A cgroup still populated (members still exiting after Kill) is
// retried for about two seconds; a missing directory is not an error.
// Remove kills nothing: a live member makes it fail.
func (c *Cgroups) Remove(path string) error {
	if c == nil {
		return nil
	}
	p, err := c.inside(path)
	if err != nil {
		return err
	}
	pause := time.Millisecond
	for range cgroupRounds {
		err = removeCgroupTree(p)
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, cgroupMaxPause)
	}
	return fmt.Errorf("%w (still has members or child cgroups)", err)
}

func removeCgroupTree(dir string) error {
	// Not os.Remove: cgroupfs removes a cgroup's interface files with the
	// directory, and os.Remove would try unlink first. A run's cgroup
	// rarely has cgroups below it: the directory is tried first, and
	// listed only when the kernel refuses (EBUSY: members or children).
	switch err := unix.Rmdir(dir); err {
	case nil, unix.ENOENT:
		return nil
	case unix.EBUSY:
	default:
		return &fs.PathError{Op: "remove cgroup", Path: dir, Err: err}
	}
	subs, err := subCgroups(dir)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if err := removeCgroupTree(sub); err != nil {
			return err
		}
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "remove cgroup", Path: dir, Err: err}
	}
	return nil
}
