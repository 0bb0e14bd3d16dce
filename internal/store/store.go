// Package store owns tsm's state on disk, in the bash TSM layout that other
// tools read: runtime/processes/<name>/{meta.json,<name>.pid,current.out,
// current.err}, the ports registry, the stop journal and the daemon's
// files. Every write is atomic (temp file, fsync, rename, fsync of the
// directory). It does no process work and imports only paths, which names
// the files.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unique"

	"github.com/tetra/tsm/internal/execctx"
	"github.com/tetra/tsm/internal/paths"
)

// Store is the on-disk state under one root. Its methods are safe to call
// from several goroutines only as far as the file system makes them: the
// daemon is the single writer and serialises writes per process.
type Store struct {
	Root string
}

// New prepares the directory layout under root: root, runtime and
// runtime/processes, each private to the caller (0700) whatever the umask,
// also when an older tsm made them 0755.
func New(root string) (*Store, error) {
	s := &Store{Root: root}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	for _, dir := range []string{root, filepath.Dir(s.ProcessesDir()), s.ProcessesDir()} {
		if err := private(dir); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	return s, nil
}

// The files in a process's directory are joined by hand: Dir is clean and
// their names are fixed, and `tsm list` builds three per process per call.

func (s *Store) ProcessesDir() string        { return paths.Processes(s.Root) }
func (s *Store) Dir(name string) string      { return filepath.Join(s.ProcessesDir(), name) }
func (s *Store) MetaPath(name string) string { return s.Dir(name) + "/meta.json" }
func (s *Store) PIDPath(name string) string  { return filepath.Join(s.Dir(name), name+".pid") }
func (s *Store) OutLog(name string) string   { return s.Dir(name) + "/current.out" }
func (s *Store) ErrLog(name string) string   { return s.Dir(name) + "/current.err" }

// LaunchPath holds the captured environment, argv and cwd of a process:
// secrets live there (mode 0600), never in meta.json.
func (s *Store) LaunchPath(name string) string { return filepath.Join(s.Dir(name), "launch.json") }

// StdinPath is the FIFO a process reads as stdin (see Launch.Stdin).
func (s *Store) StdinPath(name string) string { return filepath.Join(s.Dir(name), "stdin") }

// The daemon's own files; their names live in package paths, shared with
// the CLI.
func (s *Store) PortsFile() string     { return paths.Ports(s.Root) }
func (s *Store) SocketPath() string    { return paths.Socket(s.Root) }
func (s *Store) LockPath() string      { return paths.Lock(s.Root) }
func (s *Store) DaemonPIDPath() string { return paths.DaemonPID(s.Root) }
func (s *Store) EventsPath() string    { return paths.Events(s.Root) }

// Port is a TCP port that marshals as the seed wants: an integer, or the
// string "none" when there is no port (zero).
type Port int

func (p Port) MarshalJSON() ([]byte, error) {
	if p == 0 {
		return []byte(`"none"`), nil
	}
	return []byte(strconv.Itoa(int(p))), nil
}

// UnmarshalJSON accepts what every TSM generation wrote: a number, a numeric
// string, "none", "" or null.
func (p *Port) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*p = 0
	case float64:
		*p = Port(x)
	case string:
		if x == "" || x == "none" || x == "null" {
			*p = 0
			return nil
		}
		n, err := strconv.Atoi(x)
		if err != nil {
			return fmt.Errorf("port %q is not a number", x)
		}
		*p = Port(n)
	default:
		return fmt.Errorf("port must be a number or \"none\", got %s", b)
	}
	return nil
}

// Statuses written to meta.json.
const (
	StatusOnline  = "online"
	StatusStopped = "stopped"
	StatusCrashed = "crashed"
	StatusErrored = "errored"
)

