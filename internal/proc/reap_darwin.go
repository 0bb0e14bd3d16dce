package proc

import "syscall"

// loop reaps on every SIGCHLD and spawn.
func (r *Reaper) loop() {
	for {
		select {
		case <-r.sigs:
		case <-r.kick:
		}
		r.reapAll()
	}
}

// reapAll waits for tracked children only: macOS has no subreaper, and
// waiting for any child would steal the status of commands that libraries
// run (gopsutil execs lsof there).
func (r *Reaper) reapAll() {
	r.mu.Lock()
	pids := make([]int, 0, len(r.tracked))
	for pid := range r.tracked {
		pids = append(pids, pid)
	}
	r.mu.Unlock()
	for _, pid := range pids {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err == nil && got == pid {
			r.report(pid, ws)
		}
	}
}

// isChild is never asked on macOS: the reaper only waits for tracked
// children, so it never holds the status of an untracked one.
func isChild(int) bool { return true }

// BecomeSubreaper is a no-op: macOS has no subreaper; tree kill relies on
// walking descendants before signalling.
func BecomeSubreaper() error { return nil }

// children cannot be listed cheaply: macOS has no per-process list of
// children, only a walk of the whole process table.
func children() ([]int, bool) { return nil, false }
