package proc

import (
	"fmt"
	"os"
	"slices"
)

// Member is one process of a service as found by Family or FindMarked, with
// what a stop needs to signal it once per step: its identity, to check
// that the PID still names it before each signal, and its process group,
// session and parent (PIDs) as read in the same pass over the process
// table. On macOS SID is 0 when the process exited before it could be
// read (kinfo_proc has no session ID; it takes one getsid per process).
type Member struct {
	Identity
	PGID, SID, PPID int
}

// Family returns the processes that belong to the service rooted at root,
// excluding root itself, so that a stop leaves nothing behind:
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
// The result is sorted by PID and never contains the calling process or
// PID 1, whose descendants are not followed either: a daemon that
// inherited the marker from a shell inside a service must not kill every
// other service. A member may be a zombie (exited, not yet reaped); its
// Identity.Check says so.
//
// A process that exits during the scan is left out, and so is one whose
// files we may not read (another user's, a non-dumpable one). Any other
// failure to read a process (EMFILE, ENOMEM) makes the result incomplete:
// Family then returns what it found together with an error, and a caller
// that would conclude "nothing is left" must ask again later.
//
// Root should be verified with Identity.Check first, or be known to lead a
// session: a bare PID may have been recycled. Linux does not recycle a PID
// while it still names a session or process group, so the group and session
// rules stay safe after root has exited.
func Family(root int, marker string, since uint64) ([]Member, error) {
	if root <= 1 {
		return nil, fmt.Errorf("family of pid %d: refusing", root)
	}
	return family(root, marker, since)
}

// Tree is Family reduced to PIDs, sorted.
func Tree(root int, marker string, since uint64) ([]int, error) {
	members, err := Family(root, marker, since)
	if members == nil {
		return nil, err
	}
	pids := make([]int, len(members))
	for i, m := range members {
		pids[i] = m.PID
	}
	return pids, err
}

// procTable is the processes of one scan of the process table, their
// parent→children relation and the set of PIDs found so far.
type procTable struct {
	procs    map[int]Member
	children map[int][]int
	in       map[int]bool
	self     int
	queue    []int
}

func newProcTable(n int) *procTable {
	return &procTable{
		procs:    make(map[int]Member, n),
		children: make(map[int][]int, n),
		in:       make(map[int]bool),
		self:     os.Getpid(),
	}
}

func (t *procTable) add(m Member) {
	t.procs[m.PID] = m
	if m.PID != m.PPID {
		t.children[m.PPID] = append(t.children[m.PPID], m.PID)
	}
}

// addWithDescendants puts pid and everything below it in the set. The
// calling process and PID 1 are barriers: never added, never descended.
func (t *procTable) addWithDescendants(pid int) {
	t.queue = append(t.queue[:0], pid)
	for len(t.queue) > 0 {
		p := t.queue[len(t.queue)-1]
		t.queue = t.queue[:len(t.queue)-1]
		if p <= 1 || p == t.self || t.in[p] {
			continue
		}
		t.in[p] = true
		t.queue = append(t.queue, t.children[p]...)
	}
}

// descendantsOf adds what is below root without adding root, even when
// root is the calling process (a test asking for its own children).
func (t *procTable) descendantsOf(root int) {
	for _, c := range t.children[root] {
		t.addWithDescendants(c)
	}
}

// groupAndSession adds the members of root's process group and session.
func (t *procTable) groupAndSession(root int) {
	for pid, m := range t.procs {
		if m.PGID == root || m.SID == root {
			t.addWithDescendants(pid)
		}
	}
}

func (t *procTable) result(root int) []Member {
	out := make([]Member, 0, len(t.in))
	for p := range t.in {
		if p != root {
			out = append(out, t.procs[p])
		}
	}
	sortMembers(out)
	return out
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return a.PID - b.PID })
}

// FindMarked is the recovery scan of a daemon that lost track of its
// services: in one pass over the process table it finds every process
// whose environment holds exactly one of markers ("K=V" entries, as Family
// matches them) and returns it under that entry, sorted by PID. Entries
// that no process holds are absent from the map; a process holding two of
// them is not reported at all, since it cannot be told which it belongs
// to. Only processes of our effective UID are read (any when we are root);
// kernel threads, PID 1 and the calling process are never reported.
//
// As with Family, a process that could not be read for another reason than
// exiting or being out of our reach makes the result incomplete: it is
// returned together with an error.
//
// On macOS it returns an empty map and nil: environments cannot be read
// there reliably (see tree_darwin.go), so recovery has to rely on what the
// daemon recorded.
func FindMarked(markers []string) (map[string][]Member, error) {
	want := make(map[string]bool, len(markers))
	for _, m := range markers {
		if m != "" {
			want[m] = true
		}
	}
	if len(want) == 0 {
		return map[string][]Member{}, nil
	}
	return findMarked(want)
}
