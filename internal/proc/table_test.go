package proc

import (
	"fmt"
	"os/exec"
	"slices"
	"sync"
	"testing"
)

// Every caller of Scanner.Table gets a scan that began after it asked,
// also while other callers keep it busy: a process started before the
// call is in the table.
func TestScannerFresh(t *testing.T) {
	var s Scanner
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Table(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for range 20 {
		cmd, _ := startProc(t, procOpts{}, "sleep", "60")
		tab, err := s.Table()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tab.procs[cmd.Process.Pid]; !ok {
			t.Fatalf("pid %d, started before the call, is not in the scan", cmd.Process.Pid)
		}
	}
}

// One Table answers the Family queries of many services as separate
// scans would: with the marker, a service's setsid'd carrier is its own
// and no other service's.
func TestTableFamilies(t *testing.T) {
	if !MarkersVisible {
		t.Skip("no environment rule on this platform")
	}
	type svc struct {
		root, carrier int
		marker        string
	}
	var svcs []svc
	for i := range 3 {
		marker := fmt.Sprintf("%s-%d", testMarker(t), i)
		root, _ := startProc(t, procOpts{setsid: true}, "sleep", "60")
		carrier, _ := startProc(t, procOpts{setsid: true, env: []string{marker}}, "sleep", "60")
		svcs = append(svcs, svc{root.Process.Pid, carrier.Process.Pid, marker})
	}
	var s Scanner
	tab, err := s.Table()
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range svcs {
		fam, err := tab.Family(sv.root, sv.marker, 0)
		if err != nil {
			t.Fatal(err)
		}
		pids := make([]int, len(fam))
		for i, m := range fam {
			pids[i] = m.PID
		}
		if !slices.Equal(pids, []int{sv.carrier}) {
			t.Errorf("family of %d (%s) = %v, want [%d]", sv.root, sv.marker, pids, sv.carrier)
		}
		alone, _ := Tree(sv.root, sv.marker, 0)
		if !slices.Equal(alone, pids) {
			t.Errorf("Tree(%d) = %v, the shared table %v", sv.root, alone, pids)
		}
	}
}

// BenchmarkFamilyBatch is the process-table work of `stop all` of 100
// services without cgroups: one scan shared by the hundred Family queries
// (each with a marker, so environments are read, once per batch).
func BenchmarkFamilyBatch(b *testing.B) {
	var roots []int
	for range 100 {
		c := exec.Command("sleep", "600")
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
		roots = append(roots, c.Process.Pid)
	}
	var s Scanner
	for b.Loop() {
		var wg sync.WaitGroup
		for i, root := range roots {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tab, err := s.Table()
				if err != nil {
					b.Error(err)
					return
				}
				tab.Family(root, fmt.Sprintf("TSM_INSTANCE=bench/%d", i), 0)
			}()
		}
		wg.Wait()
	}
}
