// Package api holds the wire contract between the tsm CLI and its daemon:
// request and response bodies, route paths, error codes and the protocol
// version, and the rendering of the `tsm list` table (table.go), which the
// daemon sends ready to print. It imports only the standard library and the
// value types of execctx.
package api

import "github.com/tetra/tsm/internal/execctx"

// Version identifies the protocol. The daemon sends it in the Tsm-Version
// header of every response so a CLI can tell that an older daemon is running.
const Version = "1"

// VersionHeader carries Version on every response.
const VersionHeader = "Tsm-Version"

// ReadyFDEnv names the descriptor on which a daemon that the CLI started
// reports that it listens: it writes one byte there, then closes it. A
// daemon that fails first (or loses the race for the lock) only closes it.
// The CLI thus waits for one read instead of polling the socket.
const ReadyFDEnv = "TSM_READY_FD"

// BuildHeader carries release.Build on every response.
const BuildHeader = "Tsm-Build"

// ProblemHeader carries one of ListResponse.Problems per value, where the
// body has no room for them (RouteListJSON).
const ProblemHeader = "Tsm-Problem"

// Routes. All bodies are JSON.
const (
	RoutePing  = "/v1/ping"  // GET  → Ping
	RouteStart = "/v1/start" // POST StartRequest → Process
	// RoutePlan resolves a start without making it (start --dry-run).
	RoutePlan    = "/v1/start/plan" // POST StartRequest → Plan
	RouteStop    = "/v1/stop"       // POST TargetsRequest → []Result
	RouteKill    = "/v1/kill"       // POST TargetsRequest → []Result
	RouteRestart = "/v1/restart"    // POST TargetsRequest → []Result
	RouteDelete  = "/v1/delete"     // POST TargetsRequest → []Result
	RouteList    = "/v1/list"       // GET  → ListResponse
	// RouteListJSON answers GET ?all=1 with the bytes `tsm list --json`
	// prints: an indented array of Process, without the stopped ones unless
	// all is given; the problems of ListResponse come in ProblemHeader.
	RouteListJSON = "/v1/list/json"
	// RouteListRows answers GET ?all=1 with Rows: what the `tsm list` table
	// shows. CLIs from before RouteListTable ask for it.
	RouteListRows = "/v1/list/rows"
	// RouteListTable answers GET ?all=1&color=1 with the bytes `tsm list`
	// prints (WriteTable; color: status words painted for a terminal), the
	// problems in ProblemHeader: the CLI decodes nothing.
	RouteListTable = "/v1/list/table"
	RouteInfo      = "/v1/info"         // GET ?target=X → Process
	RouteShutdown  = "/v1/daemon/stop"  // POST → Ping; the daemon exits, services keep running
	RouteSignal    = "/v1/signal"       // POST TargetsRequest (Signal, Group) → []Result
	RouteReload    = "/v1/reload"       // POST TargetsRequest → []Result
	RoutePorts     = "/v1/ports"        // GET [?port=N] → PortsResponse
	RouteDoctor    = "/v1/doctor"       // GET [?only=cgroups|orphans|records|ports] → DoctorReport
	RouteClean     = "/v1/doctor/clean" // POST CleanRequest → []CleanResult
)

// Ping describes the daemon.
type Ping struct {
	Version   string `json:"version"`
	Build     string `json:"build"`
	PID       int    `json:"pid"`
	StartedAt int64  `json:"started_at"`
	Dir       string `json:"dir"`
	Processes int    `json:"processes"` // managed processes, whatever their state
	Running   int    `json:"running"`   // of those, the ones with a live main process
	// InFlight names the operations being served ("stop", "start", ...):
	// a daemon told to stop finishes them first.
	InFlight []string `json:"in_flight,omitempty"`
}

