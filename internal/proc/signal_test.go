package proc

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
)

func TestGroupExists(t *testing.T) {
	for _, pgid := range []int{-5, 0, 1} {
		if _, err := GroupExists(pgid); err == nil {
			t.Errorf("GroupExists(%d) succeeded", pgid)
		}
	}
	if own := syscall.Getpgrp(); own > 1 {
		if ok, err := GroupExists(own); !ok || err != nil {
			t.Errorf("GroupExists(own group %d) = %v, %v", own, ok, err)
		}
	}
	cmd, _ := startProc(t, procOpts{setsid: true}, "sleep", "60")
	pgid := cmd.Process.Pid
	if ok, err := GroupExists(pgid); !ok || err != nil {
		t.Fatalf("GroupExists(%d) of a running group = %v, %v", pgid, ok, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	eventually(t, "the group to be gone", func() bool {
		ok, err := GroupExists(pgid)
		if err != nil {
			t.Fatal(err)
		}
		return !ok
	})
}

// TestGroupExistsOthers probes, as an unprivileged user, a group it may
// not signal: EPERM still proves the group exists.
func TestGroupExistsOthers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop to another user")
	}
	cmd, _ := startProc(t, procOpts{setsid: true}, "sleep", "60")
	arg := fmt.Sprintf("%d", cmd.Process.Pid)
	_, out := startProc(t, procOpts{env: []string{helperEnv + "=probegroup", helperArg + "=" + arg}, stdout: true}, helperArgv(t)...)
	lines := &keyedLines{r: out, vals: make(map[string]int)}
	if lines.get(t, "eperm") != 1 {
		t.Fatal("kill(-pgid, 0) did not fail with EPERM for another user: test premise broken")
	}
	switch lines.get(t, "exists") {
	case 0:
		t.Error("GroupExists = false for a live group of another user")
	case -1:
		t.Error("GroupExists failed for a live group of another user (see its stderr)")
	}
}

// probeGroupHelper becomes nobody and probes the group in helperArg. It
// prints exists=1 (true), 0 (false) or -1 (error).
func probeGroupHelper() {
	pgid, err := strconv.Atoi(os.Getenv(helperArg))
	if err != nil {
		helperFail("arg", err)
	}
	if err := syscall.Setuid(65534); err != nil {
		helperFail("setuid", err)
	}
	eperm, exists := 0, 0
	if syscall.Kill(-pgid, 0) == syscall.EPERM {
		eperm = 1
	}
	ok, err := GroupExists(pgid)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "GroupExists:", err)
		exists = -1
	case ok:
		exists = 1
	}
	fmt.Printf("eperm=%d\nexists=%d\n", eperm, exists)
}

// SignalIdentity reaches the process an identity names, and nothing once
// that process is gone — not even a process that has its PID now (here:
// an identity whose start time is not the running process's).
func TestSignalIdentity(t *testing.T) {
	cmd, _ := startProc(t, procOpts{}, "sleep", "60")
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	stranger := id
	stranger.StartTime++ // the same PID, another incarnation
	if sent, err := SignalIdentity(stranger, syscall.SIGKILL); sent || err != nil {
		t.Fatalf("SignalIdentity(another incarnation) = %v, %v; want nothing sent", sent, err)
	}
	if !id.Alive() {
		t.Fatal("the process was signalled through an identity that is not its own")
	}
	if sent, err := SignalIdentity(id, syscall.SIGTERM); !sent || err != nil {
		t.Fatalf("SignalIdentity(its own) = %v, %v", sent, err)
	}
	cmd.Wait()
	if sent, err := SignalIdentity(id, syscall.SIGTERM); sent || err != nil {
		t.Errorf("SignalIdentity(gone) = %v, %v; want false, nil", sent, err)
	}
	if _, err := SignalIdentity(Identity{PID: 1}, syscall.SIGTERM); err == nil {
		t.Error("SignalIdentity(pid 1) was not refused")
	}
}
