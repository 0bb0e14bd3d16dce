package proc

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func testMarker(t *testing.T) string {
	return fmt.Sprintf("TSM_INSTANCE=proc-test-%d/%s/%d", os.Getpid(), t.Name(), time.Now().UnixNano())
}

// killLater kills pids at the end of the test, but only those that are
// still the processes seen now, and waits until whoever adopted them has
// reaped them (the stand-in daemon of startService, which is stopped after
// this cleanup runs).
func killLater(t *testing.T, pids ...int) {
	var ids []Identity
	for _, pid := range pids {
		if id, err := Identify(pid); err == nil {
			ids = append(ids, id)
		}
	}
	t.Cleanup(func() {
		for _, id := range ids {
			if id.Alive() {
				syscall.Kill(id.PID, syscall.SIGKILL)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for _, id := range ids {
			for syscall.Kill(id.PID, 0) == nil && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
}

func sidOf(pid int) int {
	sid, err := unix.Getsid(pid)
	if err != nil {
		return -1
	}
	return sid
}

// TestTreeGrandchildren runs the shape of a service that starts helpers:
// a background child in the service's session and a grandchild that moved
// to a session of its own.
func TestTreeGrandchildren(t *testing.T) {
	marker := testMarker(t)
	script := `sleep 60 & ` + helperEnv + `=setsid "$@" & wait`
	rootPID, _ := startService(t, []string{marker}, script)
	killLater(t, rootPID)

	var got []int
	eventually(t, "both grandchildren, one in its own session", func() bool {
		var err error
		got, err = Tree(rootPID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			return false
		}
		sids := []int{sidOf(got[0]), sidOf(got[1])}
		return slices.Contains(sids, rootPID) && (sids[0] == got[0] || sids[1] == got[1])
	})
	killLater(t, got...)
	if slices.Contains(got, rootPID) {
		t.Errorf("Tree(%d) = %v contains the root", rootPID, got)
	}

	withMarker, err := Tree(rootPID, marker, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(withMarker, got) {
		t.Errorf("Tree with marker = %v, without = %v; nothing else carries the marker", withMarker, got)
	}

	// Once the root is gone its children are re-parented: the one still in
	// the root's session is found by session ID, the one that left it only
	// by the marker (Linux).
	syscall.Kill(rootPID, syscall.SIGKILL)
	eventually(t, "the root to exit", func() bool {
		_, err := Identify(rootPID)
		return err != nil
	})
	inSession := got[0]
	if sidOf(inSession) != rootPID {
		inSession = got[1]
	}
	orphans, err := Tree(rootPID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(orphans, inSession) {
		t.Errorf("after the root exited, Tree = %v lacks %d (session %d)", orphans, inSession, rootPID)
	}
	if runtime.GOOS == "linux" {
		orphans, err = Tree(rootPID, marker, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(orphans, got) {
			t.Errorf("after the root exited, Tree with marker = %v, want %v", orphans, got)
		}
	}
}

// TestTreeMarker covers the double fork: a grandchild whose parent exits at
// once (so it is re-parented to init) and which leaves the session. Only
// the environment marker still ties it to the service.
func TestTreeMarker(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the environment rule is Linux-only")
	}
	marker := testMarker(t)
	script := `(` + helperEnv + `=setsid "$@" & echo orphan=$!); exec sleep 60`
	rootPID, out := startService(t, []string{marker}, script)
	orphan := out.get(t, "orphan")
	killLater(t, rootPID, orphan)
	eventually(t, "the grandchild to leave the session", func() bool { return sidOf(orphan) == orphan })

	plain, err := Tree(rootPID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(plain, orphan) {
		t.Errorf("Tree without marker = %v contains the re-parented, setsid orphan %d: test premise broken", plain, orphan)
	}
	marked, err := Tree(rootPID, marker, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(marked, orphan) {
		t.Errorf("Tree with marker = %v lacks the orphan %d", marked, orphan)
	}
	// since = the root's start: the orphan started later, so it is still
	// read; a since after the orphan's start skips its environment.
	rootID, err := Identify(rootPID)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Tree(rootPID, marker, rootID.StartTime); !slices.Contains(got, orphan) {
		t.Errorf("Tree since the root's start = %v lacks the orphan %d", got, orphan)
	}
	if got, _ := Tree(rootPID, marker, math.MaxUint64); slices.Contains(got, orphan) {
		t.Errorf("Tree since the end of time = %v still read the orphan's environment", got)
	}
	// A prefix or an extension of the entry is another value.
	for _, near := range []string{marker[:len(marker)-1], marker + "0", strings.TrimPrefix(marker, "TSM_")} {
		got, err := Tree(rootPID, near, 0)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got, orphan) {
			t.Errorf("marker %q matched the entry %q", near, marker)
		}
	}
}

// TestTreeNeverSelf uses an environment entry every process started from
// the test shares, so the test process itself matches it. Neither the test
// process nor PID 1 may be returned, and the test's other children, which
// only match through it, must not be either.
func TestTreeNeverSelf(t *testing.T) {
	env, err := os.ReadFile("/proc/self/environ")
	if err != nil {
		t.Skip("no /proc/self/environ")
	}
	shared, _, _ := strings.Cut(string(env), "\x00")
	if shared == "" {
		t.Skip("empty environment")
	}
	root, _ := startProc(t, procOpts{setsid: true}, "sleep", "60")
	by, _ := startProc(t, procOpts{bareEnv: true}, "sleep", "60")
	bystander := by.Process.Pid
	got, err := Tree(root.Process.Pid, shared, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{os.Getpid(), 1, root.Process.Pid, bystander} {
		if slices.Contains(got, bad) {
			t.Errorf("Tree = %v contains %d", got, bad)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("Tree = %v is not sorted and unique", got)
	}
}

func TestTreeRefusesLowPIDs(t *testing.T) {
	for _, pid := range []int{-1, 0, 1} {
		if _, err := Tree(pid, "", 0); err == nil {
			t.Errorf("Tree(%d) succeeded", pid)
		}
	}
}

func TestTreeOfOwnChildren(t *testing.T) {
	a, _ := startProc(t, procOpts{}, "sleep", "60")
	b, _ := startProc(t, procOpts{}, "sleep", "60")
	got, err := Tree(os.Getpid(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{a.Process.Pid, b.Process.Pid} {
		if !slices.Contains(got, pid) {
			t.Errorf("Tree(self) = %v lacks child %d", got, pid)
		}
	}
}

// BenchmarkTree measures one stop's worth of process-table scanning, with
// and without the environment rule, on this machine as it is and with
// enough extra processes to reach a busy box's few hundred. The extra
// processes are ours but not the service's, so with a marker each one's
// environment has to be read: the worst case.
func BenchmarkTree(b *testing.B) {
	root := exec.Command("sleep", "600")
	root.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := root.Start(); err != nil {
		b.Fatal(err)
	}
	extra := []*exec.Cmd{root}
	defer func() {
		for _, c := range extra {
			c.Process.Kill()
			c.Wait()
		}
	}()
	run := func(b *testing.B) {
		for _, marker := range []string{"", "TSM_INSTANCE=bench/" + strconv.Itoa(os.Getpid())} {
			name := "marker"
			if marker == "" {
				name = "nomarker"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					if _, err := Tree(root.Process.Pid, marker, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	n, err := countProcesses()
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("procs=%d", n), run)

	const target = 400
	for range target - n {
		c := exec.Command("sleep", "600")
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		extra = append(extra, c)
	}
	if n < target {
		b.Run(fmt.Sprintf("procs=%d", target), run)
	}
}

// countProcesses counts the processes on the machine.
func countProcesses() (int, error) {
	if runtime.GOOS != "linux" {
		out, err := exec.Command("ps", "-A", "-o", "pid=").Output()
		return strings.Count(string(out), "\n"), err
	}
	names, err := os.ReadDir("/proc")
	n := 0
	for _, e := range names {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n, err
}

// TestFamily checks what Family reports of each member against what the
// system says of it one process at a time. The service has a child in its
// group, one in a group of its own within the session, and one that left
// the session.
func TestFamily(t *testing.T) {
	marker := testMarker(t)
	script := `sleep 60 & ` + helperEnv + `=setpgid "$@" & ` + helperEnv + `=setsid "$@" & wait`
	rootPID, _ := startService(t, []string{marker}, script)
	killLater(t, rootPID)

	var members []Member
	eventually(t, "three members in three groups", func() bool {
		var err error
		members, err = Family(rootPID, marker, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Three groups once both helpers have made theirs; from then on
		// nothing changes under the checks below.
		groups := map[int]bool{}
		for _, m := range members {
			groups[m.PGID] = true
		}
		return len(members) == 3 && len(groups) == 3
	})
	var pids []int
	for _, m := range members {
		pids = append(pids, m.PID)
	}
	killLater(t, pids...)
	if tree, err := Tree(rootPID, marker, 0); err != nil || !slices.Equal(tree, pids) {
		t.Errorf("Tree = %v, %v; Family's PIDs are %v", tree, err, pids)
	}
	inSession := 0
	for _, m := range members {
		if id, err := Identify(m.PID); err != nil || id != m.Identity {
			t.Errorf("member %+v: Identify = %+v, %v", m, id, err)
		}
		pgid, _ := unix.Getpgid(m.PID)
		if m.PGID != pgid || m.SID != sidOf(m.PID) || m.PPID != rootPID {
			t.Errorf("member %+v: getpgid %d, getsid %d, want PPID %d", m, pgid, sidOf(m.PID), rootPID)
		}
		if m.SID == rootPID {
			inSession++
		}
	}
	if inSession != 2 {
		t.Errorf("members %+v: want two in session %d", members, rootPID)
	}
}