// StartRequest carries everything the daemon needs to run a command exactly
// as the caller would have: argv as typed, cwd and environment.
type StartRequest struct {
	Argv    []string `json:"argv"`
	Cwd     string   `json:"cwd"`
	Env     []string `json:"env"`
	Name    string   `json:"name,omitempty"`
	Port    string   `json:"port,omitempty"` // "", "8000", "8000+", "none"
	EnvFile string   `json:"env_file,omitempty"`
	WorkDir string   `json:"workdir,omitempty"`
	PreHook string   `json:"prehook,omitempty"`
	Restart string   `json:"restart,omitempty"` // always | on-failure | never
	// MaxRestarts is how many unstable restarts in a row are allowed before
	// status errored (nil: the daemon's default, 10).
	MaxRestarts *int `json:"max_restarts,omitempty"`
	// MinUptimeMillis: a run shorter than this is unstable (0: 1 s).
	MinUptimeMillis int `json:"min_uptime_ms,omitempty"`
	// WaitMillis bounds how long start waits for a port to accept connections.
	WaitMillis int `json:"wait_ms,omitempty"`
	// NoWait answers as soon as the process is spawned (Ready "spawned"),
	// without waiting for its port or the settle window.
	NoWait bool `json:"no_wait,omitempty"`
	// StopSignal ends the process gracefully (default SIGTERM); KillSignal
	// ends what is left after KillTimeoutMillis (default 10 s; default
	// signal SIGKILL).
	StopSignal        string `json:"stop_signal,omitempty"`
	KillSignal        string `json:"kill_signal,omitempty"`
	KillTimeoutMillis int    `json:"kill_timeout_ms,omitempty"`
	// Context is the caller's limits, umask and priority, replayed on
	// every run (nil: what the daemon's children inherit).
	Context *execctx.Context `json:"context,omitempty"`
	// Stdin is "null" for /dev/null; "" (the default) keeps stdin open and
	// empty for as long as the process runs, so it never sees EOF.
	Stdin string `json:"stdin,omitempty"`
	// ReloadSignal is what `tsm reload` sends the main process (e.g.
	// "SIGHUP" for gunicorn or nginx); empty: reload restarts.
	ReloadSignal string `json:"reload_signal,omitempty"`
	// Ready is when a run counts as up: "tcp", "tcp:PORT", "http://…",
	// "exec:CMD" or "log:REGEX"; "" for the port accepting connections (or
	// 0.5 s alive without a port). Start, restart and automatic restarts
	// wait for it, up to WaitMillis.
	Ready string `json:"ready,omitempty"`
	// MaxMemory (bytes, 0: none) restarts the process gracefully when its
	// whole tree uses more; CronRestart ("0 3 * * *", "@daily") restarts
	// it on a schedule.
	MaxMemory   int64  `json:"max_memory,omitempty"`
	CronRestart string `json:"cron_restart,omitempty"`
	// Watch lists paths (relative to the process's directory) whose
	// changes restart the process, debounced; WatchIgnore adds patterns
	// (".git", "node_modules", "__pycache__" and tsm's logs are ignored).
	Watch       []string `json:"watch,omitempty"`
	WatchIgnore []string `json:"watch_ignore,omitempty"`
	// Health is the health check: "tcp", "tcp:PORT", "http://…" or
	// "exec:CMD" ("" for none), every HealthIntervalMillis (default 10 s),
	// failing after HealthTimeoutMillis (default 5 s); HealthRetries
	// failures in a row (default 3) restart the process.
	Health               string `json:"health,omitempty"`
	HealthIntervalMillis int    `json:"health_interval_ms,omitempty"`
	HealthTimeoutMillis  int    `json:"health_timeout_ms,omitempty"`
	HealthRetries        int    `json:"health_retries,omitempty"`
	// LogMaxSize (bytes; 0: never rotate) and LogKeep (rotated files kept)
	// override config.toml's [logs] for this process; nil: the config's.
	LogMaxSize *int64 `json:"log_max_size,omitempty"`
	LogKeep    *int   `json:"log_keep,omitempty"`
	// LogTime prefixes each line in the log files with its arrival time
	// (see README, Logs: the daemon is then in the output's path).
	LogTime bool `json:"log_time,omitempty"`
}

