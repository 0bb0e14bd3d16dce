package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/envfile"
	"github.com/tetra/tsm/internal/execctx"
	"github.com/tetra/tsm/internal/health"
	"github.com/tetra/tsm/internal/proc"
	"github.com/tetra/tsm/internal/redact"
	"github.com/tetra/tsm/internal/release"
	"github.com/tetra/tsm/internal/spec"
	"github.com/tetra/tsm/internal/store"
	"github.com/tetra/tsm/internal/supervisor"
	"github.com/tetra/tsm/internal/target"
)

// supervisorOps is what the handlers need of *supervisor.Supervisor; tests
// give them a fake. Errors are mapped to the wire by writeErrorWith.
type supervisorOps interface {
	Start(supervisor.StartRequest) (supervisor.Outcome, error)
	Plan(supervisor.StartRequest) (spec.Spec, error)
	StopBatch(names []string, grace time.Duration, kill bool) (stop func(name string) (supervisor.Outcome, error), end func())
	Restart(name string, grace, wait time.Duration, env []string, updateEnv bool, ctx *execctx.Context) (supervisor.Outcome, error)
	Delete(name string, grace time.Duration) (supervisor.Outcome, error)
	Signal(name string, sig syscall.Signal, group bool) (supervisor.Outcome, error)
	Reload(name string, grace, wait time.Duration, env []string) (supervisor.Outcome, error)
	Snapshot() ([]store.Meta, []string)
	Resolve(t string) (store.Meta, error)
	ResolveAll(targets []string) ([]string, error)
	Live(ms []store.Meta) []supervisor.Live
	Ports() ([]supervisor.PortUse, map[int]store.Meta, error)
}

var _ supervisorOps = (*supervisor.Supervisor)(nil)

type handler struct {
	sup      supervisorOps
	store    *store.Store
	log      *slog.Logger
	started  time.Time
	shutdown chan<- struct{}
	inFlight func() []string // the operations being served (nil: none known)
	doc      doctorOps       // for `tsm doctor` (nil: no doctor routes)
	// cgroups is why runs get no cgroup of their own, "" when they do.
	cgroups string
	exes    exeCache // the programs of live processes, for listings
}

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.RoutePing, h.ping)
	mux.HandleFunc("POST "+api.RouteStart, h.start)
	mux.HandleFunc("POST "+api.RoutePlan, h.plan)
	mux.HandleFunc("POST "+api.RouteStop, h.batch(func(names []string, r api.TargetsRequest) (targetOp, func()) {
		stop, end := h.sup.StopBatch(names, grace(r), false)
		return func(name string, _ api.TargetsRequest) (supervisor.Outcome, error) { return stop(name) }, end
	}))
	mux.HandleFunc("POST "+api.RouteKill, h.batch(func(names []string, r api.TargetsRequest) (targetOp, func()) {
		kill, end := h.sup.StopBatch(names, 0, true)
		return func(name string, _ api.TargetsRequest) (supervisor.Outcome, error) { return kill(name) }, end
	}))
	mux.HandleFunc("POST "+api.RouteRestart, h.targets(func(name string, r api.TargetsRequest) (supervisor.Outcome, error) {
		return h.sup.Restart(name, grace(r), 0, r.Env, r.UpdateEnv, r.Context)
	}))
	mux.HandleFunc("POST "+api.RouteDelete, h.targets(func(name string, r api.TargetsRequest) (supervisor.Outcome, error) {
		return h.sup.Delete(name, grace(r))
	}))
	mux.HandleFunc("POST "+api.RouteSignal, h.signal)
	mux.HandleFunc("POST "+api.RouteReload, h.targets(func(name string, r api.TargetsRequest) (supervisor.Outcome, error) {
		return h.sup.Reload(name, grace(r), 0, r.Env)
	}))
	mux.HandleFunc("GET "+api.RoutePorts, h.ports)
	if h.doc != nil {
		mux.HandleFunc("GET "+api.RouteDoctor, h.doctor)
		mux.HandleFunc("POST "+api.RouteClean, h.clean)
	}
	mux.HandleFunc("GET "+api.RouteList, h.list)
	mux.HandleFunc("GET "+api.RouteListJSON, h.listJSON)
	mux.HandleFunc("GET "+api.RouteListRows, h.listRows)
	mux.HandleFunc("GET "+api.RouteListTable, h.listTable)
	mux.HandleFunc("GET "+api.RouteInfo, h.info)
	mux.HandleFunc("POST "+api.RouteShutdown, h.stopDaemon)
	return versioned(mux)
}