// Meta is meta.json: the seed's fields with their names and JSON types,
// then the fields the daemon needs to supervise and re-adopt the process.
type Meta struct {
	TsmID            int    `json:"tsm_id"`
	Name             string `json:"name"`
	PID              int    `json:"pid"`
	Command          string `json:"command"`
	Port             Port   `json:"port"`
	Cwd              string `json:"cwd"`
	Interpreter      string `json:"interpreter"`
	ProcessType      string `json:"process_type"`
	EnvFile          string `json:"env_file"`
	Prehook          string `json:"prehook"`
	StartTime        int64  `json:"start_time"`
	Status           string `json:"status"`
	Restarts         int    `json:"restarts"`
	UnstableRestarts int    `json:"unstable_restarts"`

	RestartPolicy string `json:"restart_policy,omitempty"`
	ExitCode      *int   `json:"exit_code,omitempty"`
	ExitSignal    string `json:"exit_signal,omitempty"`
	StopTime      int64  `json:"stop_time,omitempty"`
	// MaxRestarts and MinUptimeMS override the daemon's crash-loop limits.
	MaxRestarts *int  `json:"max_restarts,omitempty"`
	MinUptimeMS int64 `json:"min_uptime_ms,omitempty"`
	// NextRestart is when (unix ms) a crashed process will be started again.
	NextRestart int64 `json:"next_restart,omitempty"`
	// PIDStartTicks and BootID pin PID to one incarnation so that a recycled
	// PID or a reboot is never mistaken for this process.
	PIDStartTicks uint64 `json:"pid_start_ticks,omitempty"`
	BootID        string `json:"boot_id,omitempty"`
	// Marker is an environment entry unique to this run; descendants inherit
	// it, so they can be found even after a double fork. The supervisor
	// makes it from RunBase (unique to the entry) and Run (the number of
	// the run), so the next run's marker is known before it exists.
	Marker  string `json:"marker,omitempty"`
	RunBase string `json:"run_base,omitempty"`
	Run     int    `json:"run,omitempty"`
	// Unverified, set by the daemon (never read as a fact), says why the
	// process a record without an identity names was not taken for the
	// recorded one: that process is neither adopted nor ever signalled.
	Unverified string `json:"unverified,omitempty"`
	// Cgroup is the cgroup v2 directory of the current run, when there is
	// one: everything the process forks stays in it.
	Cgroup string `json:"cgroup,omitempty"`

	// State is the supervisor's lifecycle state (starting, online,
	// stopping, backoff, exited, crashed, errored, stopped). Status keeps
	// the seed's coarser word for the bash TSM and its readers.
	State string `json:"state,omitempty"`
	// Pending is what a run in state stopping is being ended for: stop,
	// kill, restart, delete, or exit (the main process ended by itself and
	// the run's leftovers are being ended). It is on disk before the first
	// signal, so a daemon that dies mid-stop is followed by one that
	// finishes the job instead of restarting the process.
	Pending string `json:"pending,omitempty"`
	// StopDeadline is when (unix ms) a stopping run gets the kill signal.
	StopDeadline int64 `json:"stop_deadline,omitempty"`
	// StopSent is when (unix ms) the stop signal went out; 0 while it has
	// not (yet, as far as the record knows). A daemon that finishes a stop
	// the last one began sends it only if it was not sent.
	StopSent int64 `json:"stop_sent,omitempty"`
	// StopSignal ends a run gracefully (default SIGTERM); KillSignal ends
	// what is left when KillTimeoutMS (default 10 s) has passed (default
	// SIGKILL).
	StopSignal    string `json:"stop_signal,omitempty"`
	KillSignal    string `json:"kill_signal,omitempty"`
	KillTimeoutMS int64  `json:"kill_timeout_ms,omitempty"`
	// ReloadSignal is what `tsm reload` sends the main process (e.g.
	// SIGHUP for gunicorn or nginx); "" means reload restarts it.
	ReloadSignal string `json:"reload_signal,omitempty"`
	// ReadyCheck is when a new run counts as up (--ready: tcp, tcp:PORT,
	// http://…, exec:CMD, log:REGEX); "" means the port accepts
	// connections, or the run survived the settle window without a port.
	ReadyCheck string `json:"ready_check,omitempty"`
	// HealthCheck is the process's health probe (tcp, tcp:PORT, http://…,
	// exec:CMD; "" for none), run every HealthIntervalMS with a timeout of
	// HealthTimeoutMS; HealthRetries failures in a row restart it (0s: the
	// defaults, 10 s, 5 s and 3).
	HealthCheck      string `json:"health_check,omitempty"`
	HealthIntervalMS int64  `json:"health_interval_ms,omitempty"`
	HealthTimeoutMS  int64  `json:"health_timeout_ms,omitempty"`
	HealthRetries    int    `json:"health_retries,omitempty"`
	// HealthError is why the last health check failed, while the run is
	// unhealthy; RestartReason why tsm last restarted the process by itself
	// for a reason other than an exit (a failing health check).
	HealthError   string `json:"health_error,omitempty"`
	RestartReason string `json:"restart_reason,omitempty"`
	// MaxMemory (bytes) restarts the process when its whole tree uses more;
	// CronRestart restarts it on a cron schedule (five fields or @daily).
	MaxMemory   int64  `json:"max_memory,omitempty"`
	CronRestart string `json:"cron_restart,omitempty"`
	// Watch lists the absolute paths whose changes restart the process
	// (--watch); WatchIgnore the patterns added to the default ignores.
	Watch       []string `json:"watch,omitempty"`
	WatchIgnore []string `json:"watch_ignore,omitempty"`
	// LogMaxSize (bytes; 0: never rotate) and LogKeep override the state
	// directory's log rotation limits (config.toml) for this process.
	LogMaxSize *int64 `json:"log_max_size,omitempty"`
	LogKeep    *int   `json:"log_keep,omitempty"`
	// LogTime: the process writes into named pipes beside its log files,
	// and the daemon writes each line into the log with its arrival time.
	LogTime bool `json:"log_time,omitempty"`
}