// TargetsRequest names processes by ID, exact name or unique substring; the
// single target "all" means every process.
type TargetsRequest struct {
	Targets []string `json:"targets"`
	// TimeoutMillis is the stop grace period: absent, the process's own
	// (its --kill-timeout, 10 s unless set); 0, none: the kill signal
	// follows the stop signal at once.
	TimeoutMillis *int `json:"timeout_ms,omitempty"`
	// Env is the caller's environment (restart only): used with UpdateEnv,
	// which replaces the stored environment with it, and for processes the
	// bash TSM started, which have none stored.
	UpdateEnv bool     `json:"update_env,omitempty"`
	Env       []string `json:"env,omitempty"`
	// Context is the caller's limits, umask and priority; with UpdateEnv
	// they replace the stored ones.
	Context *execctx.Context `json:"context,omitempty"`
	// Signal (signal only) is the signal to send, by name or number;
	// Group sends it to the whole run rather than its main process.
	Signal string `json:"signal,omitempty"`
	Group  bool   `json:"group,omitempty"`
}

// Result reports what happened to one process of a TargetsRequest.
type Result struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	PID  int    `json:"pid,omitempty"`
	// stopped, killed, restarted, deleted, not-running, signalled,
	// reloaded (reload sent the process's reload signal)
	Action      string `json:"action"`
	Descendants int    `json:"descendants,omitempty"`
	Forced      bool   `json:"forced,omitempty"` // SIGKILL was needed after the grace period
	Port        int    `json:"port,omitempty"`
	// EnvChanges lists the variables restart --update-env changed, as
	// "+KEY", "-KEY" or "~KEY" (added, removed, changed); never values.
	EnvChanges []string `json:"env_changes,omitempty"`
	// Notes (restart): with --update-env, what was derived again and
	// changed, such as the port, or what stays fixed and why, such as the
	// name; a run not ready within the wait (its --ready check has not
	// passed, or nothing accepts connections on its port) says so.
	Notes []string `json:"notes,omitempty"`
}

// ListResponse is the process table. Corrupt entries are reported, not fatal.
type ListResponse struct {
	Processes []Process `json:"processes"`
	Problems  []string  `json:"problems,omitempty"`
}

// Rows is the `tsm list` table, without the stopped processes unless asked.
type Rows struct {
	Rows     []Row    `json:"rows"`
	Problems []string `json:"problems,omitempty"` // as in ListResponse
}

// Row is what the `tsm list` table shows of a process; each field means
// what it means in Process.
type Row struct {
	TsmID       int     `json:"tsm_id"`
	Name        string  `json:"name"`
	PID         int     `json:"pid,omitempty"`
	Port        any     `json:"port,omitempty"`
	Status      string  `json:"status"`
	State       string  `json:"state,omitempty"`
	Pending     string  `json:"pending,omitempty"`
	ExitCode    *int    `json:"exit_code,omitempty"`
	ExitSignal  string  `json:"exit_signal,omitempty"`
	NextRestart int64   `json:"next_restart,omitempty"`
	Restarts    int     `json:"restarts,omitempty"`
	Uptime      string  `json:"uptime,omitempty"`
	CPU         float64 `json:"cpu,omitempty"`
	Memory      uint64  `json:"memory,omitempty"`
	// ListeningPorts shows where a process listens when that is not Port.
	ListeningPorts []int  `json:"listening_ports,omitempty"`
	HealthError    string `json:"health_error,omitempty"`
	Unverified     string `json:"unverified,omitempty"`
}

// Row is p's row of the `tsm list` table.
func (p Process) Row() Row {
	return Row{
		TsmID: p.TsmID, Name: p.Name, PID: p.PID, Port: p.Port, Status: p.Status, State: p.State,
		Pending: p.Pending, ExitCode: p.ExitCode, ExitSignal: p.ExitSignal, NextRestart: p.NextRestart,
		Restarts: p.Restarts, Uptime: p.Uptime, CPU: p.CPU, Memory: p.Memory,
		ListeningPorts: p.ListeningPorts, HealthError: p.HealthError, Unverified: p.Unverified,
	}
}