// versioned stamps every response with the protocol version so a CLI can
// detect an older daemon.
func versioned(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.VersionHeader, api.Version)
		w.Header().Set(api.BuildHeader, release.Build)
		next.ServeHTTP(w, r)
	})
}

// grace is the grace period a stop asks for, as the supervisor takes it:
// 0 leaves it to the process (its --kill-timeout, 10 s unless set),
// supervisor.NoGrace is none.
func grace(r api.TargetsRequest) time.Duration {
	switch {
	case r.TimeoutMillis == nil:
		return 0
	case *r.TimeoutMillis <= 0:
		return supervisor.NoGrace
	}
	return time.Duration(*r.TimeoutMillis) * time.Millisecond
}

func (h *handler) ping(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.pingBody())
}

func (h *handler) pingBody() api.Ping {
	metas, _ := h.sup.Snapshot()
	p := api.Ping{Version: api.Version, Build: release.Build, PID: os.Getpid(), StartedAt: h.started.Unix(), Dir: h.store.Root, Processes: len(metas)}
	for _, m := range metas {
		if m.Status == store.StatusOnline {
			p.Running++
		}
	}
	if h.inFlight != nil {
		for _, op := range h.inFlight() {
			if op != "daemon/stop" {
				p.InFlight = append(p.InFlight, op)
			}
		}
	}
	return p
}

func (h *handler) stopDaemon(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.pingBody())
	select {
	case h.shutdown <- struct{}{}:
	default:
	}
}

func (h *handler) start(w http.ResponseWriter, r *http.Request) {
	var req api.StartRequest
	if !readJSON(w, r, &req) {
		return
	}
	out, err := h.sup.Start(startRequest(req))
	if err != nil {
		writeError(w, err)
		return
	}
	p := h.process(out.Meta, supervisor.Live{}, true)
	p.Ready, p.Restarting = out.Ready, out.Restarting
	if out.Ready == "elsewhere" {
		p.ListeningPorts = out.Listening
	}
	if out.Ready == "exited" {
		p.LeftBehind = out.Descendants
	}
	writeJSON(w, http.StatusOK, p)
}

// plan answers start --dry-run: the start resolved, nothing started.
func (h *handler) plan(w http.ResponseWriter, r *http.Request) {
	var req api.StartRequest
	if !readJSON(w, r, &req) {
		return
	}
	sp, err := h.sup.Plan(startRequest(req))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Plan{
		Name: sp.Name, Program: sp.Argv[0], Command: redact.Command(sp.Command), Cwd: sp.Cwd, Port: sp.Port,
		PortSource: sp.PortSource, EnvFile: sp.EnvFile, PreHook: redact.Command(sp.PreHook), Type: sp.ProcessType,
	})
}

// startRequest is the supervisor's form of a start request.
func startRequest(req api.StartRequest) supervisor.StartRequest {
	return supervisor.StartRequest{
		Request: spec.Request{
			Argv: req.Argv, Cwd: req.Cwd, Env: req.Env, Name: req.Name, Port: req.Port,
			EnvFile: req.EnvFile, WorkDir: req.WorkDir, PreHook: req.PreHook,
		},
		Restart:      req.Restart,
		MaxRestarts:  req.MaxRestarts,
		MinUptime:    time.Duration(req.MinUptimeMillis) * time.Millisecond,
		Wait:         time.Duration(req.WaitMillis) * time.Millisecond,
		NoWait:       req.NoWait,
		StopSignal:   req.StopSignal,
		KillSignal:   req.KillSignal,
		KillTimeout:  time.Duration(req.KillTimeoutMillis) * time.Millisecond,
		ReloadSignal: req.ReloadSignal,
		Ready:        req.Ready,
		MaxMemory:    req.MaxMemory,
		CronRestart:  req.CronRestart,
		Watch:        req.Watch,
		WatchIgnore:  req.WatchIgnore,
		Health: health.Settings{
			Spec:     req.Health,
			Interval: time.Duration(req.HealthIntervalMillis) * time.Millisecond,
			Timeout:  time.Duration(req.HealthTimeoutMillis) * time.Millisecond,
			Retries:  req.HealthRetries,
		},
		Context:    req.Context,
		Stdin:      req.Stdin,
		LogMaxSize: req.LogMaxSize,
		LogKeep:    req.LogKeep,
		LogTime:    req.LogTime,
	}
}

