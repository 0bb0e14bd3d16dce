package proc

import (
	"fmt"
	"os"
	"slices"
)

// Tree returns the PIDs that belong to the service rooted at root, excluding
// root itself, so that a stop leaves nothing behind:
//
//   - every descendant of root by parent PID;
//   - every process whose process group or session is root (tsm starts each
//     service with setsid, so root leads both), which still finds the group
//     after root itself has exited and its children were re-parented;
//   - on Linux, when marker is not "", every process whose environment holds
//     the exact entry marker (such as "TSM_INSTANCE=api-8000/1732573200123"),
//     which finds a grandchild that double-forked, called setsid and was
//     re-parented to init or a subreaper;
//
// and the descendants of all of these. since, when not zero, is root's
// Identity.StartTime: a process that started before the service cannot
// descend from it, so its environment is not read (this keeps `stop all`
// from reading every service's environment for every other service).
//
// The result is sorted, without
// duplicates, and never contains the calling process or PID 1, whose
// descendants are not followed either: a daemon that inherited the marker
// from a shell inside a service must not kill every other service.
//
// Root should be verified with Identity.Alive first, or be known to lead a
// session: a bare PID may have been recycled. Linux does not recycle a PID
// while it still names a session or process group, so the group and session
// rules stay safe after root has exited.
func Tree(root int, marker string, since uint64) ([]int, error) {
	if root <= 1 {
		return nil, fmt.Errorf("tree of pid %d: refusing", root)
	}
	return tree(root, marker, since)
}

// family is the parent→children relation of one scan of the process table
// and the set of PIDs found so far.
type family struct {
	children map[int][]int
	in       map[int]bool
	self     int
	queue    []int
}

func newFamily(n int) *family {
	return &family{
		children: make(map[int][]int, n),
		in:       make(map[int]bool),
		self:     os.Getpid(),
	}
}

func (f *family) link(pid, ppid int) {
	if pid != ppid {
		f.children[ppid] = append(f.children[ppid], pid)
	}
}

// addWithDescendants puts pid and everything below it in the set. The
// calling process and PID 1 are barriers: never added, never descended.
func (f *family) addWithDescendants(pid int) {
	f.queue = append(f.queue[:0], pid)
	for len(f.queue) > 0 {
		p := f.queue[len(f.queue)-1]
		f.queue = f.queue[:len(f.queue)-1]
		if p <= 1 || p == f.self || f.in[p] {
			continue
		}
		f.in[p] = true
		f.queue = append(f.queue, f.children[p]...)
	}
}

// descendantsOf adds what is below root without adding root, even when
// root is the calling process (a test asking for its own children).
func (f *family) descendantsOf(root int) {
	for _, c := range f.children[root] {
		f.addWithDescendants(c)
	}
}

func (f *family) result(root int) []int {
	out := make([]int, 0, len(f.in))
	for p := range f.in {
		if p != root {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