// fillLegacy reads the keys of the bash TSM's last generation, which wrote
// "id" and "started" instead of "tsm_id" and "start_time", so its state is
// adopted rather than misread as ID 0 started in 1970.
func (m *Meta) fillLegacy(b []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	var legacy struct {
		ID      *int   `json:"id"`
		Started *int64 `json:"started"`
	}
	if err := json.Unmarshal(b, &legacy); err != nil {
		return err
	}
	if _, ok := keys["tsm_id"]; !ok && legacy.ID != nil {
		m.TsmID = *legacy.ID
	}
	if _, ok := keys["start_time"]; !ok && legacy.Started != nil {
		m.StartTime = *legacy.Started
	}
	return nil
}

// Launch is everything needed to run the process again exactly as it was
// first started.
type Launch struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	// Request fields kept so `restart --update-env` can resolve again.
	Request json.RawMessage `json:"request,omitempty"`
	// Context is the starting shell's limits, umask and priority, replayed
	// on every run; nil for a record older than it (then the daemon's).
	Context *execctx.Context `json:"context,omitempty"`
	// Stdin is "null" for /dev/null; "" gives the process the FIFO
	// StdinPath as stdin, so it never reads EOF.
	Stdin string `json:"stdin,omitempty"`
}

// Problem is a process directory that could not be read, or, with Loaded,
// one that was read but has a problem (an unusable launch.json), or, with
// Mended too, one that LoadAll mended in memory (a duplicate ID
// renumbered, a torn meta.json replaced by the record before it): the
// record must be written back, and then all is well.
type Problem struct {
	Name   string
	Err    error
	Loaded bool
	Mended bool
}

func (p Problem) Error() string { return fmt.Sprintf("%s: %v", p.Name, p.Err) }

// LoadAll reads every process's meta.json. A corrupt one whose spare
// holds a whole earlier record is loaded from that, with a Problem with
// Loaded and Mended set. A directory whose meta.json is missing or corrupt
// (and no spare helps), or that is a symbolic link, is reported as a
// Problem and skipped. A record whose tsm_id another record already has (sorted
// by name, the first keeps it) gets the lowest free ID and a Problem with
// Loaded and Mended set; the caller writes the record back.
func (s *Store) LoadAll() ([]Meta, []Problem, error) {
	entries, err := os.ReadDir(s.ProcessesDir())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read %s: %w", s.ProcessesDir(), err)
	}
	var metas []Meta
	var problems []Problem
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			// Never followed: whatever it points to is not tsm's.
			problems = append(problems, Problem{Name: e.Name(), Err: fmt.Errorf("%s is a symbolic link, which tsm never follows in its state directory; remove it", s.Dir(e.Name()))})
			continue
		}
		if !e.IsDir() {
			continue
		}
		if err := private(s.Dir(e.Name())); err != nil {
			problems = append(problems, Problem{Name: e.Name(), Err: err})
			continue
		}
		m, err := s.ReadMeta(e.Name())
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			// A torn meta.json (a power loss inside an intent's write,
			// which is not synced) has the record before it in its spare
			// (writeSwap): a whole, older state beats none.
			if prev, perr := s.readMetaFile(sparePath(s.MetaPath(e.Name())), e.Name()); perr == nil {
				problems = append(problems, Problem{Name: e.Name(), Loaded: true, Mended: true,
					Err: fmt.Errorf("meta.json was unreadable (%v); the record written before it was used instead", err)})
				m, err = prev, nil
			}
		}
		if errors.Is(err, fs.ErrNotExist) && s.unwritten(e.Name()) {
			// A first record whose writer died before its rename: the
			// directory holds nothing else, and nothing was started.
			os.RemoveAll(s.Dir(e.Name()))
			continue
		}
		if err != nil {
			problems = append(problems, Problem{Name: e.Name(), Err: err})
			continue
		}
		metas = append(metas, m)
	}
	problems = append(problems, renumber(metas)...)
	sort.Slice(metas, func(i, j int) bool { return metas[i].TsmID < metas[j].TsmID })
	return metas, problems, nil
}