// signal checks the signal's name before any target is touched, then
// serves the request as every multi-target operation is served.
func (h *handler) signal(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	var req api.TargetsRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: api.Error{Code: api.CodeUsage, Message: "bad request: " + err.Error()}})
		return
	}
	sig, ok := supervisor.ParseSignal(req.Signal)
	if !ok {
		writeError(w, fmt.Errorf("%w: unknown signal %q: use a name such as SIGHUP, SIGUSR1, SIGUSR2 or SIGTERM, or a number", spec.ErrUsage, req.Signal))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	all := len(req.Targets) == 1 && req.Targets[0] == "all"
	h.targets(func(name string, t api.TargetsRequest) (supervisor.Outcome, error) {
		out, err := h.sup.Signal(name, sig, t.Group)
		var nr *supervisor.NotRunningError
		if all && errors.As(err, &nr) {
			// "all" means the running ones; the others are reported.
			return supervisor.Outcome{Meta: nr.Meta, Action: "not-running"}, nil
		}
		return out, err
	})(w, r)
}

// targetOp acts on one process a targets request names.
type targetOp func(name string, r api.TargetsRequest) (supervisor.Outcome, error)

// targets runs op on every process the request names, after resolving all
// of them: an unknown or ambiguous target touches nothing.
func (h *handler) targets(op targetOp) http.HandlerFunc {
	return h.batch(func([]string, api.TargetsRequest) (targetOp, func()) { return op, func() {} })
}

// batch is targets for an operation that begins with all the names at once
// (the stop journal's batch): begin gives the operation on one of them, and
// end, called once every one has been answered.
func (h *handler) batch(begin func(names []string, r api.TargetsRequest) (op targetOp, end func())) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req api.TargetsRequest
		if !readJSON(w, r, &req) {
			return
		}
		if len(req.Targets) == 0 {
			writeError(w, fmt.Errorf("%w: no target given (an ID, a name, or all)", spec.ErrUsage))
			return
		}
		names, err := h.sup.ResolveAll(req.Targets)
		if err != nil {
			writeError(w, err)
			return
		}
		op, end := begin(names, req)
		// Processes are independent: act on them at once, so that stopping
		// a hundred takes about as long as stopping the slowest one.
		results := make([]api.Result, len(names))
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 256) // a bound, not a tuning knob
		for i, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				out, err := op(name, req)
				errs[i] = err
				results[i] = api.Result{
					ID: out.Meta.TsmID, Name: out.Meta.Name, PID: out.Meta.PID, Action: out.Action,
					Descendants: out.Descendants, Forced: out.Forced, Port: int(out.Meta.Port),
					EnvChanges: out.EnvChanges, Notes: out.Notes,
				}
			}()
		}
		wg.Wait()
		end()
		// `all` means the processes there are: one deleted by another
		// command since the names were taken is not a failure of this one.
		everything := slices.Contains(req.Targets, "all")
		done := []api.Result{}
		var firstErr error
		for i, err := range errs {
			var gone *target.NotFoundError
			switch {
			case err == nil:
				done = append(done, results[i])
			case everything && errors.As(err, &gone):
			case firstErr == nil:
				firstErr = err
			}
		}
		if firstErr != nil {
			// Report what was done along with the failure.
			writeErrorWith(w, firstErr, done)
			return
		}
		writeJSON(w, http.StatusOK, done)
	}
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.listing())
}

