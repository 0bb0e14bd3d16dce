package proc

import (
	"fmt"
	"os"
	"slices"
	"sync"
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
	t, err := ScanTable()
	if err != nil {
		return nil, err
	}
	return t.Family(root, marker, since)
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

// procEntry is one process as a scan of the process table reads it.
type procEntry struct {
	Member
	uid    uint32 // the effective UID; read on Linux when we are not root
	kernel bool   // a kernel thread (Linux)
}

// Table is one scan of the process table, indexed for Family. The Family
// queries of a batch (stop all, restart all) share one Table instead of
// scanning once each: that keeps a batch's cost linear in the number of
// processes it ends, not in that number times the processes on the
// machine. A Table is safe for concurrent use; it does not change once
// scanned, except for a cache of the environment entries read so far.
type Table struct {
	procs    map[int]procEntry
	order    []int         // PIDs in scan order
	children map[int][]int // parent → children
	groups   map[int][]int // process group or session → members
	missed   error         // a process that could not be read (see Family)
	self     int

	envMu  sync.Mutex
	envKey string           // the "K=" prefix cached in env
	env    map[int][]string // guarded by envMu; pid → its entries starting with envKey
}

func newTable(n int) *Table {
	return &Table{
		procs:    make(map[int]procEntry, n),
		order:    make([]int, 0, n),
		children: make(map[int][]int, n),
		groups:   make(map[int][]int),
		self:     os.Getpid(),
	}
}

func (t *Table) add(e procEntry) {
	t.procs[e.PID] = e
	t.order = append(t.order, e.PID)
	if e.PID != e.PPID {
		t.children[e.PPID] = append(t.children[e.PPID], e.PID)
	}
	if e.PGID > 0 {
		t.groups[e.PGID] = append(t.groups[e.PGID], e.PID)
	}
	if e.SID > 0 && e.SID != e.PGID {
		t.groups[e.SID] = append(t.groups[e.SID], e.PID)
	}
}

// Len is the number of processes the scan found.
func (t *Table) Len() int { return len(t.procs) }

// Family is the package-level Family answered from this scan: processes
// that started after the scan are not in it. The error says that the scan
// or an environment read missed a process (see Family).
func (t *Table) Family(root int, marker string, since uint64) ([]Member, error) {
	if root <= 1 {
		return nil, fmt.Errorf("family of pid %d: refusing", root)
	}
	w := walk{t: t, in: make(map[int]bool)}
	w.descendantsOf(root)
	w.groupAndSession(root)
	missed := t.missed
	if marker != "" {
		if err := t.marked(&w, root, marker, since); missed == nil {
			missed = err
		}
	}
	return w.result(root), missed
}

// walk is the set of one Family query, grown over a Table.
type walk struct {
	t     *Table
	in    map[int]bool
	queue []int
}

// addWithDescendants puts pid and everything below it in the set. The
// calling process and PID 1 are barriers: never added, never descended.
func (w *walk) addWithDescendants(pid int) {
	w.queue = append(w.queue[:0], pid)
	for len(w.queue) > 0 {
		p := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		if p <= 1 || p == w.t.self || w.in[p] {
			continue
		}
		w.in[p] = true
		w.queue = append(w.queue, w.t.children[p]...)
	}
}

// descendantsOf adds what is below root without adding root, even when
// root is the calling process (a test asking for its own children).
func (w *walk) descendantsOf(root int) {
	for _, c := range w.t.children[root] {
		w.addWithDescendants(c)
	}
}

// groupAndSession adds the members of root's process group and session.
func (w *walk) groupAndSession(root int) {
	for _, pid := range w.t.groups[root] {
		w.addWithDescendants(pid)
	}
}

func (w *walk) result(root int) []Member {
	out := make([]Member, 0, len(w.in))
	for p := range w.in {
		if p != root {
			out = append(out, w.t.procs[p].Member)
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

// Scanner hands out process-table scans to concurrent callers, one scan
// for all who ask while it is pending: the ends of a hundred processes
// stopped at once share one or two walks of /proc, not a hundred. A
// caller always gets a scan that began after it asked, so nothing that
// existed when it asked is missing. The zero Scanner is ready to use.
type Scanner struct {
	mu      sync.Mutex
	pending *scan // not begun yet: joining it is as good as a new scan
	running bool
}

type scan struct {
	done chan struct{}
	t    *Table
	err  error
}

// Table returns a scan of the process table that began after the call.
func (s *Scanner) Table() (*Table, error) {
	s.mu.Lock()
	sc := s.pending
	if sc == nil {
		sc = &scan{done: make(chan struct{})}
		s.pending = sc
		if !s.running {
			s.beginLocked()
		}
	}
	s.mu.Unlock()
	<-sc.done
	return sc.t, sc.err
}

// beginLocked starts the pending scan; when it is done, the one that
// gathered meanwhile (if any) starts. Called with mu held.
func (s *Scanner) beginLocked() {
	sc := s.pending
	s.pending, s.running = nil, true
	go func() {
		sc.t, sc.err = ScanTable()
		close(sc.done)
		s.mu.Lock()
		s.running = false
		if s.pending != nil {
			s.beginLocked()
		}
		s.mu.Unlock()
	}()
}