// renumber gives every record whose tsm_id an earlier one (in name order,
// which is metas' order) has the lowest ID no record uses, so that an ID
// names one process only.
func renumber(metas []Meta) []Problem {
	used := make(map[int]bool, len(metas))
	var dups []int
	for i, m := range metas {
		if used[m.TsmID] {
			dups = append(dups, i)
			continue
		}
		used[m.TsmID] = true
	}
	var problems []Problem
	free := 0
	for _, i := range dups {
		for used[free] {
			free++
		}
		used[free] = true
		m := &metas[i]
		problems = append(problems, Problem{Name: m.Name, Loaded: true, Mended: true,
			Err: fmt.Errorf("tsm_id %d is also another process's; renumbered to %d", m.TsmID, free)})
		m.TsmID = free
	}
	return problems
}

// unwritten reports whether a process directory holds nothing but the
// temporary files of an atomic write that did not finish.
func (s *Store) unwritten(name string) bool {
	entries, err := os.ReadDir(s.Dir(name))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), ".tmp") {
			return false
		}
	}
	return true
}

// ReadMeta reads one process's meta.json.
func (s *Store) ReadMeta(name string) (Meta, error) {
	return s.readMetaFile(s.MetaPath(name), name)
}

// sparePath is the spare of path: a hidden name beside it, which loads
// skip; on Linux it holds the previous content of path (writeSwap).
func sparePath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-spare")
}

func (s *Store) readMetaFile(path, name string) (Meta, error) {
	var m Meta
	b, err := readRecord(path, maxMeta)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("corrupt meta.json (%v); fix or delete %s", err, s.Dir(name))
	}
	if err := m.fillLegacy(b); err != nil {
		return m, fmt.Errorf("corrupt meta.json (%v); fix or delete %s", err, s.Dir(name))
	}
	if m.Name != name {
		return m, fmt.Errorf("meta.json names %q but lives in directory %q", m.Name, name)
	}
	return m, nil
}

// WriteMeta atomically and durably (fsync) writes meta.json and the pid
// file. The pid file is brought in line first, so that a reader who sees a
// status in meta.json also sees the matching pid file: present while
// online, absent otherwise.
func (s *Store) WriteMeta(m Meta) error { return s.writeMeta(m, true) }

// WriteIntent is WriteMeta without fsync, for the record of what the daemon
// is about to do (spawn a run, signal one). It must survive the daemon, not
// the machine: once rename(2) returns, a daemon killed at any instant
// leaves the new record for the next one, and a power loss that could undo
// it also ends every process the record is about. Keeping fsync off this
// path keeps it off every respawn and every stop.
func (s *Store) WriteIntent(m Meta) error { return s.writeMeta(m, false) }

func (s *Store) writeMeta(m Meta, durable bool) error {
	if err := s.procDir(m.Name); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if m.PID > 0 && m.Status == StatusOnline {
		// An intent about a live run (a stop) leaves the pid file as the
		// run's start wrote it; so does a save of the same run (ready,
		// unhealthy, ...) that finds it already there: the run's first
		// save made it durable.
		pid := []byte(strconv.Itoa(m.PID) + "\n")
		if durable && !holds(s.PIDPath(m.Name), pid) {
			err = writeOwned(s.PIDPath(m.Name), pid, fileMode, durable)
		}
	} else {
		err = removeOwned(s.PIDPath(m.Name))
	}
	if err != nil {
		return fmt.Errorf("write the pid file of %s: %w", m.Name, err)
	}
	if err := writeOwned(s.MetaPath(m.Name), append(b, '\n'), fileMode, durable); err != nil {
		return fmt.Errorf("write meta.json of %s: %w", m.Name, err)
	}
	return nil
}