// listing is every process in wire form, with the program each live one
// runs (read at most exeTTL ago).
func (h *handler) listing() api.ListResponse {
	metas, problems := h.sup.Snapshot()
	resp := api.ListResponse{Processes: make([]api.Process, 0, len(metas)), Problems: problems}
	for i, live := range h.sup.Live(metas) {
		m := metas[i]
		p := h.process(m, live, true)
		if live.OK {
			p.Exe = h.exes.get(proc.Identity{PID: m.PID, StartTime: m.PIDStartTicks, BootID: m.BootID})
		}
		resp.Processes = append(resp.Processes, p)
	}
	return resp
}

// shown is the listing that `tsm list --json` prints: without the stopped
// processes unless the request has ?all.
func (h *handler) shown(r *http.Request) api.ListResponse {
	resp := h.listing()
	all := r.URL.Query().Has("all")
	shown := resp.Processes[:0]
	for _, p := range resp.Processes {
		if all || !stopped(p) {
			shown = append(shown, p)
		}
	}
	resp.Processes = shown
	return resp
}

func (h *handler) listRows(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.rows(r))
}

// rows is what the `tsm list` table shows: without the stopped processes
// unless the request has ?all. Only the fields of a row are filled in: no
// program (a readlink per process), command or pre-hook (redacted: regular
// expressions), no paths — at 100 processes those were most of the
// daemon's time in a `tsm list`.
func (h *handler) rows(r *http.Request) api.Rows {
	metas, problems := h.sup.Snapshot()
	all := r.URL.Query().Has("all")
	rows := api.Rows{Rows: make([]api.Row, 0, len(metas)), Problems: problems}
	for i, live := range h.sup.Live(metas) {
		if p := h.process(metas[i], live, false); all || !stopped(p) {
			rows.Rows = append(rows.Rows, p.Row())
		}
	}
	return rows
}

// listTable renders the `tsm list` table here: the CLI, which starts anew
// for each call, copies bytes instead of decoding rows (a third of its
// instructions at 100 processes).
func (h *handler) listTable(w http.ResponseWriter, r *http.Request) {
	rows := h.rows(r)
	var b bytes.Buffer
	b.Grow(96 * (len(rows.Rows) + 1)) // a row of the table is 60 to 90 bytes
	q := r.URL.Query()
	if err := api.WriteTable(&b, rows.Rows, q.Has("all"), q.Has("color")); err != nil {
		writeError(w, err)
		return
	}
	writeRendered(w, "text/plain; charset=utf-8", rows.Problems, b.Bytes())
}

