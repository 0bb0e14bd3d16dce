package proc

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	// Fields 3..24 after the command name; 22 is the start time, 24 the RSS.
	const tail = " S 1 100 200 0 -1 4194560 500 0 0 0 7 3 0 0 20 0 4 0 123456 1000000 250 18446744073709551615\n"
	for _, comm := range []string{"sleep", "my prog", "a) Z 1 (b", ") )", "((", ""} {
		st, err := parseStat([]byte("4242 (" + comm + ")" + tail))
		if err != nil {
			t.Errorf("comm %q: %v", comm, err)
			continue
		}
		want := procStat{state: 'S', ppid: 1, pgrp: 100, session: 200, flags: 4194560, utime: 7, stime: 3, threads: 4, start: 123456, rssPages: 250}
		if st != want {
			t.Errorf("comm %q: got %+v, want %+v", comm, st, want)
		}
	}
	// A task being torn down, as read during a scan.
	dead := "17190 (true) X 0 -1 -1 0 -1 4227084 50 0 0 0 0 0 0 0 20 0 0 0 66927 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	if st, err := parseStat([]byte(dead)); err != nil || st.state != 'X' || st.pgrp != -1 || st.session != -1 || st.start != 66927 {
		t.Errorf("parseStat(dead task) = %+v, %v", st, err)
	}
	for _, bad := range []string{
		"",
		"4242 sleep S 1",
		"4242 (sleep) S 1 100 200",
		"4242 (sleep) S x 100 200 0 -1 4194560 500 0 0 0 7 3 0 0 20 0 4 0 123456 1000000 250",
	} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, errBadStat) {
			t.Errorf("parseStat(%q) error = %v, want errBadStat", bad, err)
		}
	}
}

func TestKernelThread(t *testing.T) {
	// kthreadd is PID 2 where /proc shows kernel threads at all (not in a
	// PID namespace).
	if comm, _ := os.ReadFile("/proc/2/comm"); string(comm) != "kthreadd\n" {
		t.Skip("no kthreadd in this PID namespace")
	}
	st, err := readStat(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.kernel() {
		t.Errorf("pid 2 (%+v) not seen as a kernel thread", st)
	}
	self, err := readStat(os.Getpid(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if self.kernel() {
		t.Error("the test process seen as a kernel thread")
	}
}

func TestClockTicks(t *testing.T) {
	// USER_HZ is 100 on every mainstream architecture; anything else here
	// means the auxiliary vector was misread.
	if hz := clockTicks(); hz != 100 && hz != 1000 && hz != 250 && hz != 1024 {
		t.Errorf("clockTicks() = %d", hz)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 500 0 0 0 7 3 0 0 20 0 1 0 5 1000000 250 0"))
	f.Add([]byte("7 (a) b) Z 1 7 7"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStat(b) // must not panic
	})
}

// TestCheckCannotTell asks about a live process from a helper whose
// descriptor table is full: every /proc read fails with EMFILE, which must
// come back as "cannot tell", never as "dead", and must not be remembered
// once descriptors are free again.
func TestCheckCannotTell(t *testing.T) {
	self, err := Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(self)
	_, out := startProc(t, procOpts{env: []string{helperEnv + "=nofile", helperArg + "=" + string(arg)}, stdout: true}, helperArgv(t)...)
	var r nofileReport
	if err := json.NewDecoder(out).Decode(&r); err != nil {
		t.Fatalf("helper report: %v", err)
	}
	for name, a := range map[string]answer{"live process": r.Full, "missing pid": r.Missing} {
		if a.Alive || a.Err == "" || a.NoProc || !a.TooMany {
			t.Errorf("%s, no descriptor free: Check = alive %v, err %q (ErrNoProcess %v, EMFILE %v); want false and an EMFILE error", name, a.Alive, a.Err, a.NoProc, a.TooMany)
		}
		if a.Identify == "" || a.IdentifyNoProc {
			t.Errorf("%s, no descriptor free: Identify error %q (ErrNoProcess %v); want an error that is not ErrNoProcess", name, a.Identify, a.IdentifyNoProc)
		}
	}
	if r.BootErr == "" {
		t.Error("bootID succeeded with no descriptor free: test premise broken")
	}
	if !r.After.Alive || r.After.Err != "" {
		t.Errorf("with descriptors free again: Check = %v, %q; want true, nil", r.After.Alive, r.After.Err)
	}
	if r.BootAfter != self.BootID {
		t.Errorf("bootID after the failure = %q, want %q: a failure was remembered", r.BootAfter, self.BootID)
	}
}