// Process is one managed process: the seed's meta.json fields under their
// seed names and types, plus live fields. Port is an integer or "none".
type Process struct {
	TsmID            int    `json:"tsm_id"`
	ID               int    `json:"id"` // = TsmID, for consumers of bash tsm's `ls --json`
	Name             string `json:"name"`
	PID              int    `json:"pid"`
	Command          string `json:"command"`
	Port             any    `json:"port"`
	Cwd              string `json:"cwd"`
	Interpreter      string `json:"interpreter"`
	ProcessType      string `json:"process_type"`
	EnvFile          string `json:"env_file"`
	Prehook          string `json:"prehook"`
	StartTime        int64  `json:"start_time"`
	Status           string `json:"status"`
	Restarts         int    `json:"restarts"`
	UnstableRestarts int    `json:"unstable_restarts"`
	RestartPolicy    string `json:"restart_policy"`
	// State is the lifecycle state, finer than the seed's Status: starting,
	// online, unhealthy, stopping, backoff, exited, crashed, errored or
	// stopped.
	State string `json:"state"`
	// Pending says what a stopping process is being ended for: stop,
	// kill, restart, delete, or exit (cleaning up after its main process).
	Pending string `json:"pending,omitempty"`
	// Unverified says why the live process a record without an identity
	// (the bash TSM's) names was not taken for the recorded one; tsm
	// neither adopts nor signals it.
	Unverified  string `json:"unverified,omitempty"`
	ExitCode    *int   `json:"exit_code,omitempty"`
	ExitSignal  string `json:"exit_signal,omitempty"`
	StopTime    int64  `json:"stop_time,omitempty"`
	NextRestart int64  `json:"next_restart,omitempty"` // unix ms of the next automatic restart
	// HealthCheck is the process's health check ("" for none);
	// HealthError why its last check failed while it is unhealthy;
	// RestartReason why tsm last restarted it for a reason other than an
	// exit (a failing health check).
	ReadyCheck    string   `json:"ready_check,omitempty"`
	MaxMemory     int64    `json:"max_memory,omitempty"` // bytes
	CronRestart   string   `json:"cron_restart,omitempty"`
	Watch         []string `json:"watch,omitempty"`
	HealthCheck   string   `json:"health_check,omitempty"`
	HealthError   string   `json:"health_error,omitempty"`
	RestartReason string   `json:"restart_reason,omitempty"`

	// Live fields, present while the process runs.
	Uptime         string  `json:"uptime"`
	UptimeSeconds  int64   `json:"uptime_seconds"`
	CPU            float64 `json:"cpu"`
	Memory         uint64  `json:"memory"`
	Threads        int32   `json:"threads,omitempty"`
	ListeningPorts []int   `json:"listening_ports,omitempty"`
	// Exe is the program the main process runs now, after every exec: with
	// a pre-hook, what the hook's PATH, venv or cd made the command resolve
	// to.
	Exe string `json:"exe,omitempty"`
	// Context is the limits, umask and priority every run gets (info only).
	Context *execctx.Context `json:"context,omitempty"`
	// Stdin is "null" when stdin is /dev/null, else "pipe" (info only).
	Stdin string `json:"stdin,omitempty"`

	// Paths, so the CLI can read logs without guessing the layout.
	Dir     string `json:"dir"`
	OutLog  string `json:"out_log"`
	ErrLog  string `json:"err_log"`
	PIDFile string `json:"pid_file"`

	// Set by start only.
	// "port" when the port accepted a connection, "check" when the --ready
	// check passed, "settled" otherwise, "timeout" when the port never
	// opened (or the --ready check never passed), "elsewhere" when the
	// process listens, but on ListeningPorts instead of Port (it ignores
	// $PORT), "exited" when the command finished with exit code 0 inside
	// the settle window, "spawned" with NoWait (the process runs, and is
	// not known to be ready).
	Ready string `json:"ready,omitempty"`
	// Restarting, after Ready "exited": the restart policy starts it again.
	Restarting bool `json:"restarting,omitempty"`
	// LeftBehind, after Ready "exited": how many processes the command
	// left running (a server it started in the background), which tsm
	// ended with it.
	LeftBehind int `json:"left_behind,omitempty"`
}