// procDir makes sure the directory of process name is a private directory
// of the caller's, never a link to somewhere else.
func (s *Store) procDir(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return private(s.Dir(name))
}

// WriteLaunch stores the launch record with mode 0600.
func (s *Store) WriteLaunch(name string, l Launch) error {
	if err := s.procDir(name); err != nil {
		return err
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return WriteFileAtomic(s.LaunchPath(name), b, fileMode)
}

// ReadLaunch reads the launch record. A missing one is an error wrapping
// fs.ErrNotExist (the bash TSM wrote none); any other error means the
// record is there but unusable, and how to run the process is unknown.
func (s *Store) ReadLaunch(name string) (Launch, error) {
	var l Launch
	b, err := readRecord(s.LaunchPath(name), maxLaunch)
	if errors.Is(err, fs.ErrNotExist) {
		return l, err
	}
	if err == nil {
		err = json.Unmarshal(b, &l)
		if err == nil && len(l.Argv) == 0 {
			err = errors.New("no argv")
		}
	}
	if err != nil {
		return Launch{}, fmt.Errorf("corrupt launch.json (%v); fix or delete %s", err, s.LaunchPath(name))
	}
	// Shared between processes, as spec interns them at start.
	for i, e := range l.Env {
		l.Env[i] = unique.Make(e).Value()
	}
	return l, nil
}

// tombstonePrefix starts the name a deleted process directory is renamed
// to before its files are removed: LoadAll skips it (it starts with a dot)
// and the name is free again the moment the rename returns.
const tombstonePrefix = ".deleted-"

// Tombstone renames a process directory out of the way in one atomic step,
// so that a new process of the same name never shares (or loses) files
// with the deleted one, then removes the renamed directory. A daemon that
// dies during the removal leaves a tombstone that PurgeTombstones clears.
func (s *Store) Tombstone(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	grave := filepath.Join(s.ProcessesDir(), fmt.Sprintf("%s%s-%d", tombstonePrefix, name, time.Now().UnixNano()))
	if err := os.Rename(s.Dir(name), grave); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(grave)
}

// PurgeTombstones removes what deletes interrupted by a crash left behind.
func (s *Store) PurgeTombstones() {
	graves, _ := filepath.Glob(filepath.Join(s.ProcessesDir(), tombstonePrefix+"*"))
	for _, g := range graves {
		os.RemoveAll(g)
	}
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.HasPrefix(name, tombstonePrefix) {
		return fmt.Errorf("refusing process directory %q", name)
	}
	return nil
}

// Remove deletes a process directory. The name must be a plain directory
// name so that nothing outside the processes directory can be removed.
func (s *Store) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return os.RemoveAll(s.Dir(name))
}

// PortsContent is the ports registry (TSM_PORTS_FILE) for metas: one
// name:port line per process that has a port, in the order of metas.
func PortsContent(metas []Meta) string {
	var b strings.Builder
	for _, m := range metas {
		if m.Port > 0 {
			fmt.Fprintf(&b, "%s:%d\n", m.Name, m.Port)
		}
	}
	return b.String()
}

// WritePorts replaces the ports registry with content (see PortsContent).
func (s *Store) WritePorts(content string) error {
	return WriteFileAtomic(s.PortsFile(), []byte(content), fileMode)
}

// WriteDaemonPID records the daemon's PID, atomically but without fsync:
// it describes a live process, which a power loss would end too, and the
// fsyncs were a millisecond of every cold start.
func (s *Store) WriteDaemonPID(pid int) error {
	return writeFile(s.DaemonPIDPath(), []byte(strconv.Itoa(pid)+"\n"), fileMode, false)
}

// WriteFileAtomic replaces path with data so that readers see either the old
// or the new content, never a mix, even after a crash.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, true)
}

// writeFile replaces path with data atomically; durable adds the fsyncs
// that make the new content survive a power loss.
func writeFile(path string, data []byte, perm fs.FileMode, durable bool) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if durable {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// holds reports whether path is a record of ours with exactly data in it.
func holds(path string, data []byte) bool {
	b, err := readRecord(path, int64(len(data)))
	return err == nil && bytes.Equal(b, data)
}

// writeOwned is writeFile for a file with one writer (see writeSwap).
func writeOwned(path string, data []byte, perm fs.FileMode, durable bool) error {
	if err := writeSwap(path, data, perm, durable); !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return writeFile(path, data, perm, durable)
}