// writeRendered sends what the CLI prints as it is, with its length (the
// CLI reads it into a buffer of that size) and the problems met reading the
// state in ProblemHeader.
func writeRendered(w http.ResponseWriter, contentType string, problems []string, b []byte) {
	for _, p := range problems {
		w.Header().Add(api.ProblemHeader, api.EscapeControls(p))
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// listJSON renders `tsm list --json` here, so that the CLI copies bytes
// instead of decoding and encoding again 600 bytes per process.
func (h *handler) listJSON(w http.ResponseWriter, r *http.Request) {
	resp := h.shown(r)
	compact, err := json.Marshal(resp.Processes)
	if err != nil {
		writeError(w, err)
		return
	}
	b := appendIndented(make([]byte, 0, len(compact)*3/2), compact) // room for the indent
	writeRendered(w, "application/json", resp.Problems, b)
}

// stopped is the CLI's test for what a plain `tsm list` hides; a record
// whose process was not verified is shown.
func stopped(p api.Process) bool {
	if p.Unverified != "" {
		return false
	}
	if p.State != "" {
		return p.State == "stopped"
	}
	return p.Status == "stopped"
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) {
	m, err := h.sup.Resolve(r.URL.Query().Get("target"))
	if err != nil {
		writeError(w, err)
		return
	}
	live := h.sup.Live([]store.Meta{m})[0]
	p := h.process(m, live, true)
	if live.OK {
		p.Exe = proc.Executable(m.PID)
	}
	// The launch record holds secrets (the environment): only what info
	// shows is taken from it.
	if l, err := h.store.ReadLaunch(m.Name); err == nil {
		p.Context, p.Stdin = l.Context, "pipe"
		if l.Stdin == "null" {
			p.Stdin = "null"
		}
	}
	writeJSON(w, http.StatusOK, p)
}

// process turns metadata into the wire form, with live stats if known
// (but not Exe: see listing), secret-looking values of its checks masked.
// With full, the command and pre-hook, masked alike, and the process's
// paths too.
func (h *handler) process(m store.Meta, live supervisor.Live, full bool) api.Process {
	p := api.Process{
		TsmID: m.TsmID, ID: m.TsmID, Name: m.Name, PID: m.PID,
		Port: "none", Cwd: m.Cwd, Interpreter: m.Interpreter, ProcessType: m.ProcessType,
		EnvFile: m.EnvFile, StartTime: m.StartTime, Status: m.Status,
		Restarts: m.Restarts, UnstableRestarts: m.UnstableRestarts, RestartPolicy: m.RestartPolicy,
		ExitCode: m.ExitCode, ExitSignal: m.ExitSignal, StopTime: m.StopTime, NextRestart: m.NextRestart,
		State: m.State, Pending: m.Pending, Unverified: m.Unverified,
		MaxMemory: m.MaxMemory, CronRestart: m.CronRestart, Watch: m.Watch,
		// Checks are commands and URLs too (exec:curl -H 'Authorization:
		// Bearer ...', http://user:password@...), and their failures and
		// the restarts they caused quote them.
		ReadyCheck: redact.Command(m.ReadyCheck), HealthCheck: redact.Command(m.HealthCheck),
		HealthError: redact.Command(m.HealthError), RestartReason: redact.Command(m.RestartReason),
	}
	if full {
		p.Command, p.Prehook = redact.Command(m.Command), redact.Command(m.Prehook)
		p.Dir, p.OutLog, p.ErrLog, p.PIDFile = h.store.Dir(m.Name), h.store.OutLog(m.Name), h.store.ErrLog(m.Name), h.store.PIDPath(m.Name)
	}
	if m.Port > 0 {
		p.Port = int(m.Port)
	}
	if m.Status == store.StatusOnline && m.StartTime > 0 {
		up := time.Since(time.Unix(m.StartTime, 0))
		p.UptimeSeconds = int64(up.Seconds())
		p.Uptime = humanDuration(up)
	}
	if live.OK {
		p.CPU, p.Memory, p.Threads, p.ListeningPorts = live.Stats.CPUPercent, live.Stats.RSSBytes, live.Stats.Threads, live.Ports
	}
	return p
}

// humanDuration renders an uptime the way PM2 users expect: 45s, 12m, 3h, 2d.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: api.Error{Code: api.CodeUsage, Message: "bad request: " + err.Error()}})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) { writeErrorWith(w, err, nil) }

// writeErrorWith maps an error to its wire code; done lists the results of
// a multi-target operation that completed before the failure.
func writeErrorWith(w http.ResponseWriter, err error, done []api.Result) {
	e := api.Error{Code: api.CodeFailure, Message: err.Error()}
	status := http.StatusInternalServerError
	var amb *target.AmbiguousError
	var nf *target.NotFoundError
	var startFail *supervisor.StartFailedError
	var syntax *envfile.SyntaxError
	switch {
	case errors.As(err, &amb):
		e.Code, status = api.CodeAmbiguous, http.StatusConflict
		for _, c := range amb.Matches {
			e.Candidates = append(e.Candidates, api.Candidate{ID: c.ID, Name: c.Name})
		}
	case errors.As(err, &nf):
		e.Code, status = api.CodeNotFound, http.StatusNotFound
	case errors.Is(err, spec.ErrUsage):
		e.Code, status = api.CodeUsage, http.StatusBadRequest
	case errors.Is(err, spec.ErrBadData) || errors.As(err, &syntax):
		e.Code, status = api.CodeBadData, http.StatusBadRequest
	case errors.Is(err, spec.ErrMissingFile):
		e.Code, status = api.CodeMissingFile, http.StatusBadRequest
	case errors.As(err, &startFail):
		e.Detail = startFail.Tail
	}
	e.Done = done
	writeJSON(w, status, api.ErrorBody{Error: e})
}
