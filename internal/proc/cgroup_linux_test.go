package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openTestCgroups opens a base of the test's own ("tsm-test-<pid>-<test>")
// and removes it, with anything left in it, when the test ends. It skips
// the test where cgroups cannot be used (no cgroup2, not root and nothing
// delegated, a kernel without clone3 into a cgroup).
func openTestCgroups(t testing.TB) *Cgroups {
	t.Helper()
	tag := fmt.Sprintf("tsm-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	c, err := OpenCgroups(tag)
	if err != nil {
		t.Skipf("no usable cgroup v2 subtree here (needs cgroup2, clone3 into a cgroup, and root or a delegated cgroup): %v", err)
	}
	t.Cleanup(func() {
		subs, err := subCgroups(c.base)
		if err != nil {
			t.Error(err)
		}
		for _, sub := range subs {
			if err := c.Kill(sub); err != nil {
				t.Error(err)
			}
			if err := c.Remove(sub); err != nil {
				t.Error(err)
			}
		}
		if err := unix.Rmdir(c.base); err != nil && err != unix.ENOENT {
			t.Errorf("remove test base %s: %v", c.base, err)
		}
	})
	return c
}

// spawnIn starts sh -c script in a new session inside dir's cgroup (an fd
// from Prepare, closed here), the way tsm spawns a service. The root is
// reaped as soon as it exits, as the daemon's reaper would, so that it does
// not linger as a zombie; the channel is closed then.
func spawnIn(t *testing.T, fd int, script string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: fd}
	err := cmd.Start()
	unix.Close(fd)
	if err != nil {
		t.Fatalf("spawn into cgroup: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() // may fail if another test's wait4(-1) reaper got it first
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return cmd, done
}

// reaped waits for the root of spawnIn to be reaped. It fails the test
// rather than hang when the root is still alive: the kill under test did
// not happen.
func reaped(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the root to exit")
	}
}

// killIDsLater kills, at the end of the test, those of ids that are still
// the processes they were: a safety net should the test fail before Kill.
func killIDsLater(t *testing.T, ids []Identity) {
	t.Cleanup(func() {
		for _, id := range ids {
			if id.Alive() {
				syscall.Kill(id.PID, syscall.SIGKILL)
			}
		}
	})
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(procPath(pid, "cmdline"))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

func ppidOf(pid int) int {
	st, err := readStat(pid, nil)
	if err != nil {
		return -1
	}
	return st.ppid
}

// withoutKillFile is c as on a kernel older than 5.14, to test the
// SIGKILL rounds that replace cgroup.kill there.
func withoutKillFile(c *Cgroups) *Cgroups {
	return &Cgroups{base: c.base, kill: false}
}

// killModes runs f with cgroup.kill (when the kernel has it) and with the
// SIGKILL rounds, each on a base of its own.
func killModes(t *testing.T, f func(t *testing.T, c *Cgroups)) {
	t.Run("cgroup.kill", func(t *testing.T) {
		c := openTestCgroups(t)
		if !c.kill {
			t.Skip("no cgroup.kill (Linux < 5.14)")
		}
		f(t, c)
	})
	t.Run("signals", func(t *testing.T) {
		f(t, withoutKillFile(openTestCgroups(t)))
	})
}

// TestCgroupDoubleFork runs the service the /proc walk cannot follow: a
// background child, and a grandchild that left the session, double-forked
// (its parent is gone) and scrubbed its environment (no marker).
func TestCgroupDoubleFork(t *testing.T) {
	killModes(t, func(t *testing.T, c *Cgroups) {
		fd, path, err := c.Prepare("svc")
		if err != nil {
			t.Fatal(err)
		}
		if path != c.Path("svc") || filepath.Dir(path) != c.base {
			t.Fatalf("Prepare path = %q, want %q below %q", path, c.Path("svc"), c.base)
		}
		cmd, rootDone := spawnIn(t, fd, `sleep 300 & (setsid sh -c "env -i sleep 301 &" ) ; exec sleep 302`)
		root := cmd.Process.Pid

		byCmd := map[string]int{}
		var members []int
		eventually(t, "the three sleeps, and nothing else, in the cgroup", func() bool {
			members, err = c.Members(path)
			if err != nil {
				t.Fatal(err)
			}
			clear(byCmd)
			for _, pid := range members {
				byCmd[cmdline(pid)] = pid
			}
			return len(members) == 3 && byCmd["sleep 300"] > 0 && byCmd["sleep 301"] > 0 && byCmd["sleep 302"] == root
		})
		var ids []Identity
		for _, pid := range members {
			if id, err := Identify(pid); err == nil {
				ids = append(ids, id)
			}
		}
		killIDsLater(t, ids)
		if len(ids) != 3 {
			t.Fatalf("members %v: only %d identified", members, len(ids))
		}
		if !slices.IsSorted(members) {
			t.Errorf("Members = %v, not sorted", members)
		}
		if full, err := c.Populated(path); !full || err != nil {
			t.Errorf("Populated = %v, %v with three members", full, err)
		}

		// The premise: nothing but the cgroup ties the escapee to the service.
		escapee := byCmd["sleep 301"]
		if sidOf(escapee) == root || ppidOf(escapee) == root {
			t.Fatalf("sleep 301 (pid %d) has session %d, parent %d: still attached to root %d", escapee, sidOf(escapee), ppidOf(escapee), root)
		}
		if env, err := os.ReadFile(procPath(escapee, "environ")); err != nil || len(env) != 0 {
			t.Fatalf("sleep 301 environment = %q, %v; want empty", env, err)
		}
		if tree, err := Tree(root, "", 0); err != nil || slices.Contains(tree, escapee) {
			t.Fatalf("Tree(%d) = %v, %v: the /proc walk found the escapee %d; test premise broken", root, tree, err, escapee)
		}

		if err := c.Kill(path); err != nil {
			t.Fatal(err)
		}
		// Kill returns once the cgroup is empty: no polling here.
		if left, err := c.Members(path); err != nil || len(left) != 0 {
			t.Errorf("after Kill, Members = %v, %v", left, err)
		}
		if full, err := c.Populated(path); full || err != nil {
			t.Errorf("after Kill, Populated = %v, %v", full, err)
		}
		for _, id := range ids {
			if id.Alive() {
				t.Errorf("pid %d (%s) alive after Kill", id.PID, cmdline(id.PID))
			}
		}

		reaped(t, rootDone)
		if err := c.Remove(path); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after Remove, stat %s: %v", path, err)
		}
	})
}

// TestCgroupKillForkLoop kills a service that forks as fast as it can, so
// that children are created while the kill is under way. The loop and its
// children are bounded, so that a broken Kill leaves hundreds of processes
// for half a minute rather than thousands for minutes.
func TestCgroupKillForkLoop(t *testing.T) {
	killModes(t, func(t *testing.T, c *Cgroups) {
		fd, path, err := c.Prepare("forker")
		if err != nil {
			t.Fatal(err)
		}
		_, rootDone := spawnIn(t, fd, `i=0; while [ $i -lt 500 ]; do sleep 30 & i=$((i+1)); done; exec sleep 30`)
		eventually(t, "the loop to have forked a few children", func() bool {
			pids, err := c.Members(path)
			if err != nil {
				t.Fatal(err)
			}
			return len(pids) >= 20
		})
		if err := c.Kill(path); err != nil {
			t.Fatal(err)
		}
		if left, err := c.Members(path); err != nil || len(left) != 0 {
			t.Errorf("after Kill, Members = %v, %v", left, err)
		}
		reaped(t, rootDone)
		if err := c.Remove(path); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCgroupRemoveRetries: Remove waits, within its bound, for a member
// that is exiting on its own, and never kills one.
func TestCgroupRemoveRetries(t *testing.T) {
	c := openTestCgroups(t)
	fd, path, err := c.Prepare("svc")
	if err != nil {
		t.Fatal(err)
	}
	spawnIn(t, fd, "exec sleep 0.2")
	if err := c.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Remove, stat %s: %v", path, err)
	}
}

// TestCgroupPrepareKillsLeftover leaves a process behind, in a sub-cgroup
// the old run made, as if the daemon had died before stopping the service:
// the next Prepare kills it and starts from a fresh, empty cgroup.
func TestCgroupPrepareKillsLeftover(t *testing.T) {
	c := openTestCgroups(t)
	_, path, err := c.Prepare("svc")
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(path, "worker")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(sub, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd, rootDone := spawnIn(t, fd, `exec sleep 300`)
	old, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Members(path); err != nil || !slices.Equal(got, []int{old.PID}) {
		t.Fatalf("Members of the parent = %v, %v; want the sub-cgroup's %d", got, err, old.PID)
	}

	fd, again, err := c.Prepare("svc")
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if again != path {
		t.Errorf("second Prepare path = %q, first %q", again, path)
	}
	if old.Alive() {
		t.Errorf("leftover %d alive after Prepare", old.PID)
	}
	if got, err := c.Members(path); err != nil || len(got) != 0 {
		t.Errorf("Members after Prepare = %v, %v", got, err)
	}
	if subs, err := subCgroups(path); err != nil || len(subs) != 0 {
		t.Errorf("sub-cgroups after Prepare = %v, %v; want a fresh cgroup", subs, err)
	}
	reaped(t, rootDone)
}

// TestCgroupRefusesOutside: Members, Kill and Remove take only paths
// strictly below the base. Kill and Remove are only ever pointed at decoys
// the test owns (a process in a cgroup beside the base, one in the base's
// own service cgroup), never at the root or the test's own cgroup: should
// the guard ever break, this test must not kill the machine's processes.
func TestCgroupRefusesOutside(t *testing.T) {
	c := openTestCgroups(t)

	// Read-only checks may name anything.
	for _, path := range []string{
		"", "/", "svc", "/proc/self",
		c.base, c.base + "/", c.base + "/.", c.base + "/svc/..",
		c.base + "/../x", c.base + "x", c.base + "x/svc",
		filepath.Dir(c.base),
	} {
		if _, err := c.inside(path); err == nil {
			t.Errorf("inside(%q) accepted", path)
		}
		if got, err := c.Members(path); err == nil {
			t.Errorf("Members(%q) = %v, accepted", path, got)
		}
	}

	// A decoy beside the base, whose name extends the base's, and one in
	// the base itself, which no single service owns.
	decoy := c.base + "x"
	if err := os.Mkdir(decoy, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Rmdir(decoy) }) // after spawnIn's cleanup kills the process
	fd, err := unix.Open(decoy, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	beside, _ := spawnIn(t, fd, "exec sleep 300")
	fd, _, err = c.Prepare("svc")
	if err != nil {
		t.Fatal(err)
	}
	within, _ := spawnIn(t, fd, "exec sleep 300")
	var ids []Identity
	for _, cmd := range []*exec.Cmd{beside, within} {
		id, err := Identify(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, path := range []string{
		decoy, decoy + "/", decoy + "/.", c.base + "/../" + filepath.Base(decoy),
		c.base, c.base + "/", c.base + "/svc/..",
	} {
		if err := c.Kill(path); err == nil {
			t.Errorf("Kill(%q) accepted", path)
		}
		if err := c.Remove(path); err == nil {
			t.Errorf("Remove(%q) accepted", path)
		}
	}
	for _, id := range ids {
		if !id.Alive() {
			t.Errorf("decoy %d killed", id.PID)
		}
	}
	for _, dir := range []string{decoy, c.base, c.Path("svc")} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("decoy cgroup removed: %v", err)
		}
	}

	for _, name := range []string{"", ".", "..", ".probe", ".hidden", "a/b", "../x", "/abs", "a\x00b", "a\nb"} {
		if fd, path, err := c.Prepare(name); err == nil {
			unix.Close(fd)
			t.Errorf("Prepare(%q) accepted: %s", name, path)
		}
		if p := c.Path(name); p != "" {
			t.Errorf("Path(%q) = %q", name, p)
		}
	}
	for _, tag := range []string{"", ".x", "a/b", ".."} {
		if got, err := OpenCgroups(tag); err == nil {
			t.Errorf("OpenCgroups(%q) accepted: %+v", tag, got)
		}
	}
}

// TestCgroupKillRefusesSelf moves the test process into a service cgroup:
// Kill must refuse it rather than kill the caller (cgroup.kill would) or
// everything but the caller (the SIGKILL rounds would). Should the check
// break, only the test process and its own sleep are at risk.
func TestCgroupKillRefusesSelf(t *testing.T) {
	killModes(t, func(t *testing.T, c *Cgroups) {
		own, err := ownCgroupDir()
		if err != nil {
			t.Fatal(err)
		}
		fd, path, err := c.Prepare("svc")
		if err != nil {
			t.Fatal(err)
		}
		cmd, _ := spawnIn(t, fd, "exec sleep 300")
		id, err := Identify(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		self := strconv.Itoa(os.Getpid())
		t.Cleanup(func() {
			if err := writeCgroupFile(filepath.Join(own, "cgroup.procs"), self); err != nil {
				t.Errorf("moving the test process back to %s: %v", own, err)
			}
		})
		if err := writeCgroupFile(filepath.Join(path, "cgroup.procs"), self); err != nil {
			t.Fatal(err)
		}
		if err := c.Kill(path); err == nil {
			t.Error("Kill of a cgroup holding the caller accepted")
		}
		if !id.Alive() {
			t.Error("Kill of a cgroup holding the caller killed another member")
		}
	})
}

// TestCgroupMissing: a cgroup that does not exist has no members, nothing
// to kill and nothing to remove.
func TestCgroupMissing(t *testing.T) {
	c := openTestCgroups(t)
	path := c.Path("never-started")
	if got, err := c.Members(path); got != nil || err != nil {
		t.Errorf("Members of a missing cgroup = %v, %v", got, err)
	}
	if err := c.Kill(path); err != nil {
		t.Errorf("Kill of a missing cgroup: %v", err)
	}
	if err := c.Remove(path); err != nil {
		t.Errorf("Remove of a missing cgroup: %v", err)
	}
}

func TestCgroupNil(t *testing.T) {
	var c *Cgroups
	fd, path, err := c.Prepare("svc")
	if fd != -1 || path != "" || err != nil {
		t.Errorf("nil Prepare = %d, %q, %v", fd, path, err)
	}
	if p := c.Path("svc"); p != "" {
		t.Errorf("nil Path = %q", p)
	}
	if got, err := c.Members("/sys/fs/cgroup/x"); got != nil || err != nil {
		t.Errorf("nil Members = %v, %v", got, err)
	}
	if err := c.Kill("/sys/fs/cgroup/x"); err != nil {
		t.Errorf("nil Kill: %v", err)
	}
	if err := c.Remove("/sys/fs/cgroup/x"); err != nil {
		t.Errorf("nil Remove: %v", err)
	}
}

// TestCgroupNamesWithDots: the kernel's files in a cgroup are named
// <controller>.<file>; a service may be called the same.
func TestCgroupNamesWithDots(t *testing.T) {
	c := openTestCgroups(t)
	for name, dir := range map[string]string{"api": "api", "web.v2": "_web.v2", "_x.y": "__x.y", "_x": "_x"} {
		if got, want := c.Path(name), filepath.Join(c.base, dir); got != want {
			t.Errorf("Path(%q) = %q, want %q", name, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(c.base, "cgroup.procs")); err != nil || fi.IsDir() {
		t.Fatalf("stat %s/cgroup.procs: %v", c.base, err)
	}
	fd, path, err := c.Prepare("cgroup.procs")
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("Prepare(\"cgroup.procs\") made %s: %v", path, err)
	}
	if err := c.Remove(path); err != nil {
		t.Error(err)
	}
}

// TestCgroupReopen: a restarted daemon reuses its base, and the cgroups of
// the services it is about to re-adopt are left alone.
func TestCgroupReopen(t *testing.T) {
	c := openTestCgroups(t)
	fd, path, err := c.Prepare("svc")
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := spawnIn(t, fd, `exec sleep 300`)
	again, err := OpenCgroups(filepath.Base(c.base))
	if err != nil {
		t.Fatal(err)
	}
	if again.base != c.base || again.Path("svc") != path {
		t.Errorf("reopened base %q, path %q; want %q, %q", again.base, again.Path("svc"), c.base, path)
	}
	if got, err := again.Members(path); err != nil || !slices.Equal(got, []int{cmd.Process.Pid}) {
		t.Errorf("Members after reopening = %v, %v; want [%d]", got, err, cmd.Process.Pid)
	}
	if _, err := os.Stat(filepath.Join(c.base, ".probe")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("probe cgroup left behind: %v", err)
	}
}

func TestCgroupMountinfo(t *testing.T) {
	const (
		hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
`
		unified   = "29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
		container = "700 690 0:26 /system.slice/docker-1.scope /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n"
		escaped   = `50 22 0:26 / /mnt/my\040cgroups rw - cgroup2 none rw` + "\n"
		v1only    = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	)
	for _, tc := range []struct {
		mountinfo, own, want string
	}{
		{hybrid, "/", "/sys/fs/cgroup/unified"},
		{hybrid, "/user.slice/a.scope", "/sys/fs/cgroup/unified/user.slice/a.scope"},
		{unified, "/system.slice/tsm.service", "/sys/fs/cgroup/system.slice/tsm.service"},
		{container, "/system.slice/docker-1.scope", "/sys/fs/cgroup"},
		{container, "/system.slice/docker-1.scope/inner", "/sys/fs/cgroup/inner"},
		{container, "/system.slice/docker-12.scope", ""},
		{container, "/", ""},
		{escaped, "/a", "/mnt/my cgroups/a"},
		{v1only, "/", ""},
		{"", "/", ""},
	} {
		got, err := cgroup2Dir(strings.NewReader(tc.mountinfo), tc.own)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("cgroup2Dir(%q, %q) = %q, %v; want %q", tc.mountinfo, tc.own, got, err, tc.want)
		}
		if err != nil && !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("cgroup2Dir(%q, %q) error %v does not wrap ErrUnsupported", tc.mountinfo, tc.own, err)
		}
	}
	for in, want := range map[string]string{`a\040b`: "a b", `a\134b`: `a\b`, `x\0`: `x\0`, `\12`: `\12`, `tab\011`: "tab\t", "plain": "plain"} {
		if got := unescapeMountField(in); got != want {
			t.Errorf("unescapeMountField(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkCgroupMembers reads the members of a run's cgroup (a leaf, the
// common case), as the stop of every run does once.
func BenchmarkCgroupMembers(b *testing.B) {
	c := openTestCgroups(b)
	fd, path, err := c.Prepare("bench")
	if err != nil {
		b.Fatal(err)
	}
	unix.Close(fd)
	for b.Loop() {
		if _, err := c.Members(path); err != nil {
			b.Fatal(err)
		}
	}
}
