package proc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	extraHelpers["children"] = childrenHelper
}

// TestChildren runs a subreaper helper with a child forked from a thread
// other than the main one, an orphan re-parented to it by a double fork,
// and a zombie, and has it report what Children sees.
func TestChildren(t *testing.T) {
	_, out := startProc(t, procOpts{env: []string{helperEnv + "=children"}, stdout: true}, helperArgv(t)...)
	r := &keyedLines{r: out, vals: make(map[string]int)}
	if r.get(t, "ok") == 0 {
		t.Skip("no /proc/<pid>/task/<tid>/children (kernel without CONFIG_PROC_CHILDREN)")
	}
	killLater(t, r.get(t, "thread"), r.get(t, "orphan"))
	if r.get(t, "hasthread") != 1 {
		t.Error("Children lacks a child forked from another thread than the main one")
	}
	if r.get(t, "hasorphan") != 1 {
		t.Error("Children lacks a double-forked grandchild re-parented to the subreaper")
	}
	if r.get(t, "haszombie") != 0 {
		t.Error("Children lists a zombie")
	}
}

func childrenHelper() {
	if err := BecomeSubreaper(); err != nil {
		helperFail("subreaper", err)
	}
	// A child of a thread that is not the main one (whose TID is the PID):
	// the goroutines stay locked so that each try lands on a new thread.
	threadChild := make(chan int)
	var try func()
	try = func() {
		runtime.LockOSThread()
		if unix.Gettid() == os.Getpid() {
			go try()
			select {}
		}
		c := exec.Command("sleep", "60")
		if err := c.Start(); err != nil {
			helperFail("start", err)
		}
		threadChild <- c.Process.Pid
		select {}
	}
	go try()
	thread := <-threadChild

	sh := exec.Command("sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!")
	b, err := sh.Output() // reaps sh: its child is ours by then
	if err != nil {
		helperFail("sh", err)
	}
	var orphan int
	fmt.Sscan(string(b), &orphan)

	z := exec.Command("true")
	if err := z.Start(); err != nil {
		helperFail("true", err)
	}
	zombie := z.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, err := readStat(zombie, nil); err == nil && st.state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			helperFail("zombie", fmt.Errorf("pid %d never became a zombie", zombie))
		}
	}

	kids, ok := Children()
	flag := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	fmt.Printf("thread=%d\norphan=%d\nok=%d\nhasthread=%d\nhasorphan=%d\nhaszombie=%d\n",
		thread, orphan, flag(ok), flag(slices.Contains(kids, thread)), flag(slices.Contains(kids, orphan)), flag(slices.Contains(kids, zombie)))
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &ws, 0, nil); err == syscall.ECHILD {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestReaperDroppedStatus leaves the reaper no room for untracked
// statuses: a child reaped before Spawn tracked it is still reported,
// once, without a status.
func TestReaperDroppedStatus(t *testing.T) {
	log := &reapLog{}
	r := testReaper(t, log.add)
	r.mu.Lock()
	r.keep = 0
	r.mu.Unlock()
	t.Cleanup(func() {
		r.mu.Lock()
		r.keep = 1024
		r.mu.Unlock()
	})
	r.mu.Lock()
	dropped := r.droppedTo
	r.mu.Unlock()
	// Until the reaper has dropped the status, not only reaped the child:
	// between its wait4 and its report, a Spawn that goes on tracks the
	// child and gets the status after all (the report it then makes is
	// right, but not the case under test).
	r.afterFork = func(pid int) {
		eventually(t, "the child's status to be dropped", func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.droppedTo > dropped
		})
	}
	pid, err := r.Spawn(quickSpec("false"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the exit", func() bool { return len(log.of(pid)) > 0 })
	r.afterFork = nil
	var last spawned
	last.spawn(t, r, 0)
	for p := range last.codes {
		eventually(t, "the last exit", func() bool { return len(log.of(p)) > 0 })
	}
	if got := log.of(pid); len(got) != 1 || got[0].Known {
		t.Errorf("exits reported = %+v, want one without a status", got)
	}
}
