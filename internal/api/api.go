// Package api holds the wire contract between the tsm CLI and its daemon:
// request and response bodies, route paths, error codes and the protocol
// version. It contains no logic beyond copying fields, and imports only the
// standard library.
package api

// Version identifies the protocol. The daemon sends it in the Tsm-Version
// header of every response so a CLI can tell that an older daemon is running.
const Version = "1"

// VersionHeader carries Version on every response.
const VersionHeader = "Tsm-Version"

// Build names the tsm release; install.sh sets it with
// -ldflags "-X github.com/tetra/tsm/internal/api.Build=...". The daemon sends
// it in BuildHeader so that a CLI can tell an older daemon is still running
// after an upgrade.
var Build = "dev"

// ReadyFDEnv names the descriptor on which a daemon that the CLI started
// reports that it listens: it writes one byte there, then closes it. A
// daemon that fails first (or loses the race for the lock) only closes it.
// The CLI thus waits for one read instead of polling the socket.
const ReadyFDEnv = "TSM_READY_FD"

// BuildHeader carries Build on every response.
const BuildHeader = "Tsm-Build"

// ProblemHeader carries one of ListResponse.Problems per value, where the
// body has no room for them (RouteListJSON).
const ProblemHeader = "Tsm-Problem"

// Routes. All bodies are JSON.
const (
	RoutePing    = "/v1/ping"    // GET  → Ping
	RouteStart   = "/v1/start"   // POST StartRequest → Process
	RouteStop    = "/v1/stop"    // POST TargetsRequest → []Result
	RouteKill    = "/v1/kill"    // POST TargetsRequest → []Result
	RouteRestart = "/v1/restart" // POST TargetsRequest → []Result
	RouteDelete  = "/v1/delete"  // POST TargetsRequest → []Result
	RouteList    = "/v1/list"    // GET  → ListResponse
	// RouteListJSON answers GET ?all=1 with the bytes `tsm list --json`
	// prints: an indented array of Process, without the stopped ones unless
	// all is given; the problems of ListResponse come in ProblemHeader.
	RouteListJSON = "/v1/list/json"
	// RouteListRows answers GET ?all=1 with Rows: what the `tsm list` table
	// shows, a fifth of the bytes of ListResponse to send and decode.
	RouteListRows = "/v1/list/rows"
	RouteInfo     = "/v1/info"        // GET ?target=X → Process
	RouteShutdown = "/v1/daemon/stop" // POST → Ping; the daemon exits, services keep running
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
}

// TargetsRequest names processes by ID, exact name or unique substring; the
// single target "all" means every process.
type TargetsRequest struct {
	Targets       []string `json:"targets"`
	TimeoutMillis int      `json:"timeout_ms,omitempty"` // stop grace period
	// Env is the caller's environment (restart only): used with UpdateEnv,
	// which replaces the stored environment with it, and for processes the
	// bash TSM started, which have none stored.
	UpdateEnv bool     `json:"update_env,omitempty"`
	Env       []string `json:"env,omitempty"`
}

// Result reports what happened to one process of a TargetsRequest.
type Result struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	PID         int    `json:"pid,omitempty"`
	Action      string `json:"action"` // stopped, killed, restarted, deleted, not-running
	Descendants int    `json:"descendants,omitempty"`
	Forced      bool   `json:"forced,omitempty"` // SIGKILL was needed after the grace period
	Port        int    `json:"port,omitempty"`
	// EnvChanges lists the variables restart --update-env changed, as
	// "+KEY", "-KEY" or "~KEY" (added, removed, changed); never values.
	EnvChanges []string `json:"env_changes,omitempty"`
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
}

// Row is p's row of the `tsm list` table.
func (p Process) Row() Row {
	return Row{
		TsmID: p.TsmID, Name: p.Name, PID: p.PID, Port: p.Port, Status: p.Status, State: p.State,
		Pending: p.Pending, ExitCode: p.ExitCode, ExitSignal: p.ExitSignal, NextRestart: p.NextRestart,
		Restarts: p.Restarts, Uptime: p.Uptime, CPU: p.CPU, Memory: p.Memory,
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
	// online, stopping, backoff, exited, crashed, errored or stopped.
	State string `json:"state"`
	// Pending says what a stopping process is being ended for: stop,
	// kill, restart, delete, or exit (cleaning up after its main process).
	Pending     string `json:"pending,omitempty"`
	ExitCode    *int   `json:"exit_code,omitempty"`
	ExitSignal  string `json:"exit_signal,omitempty"`
	StopTime    int64  `json:"stop_time,omitempty"`
	NextRestart int64  `json:"next_restart,omitempty"` // unix ms of the next automatic restart

	// Live fields, present while the process runs.
	Uptime         string  `json:"uptime"`
	UptimeSeconds  int64   `json:"uptime_seconds"`
	CPU            float64 `json:"cpu"`
	Memory         uint64  `json:"memory"`
	Threads        int32   `json:"threads,omitempty"`
	ListeningPorts []int   `json:"listening_ports,omitempty"`

	// Paths, so the CLI can read logs without guessing the layout.
	Dir     string `json:"dir"`
	OutLog  string `json:"out_log"`
	ErrLog  string `json:"err_log"`
	PIDFile string `json:"pid_file"`

	// Set by start only.
	// "port" when the port accepted a connection, "settled" otherwise,
	// "timeout" when the port never opened, "exited" when the command
	// finished with exit code 0 inside the settle window, "spawned" with
	// NoWait (the process runs, and is not known to be ready).
	Ready string `json:"ready,omitempty"`
	// Restarting, after Ready "exited": the restart policy starts it again.
	Restarting bool `json:"restarting,omitempty"`
	// LeftBehind, after Ready "exited": how many processes the command
	// left running (a server it started in the background), which tsm
	// ended with it.
	LeftBehind int `json:"left_behind,omitempty"`
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
}

// Candidate is one match of an ambiguous target.
type Candidate struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}