// PortsResponse is every managed process's declared and actual ports;
// asked with ?port=N, also who holds port N (managed or not).
type PortsResponse struct {
	Processes []PortsEntry `json:"processes"`
	Holders   []PortHolder `json:"holders,omitempty"`
}

// PortsEntry is one managed process. Declared is an integer or "none", as
// in meta.json and the ports registry file.
type PortsEntry struct {
	ID        int      `json:"id"`
	Name      string   `json:"name"`
	PID       int      `json:"pid"`
	State     string   `json:"state"`
	Declared  any      `json:"declared"`
	Listening []Socket `json:"listening"`
}

// Socket is a listening TCP socket or a bound UDP socket of a process.
type Socket struct {
	PID   int    `json:"pid"`
	Proto string `json:"proto"` // tcp or udp
	Port  int    `json:"port"`
}

// PortHolder is a process holding a port. ID and Name are set when the
// process belongs to a managed process's run.
type PortHolder struct {
	Socket
	Command string `json:"command"`
	UID     int    `json:"uid"`
	User    string `json:"user"`
	ID      *int   `json:"tsm_id,omitempty"`
	Name    string `json:"name,omitempty"`
}

// Check levels.
const (
	CheckOK    = "ok"
	CheckWarn  = "warn"
	CheckError = "error"
)

// Check is one finding of `tsm doctor`: Fix says exactly what to do about
// a warn or error.
type Check struct {
	Name    string `json:"check"`
	Level   string `json:"level"` // ok, warn, error
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// DoctorReport is what the daemon found; Orphans are listed so that
// `tsm doctor clean` can end exactly those.
type DoctorReport struct {
	Checks  []Check  `json:"checks"`
	Orphans []Orphan `json:"orphans,omitempty"`
}

// Orphan is a live process of a run of this state directory that no
// current run tracks. PID, StartTime and BootID identify it.
type Orphan struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	BootID    string `json:"boot_id,omitempty"`
	Command   string `json:"command"`
	Name      string `json:"name"` // the entry whose directory it names
}

// CleanRequest names the orphans to end: only those that still are.
type CleanRequest struct {
	Orphans []Orphan `json:"orphans"`
}

// CleanResult is what `doctor clean` did to one orphan: ended, killed
// (SIGKILL was needed), or skipped (no longer an orphan).
type CleanResult struct {
	Orphan
	Action string `json:"action"`
}

// ErrorBody is the envelope of every non-2xx response.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error codes. The CLI maps them to exit codes.
const (
	CodeFailure     = "failure"      // 1
	CodeNotFound    = "not_found"    // 1
	CodeAmbiguous   = "ambiguous"    // 1
	CodeUsage       = "usage"        // 64
	CodeBadData     = "bad_data"     // 65
	CodeMissingFile = "missing_file" // 66
)

// Error is a failure with a code and a human message that says how to fix it.
type Error struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	Candidates []Candidate `json:"candidates,omitempty"` // for CodeAmbiguous
	Detail     []string    `json:"detail,omitempty"`     // e.g. the last lines of stderr of a process that died at start
	// Done lists what a multi-target operation did to the other targets
	// before or after the one that failed: successes, reported as such.
	Done []Result `json:"done,omitempty"`
}

// Candidate is one match of an ambiguous target.
type Candidate struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Plan is how the daemon would start a command now (`start --dry-run`):
// what a start resolves before it claims the name and port.
type Plan struct {
	Name       string `json:"name"`
	Program    string `json:"program"` // the executable that would run (with a pre-hook: bash, which runs the hook, then the command)
	Command    string `json:"command"` // as shown by list, secrets redacted
	Cwd        string `json:"cwd"`
	Port       int    `json:"port"`                  // 0: none
	PortSource string `json:"port_source,omitempty"` // flag, env file, command, caller env, package.json, script, default
	EnvFile    string `json:"env_file,omitempty"`
	PreHook    string `json:"pre_hook,omitempty"` // secrets redacted
	Type       string `json:"type"`               // python, node, bash, lua, go, command
}
