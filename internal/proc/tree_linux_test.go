package proc

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestFindMarked runs two services with markers of their own, one with a
// grandchild that double-forked and left the session, and bystanders that
// hold both markers or a near miss.
func TestFindMarked(t *testing.T) {
	// Keys of their own: os/exec keeps only the last of two entries with
	// one key, and the bystander must hold both.
	_, val, _ := strings.Cut(testMarker(t), "=")
	a, b := "TSM_TEST_A="+val, "TSM_TEST_B="+val
	rootA, outA := startService(t, []string{a}, `sleep 60 & echo child=$!; (`+helperEnv+`=setsid "$@" & echo orphan=$!); exec sleep 60`)
	child, orphan := outA.get(t, "child"), outA.get(t, "orphan")
	rootB, _ := startService(t, []string{b}, `exec sleep 60`)
	killLater(t, rootA, child, orphan, rootB)
	both, _ := startProc(t, procOpts{env: []string{a, b}}, "sleep", "60")
	near, _ := startProc(t, procOpts{env: []string{a + "0", "X" + b}}, "sleep", "60")
	if env, _ := os.ReadFile(procPath(both.Process.Pid, "environ")); !hasEnvEntry(env, []byte(a)) || !hasEnvEntry(env, []byte(b)) {
		t.Fatal("the bystander does not hold both markers: test premise broken")
	}
	eventually(t, "the grandchild to leave the session", func() bool { return sidOf(orphan) == orphan })

	want := map[string][]int{a: {rootA, child, orphan}, b: {rootB}}
	slices.Sort(want[a])
	var got map[string][]Member
	eventually(t, "exactly the marked processes", func() bool {
		var err error
		got, err = FindMarked([]string{a, b, "TSM_UNUSED=1", ""})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			return false
		}
		for k, pids := range want {
			var have []int
			for _, m := range got[k] {
				have = append(have, m.PID)
			}
			if !slices.Equal(have, pids) {
				return false
			}
		}
		return true
	})
	for _, ms := range got {
		for _, m := range ms {
			if m.PID == both.Process.Pid || m.PID == near.Process.Pid {
				t.Errorf("FindMarked reported bystander %d", m.PID)
			}
			st, err := readStat(m.PID, nil)
			if err != nil {
				t.Fatal(err)
			}
			id, err := Identify(m.PID)
			if err != nil || id != m.Identity || m.PGID != st.pgrp || m.SID != st.session || m.PPID != st.ppid {
				t.Errorf("member %+v: Identify %+v (%v), stat %+v", m, id, err, st)
			}
		}
	}
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
