package cli

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/redact"
	"github.com/tetra/tsm/internal/service"
)

func (a *App) newStackCmd() *cobra.Command {
	var asJSON bool
	var healthTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "stack start|stop|restart|status|list [<stack>]",
		Short: "Start, stop and inspect groups of services (.stack files)",
		Long: `A stack is a <name>.stack file in $TSM_DIR/stacks (or an org's tsm/stacks):
one service a line, in start order, with # comments. A service's TSM_DEPS
(names separated by spaces or commas) also start before it, even if the
stack does not list them.

  tsm stack start <stack>    start each service that is not running, each
                             only once the one before is ready: its port
                             accepts connections, or its TSM_HEALTH_CHECK
                             passes (an http(s):// URL answering < 400, or a
                             shell command exiting 0, run with PORT and
                             TSM_PORT set), or it stayed up past the settle
                             window. The first failure ends the start and
                             says which service and why.
  tsm stack stop <stack>     stop them in reverse order
  tsm stack restart <stack>  stop, then start
  tsm stack status <stack>   one line per service (--json)
  tsm stack list             every stack (--json)`,
		Example:   "  tsm stack start web\n  tsm stack status web --json",
		Args:      cobra.ArbitraryArgs,
		ValidArgs: []string{"start", "stop", "restart", "status", "list"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(args) > 2 {
				return usageError("usage: tsm stack start|stop|restart|status <stack>, or tsm stack list")
			}
			verb := args[0]
			if verb == "list" || verb == "ls" {
				return a.stackList(cmd, asJSON)
			}
			if len(args) != 2 {
				return usageError("tsm stack %s needs a stack name (`tsm stack list` shows them)", verb)
			}
			r := a.registry()
			id := args[1]
			if strings.HasSuffix(id, ".stack") && !filepath.IsAbs(id) {
				cwd, err := a.Getwd()
				if err != nil {
					return err
				}
				id = filepath.Join(cwd, id)
			}
			s, err := r.FindStack(id)
			if err != nil {
				return serviceError(err)
			}
			defs, err := r.Order(s)
			if err != nil {
				return serviceError(err)
			}
			switch verb {
			case "start":
				return a.stackStart(cmd, s, defs, healthTimeout)
			case "stop":
				return a.stackStop(cmd, s, defs)
			case "restart":
				if err := a.stackStop(cmd, s, defs); err != nil {
					return err
				}
				return a.stackStart(cmd, s, defs, healthTimeout)
			case "status":
				return a.stackStatus(cmd, s, defs, asJSON)
			}
			return usageError("unknown stack command %q: use start, stop, restart, status or list", verb)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print status or list as JSON")
	cmd.Flags().DurationVar(&healthTimeout, "health-timeout", 30*time.Second, "how long a service's health check may take to pass, and a running one may stay starting (its --ready check not passed)")
	return cmd
}

func (a *App) stackList(cmd *cobra.Command, asJSON bool) error {
	stacks, problems := a.registry().Stacks()
	for _, p := range problems {
		fmt.Fprintf(cmd.ErrOrStderr(), "tsm: warning: %v\n", p)
	}
	if asJSON {
		if stacks == nil {
			stacks = []*service.Stack{}
		}
		return printJSON(cmd.OutOrStdout(), stacks)
	}
	if len(stacks) == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "no stacks (write %s/<name>.stack with one service a line)\n", filepath.Join(a.root, "stacks"))
		return nil
	}
	tw := api.NewColumns(cmd.OutOrStdout())
	fmt.Fprintln(tw, "STACK\tSERVICES\tFILE")
	for _, s := range stacks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID(), strings.Join(s.Services, " "), s.Path)
	}
	return tw.Flush()
}

// stackStart starts defs in order, each once the previous is ready.
func (a *App) stackStart(cmd *cobra.Command, s *service.Stack, defs []*service.Definition, healthTimeout time.Duration) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	list, err := a.client.List(ctx)
	if err != nil {
		return err
	}
	started, running := 0, 0
	for _, d := range defs {
		if p, ok := runningOf(d, list.Processes); ok {
			// Running is not yet ready: one started a moment ago may not
			// listen yet, or its --ready check may not have passed, and
			// what comes next depends on it.
			if err := a.waitOnline(ctx, p, healthTimeout); err != nil {
				return a.stackFailed(cmd, s, d, err, started)
			}
			if err := a.waitReady(ctx, d, p, healthTimeout); err != nil {
				return a.stackFailed(cmd, s, d, err, started)
			}
			fmt.Fprintf(out, "  · %s already running as %s (id %d)\n", d.ID(), p.Name, p.TsmID)
			running++
			continue
		}
		p, err := a.startDefinition(ctx, d, a.startRequest(d))
		if err != nil {
			return a.stackFailed(cmd, s, d, err, started)
		}
		how := "stayed up past the settle window"
		switch p.Ready {
		case "timeout":
			return a.stackFailed(cmd, s, d, fmt.Errorf("started as %s, but nothing accepts connections on port %s (see `tsm logs %d`)", p.Name, api.PortString(p.Port), p.TsmID), started)
		case "port":
			how = "port " + api.PortString(p.Port) + " accepts connections"
		case "exited":
			how = "finished with exit code 0"
		}
		if d.HealthCheck != "" && p.Ready != "exited" {
			if err := a.waitReady(ctx, d, p, healthTimeout); err != nil {
				return a.stackFailed(cmd, s, d, err, started+1)
			}
			how = "health check passed"
		}
		started++
		fmt.Fprintf(out, "  ✔ %s started as %s (id %d, pid %d%s): %s\n", d.ID(), p.Name, p.TsmID, p.PID, portNote(p), how)
	}
	fmt.Fprintf(out, "stack %s: %d started, %d already running\n", s.ID(), started, running)
	return nil
}

func (a *App) stackFailed(cmd *cobra.Command, s *service.Stack, d *service.Definition, err error, started int) error {
	fmt.Fprintf(cmd.OutOrStdout(), "  ✘ %s: %v\n", d.ID(), err)
	if started == 0 {
		return fmt.Errorf("stack %s stopped at %s: %w", s.ID(), d.ID(), err)
	}
	return fmt.Errorf("stack %s stopped at %s: %w; the %s started before it keep running (`tsm stack stop %s` stops them)",
		s.ID(), d.ID(), err, plural(started, "service", "services"), s.ID())
}

// waitOnline waits, up to limit, until p is no longer starting (its
// --ready check, or its port, has not answered yet), or an error saying
// that it still is, or what it became if it no longer runs.
func (a *App) waitOnline(ctx context.Context, p api.Process, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for p.Row().StateWord() == "starting" {
		if time.Now().After(deadline) {
			why := "nothing accepts connections on its port yet"
			if p.ReadyCheck != "" {
				why = "its --ready check " + p.ReadyCheck + " has not passed yet"
			}
			return fmt.Errorf("%s (id %d) is still starting after %s: %s (see `tsm logs %d`; --health-timeout waits longer)", p.Name, p.TsmID, limit, why, p.TsmID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		list, err := a.client.List(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Processes, func(q api.Process) bool { return q.TsmID == p.TsmID && q.Name == p.Name })
		if i < 0 {
			return fmt.Errorf("%s (id %d) was deleted while the stack waited for it", p.Name, p.TsmID)
		}
		p = list.Processes[i]
	}
	if !active(p) {
		return fmt.Errorf("%s (id %d) is %s, not running (see `tsm logs %d`)", p.Name, p.TsmID, p.Row().StateWord(), p.TsmID)
	}
	return nil
}

// waitReady waits until d's health check passes, if it has one.
func (a *App) waitReady(ctx context.Context, d *service.Definition, p api.Process, limit time.Duration) error {
	if d.HealthCheck == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	for {
		if last = a.healthCheck(ctx, d, p); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("health check %q did not pass within %s: %s", redact.Command(d.HealthCheck), limit, redact.Command(last.Error()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// healthCheck runs d's TSM_HEALTH_CHECK once: a URL must answer below 400,
// a command must exit 0 (it is the user's own shell code, like
// TSM_COMMAND; the definition file itself is never run).
func (a *App) healthCheck(ctx context.Context, d *service.Definition, p api.Process) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hc := d.HealthCheck
	if strings.HasPrefix(hc, "http://") || strings.HasPrefix(hc, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, hc, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("%s answered %s", hc, resp.Status)
		}
		return nil
	}
	c := exec.CommandContext(ctx, "bash", "-c", hc)
	c.Dir = d.Cwd
	c.Env = a.Environ()
	if port := api.PortString(p.Port); port != "-" {
		c.Env = append(c.Env, "PORT="+port, "TSM_PORT="+port)
	}
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("%v %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stackStop stops defs in reverse order.
func (a *App) stackStop(cmd *cobra.Command, s *service.Stack, defs []*service.Definition) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	if !a.client.Running(ctx) {
		fmt.Fprintf(out, "stack %s: nothing runs (no daemon)\n", s.ID())
		return nil
	}
	list, err := a.client.List(ctx)
	if err != nil {
		return err
	}
	stopped, failed := 0, 0
	for i := len(defs) - 1; i >= 0; i-- {
		d := defs[i]
		p, ok := runningOf(d, list.Processes)
		if !ok {
			fmt.Fprintf(out, "  · %s not running\n", d.ID())
			continue
		}
		if _, err := a.client.Stop(ctx, api.TargetsRequest{Targets: []string{strconv.Itoa(p.TsmID)}}); err != nil {
			fmt.Fprintf(out, "  ✘ %s (%s): %v\n", d.ID(), p.Name, err)
			failed++
			continue
		}
		fmt.Fprintf(out, "  ✔ %s stopped (%s, id %d)\n", d.ID(), p.Name, p.TsmID)
		stopped++
	}
	fmt.Fprintf(out, "stack %s: %d stopped, %d failed\n", s.ID(), stopped, failed)
	if failed > 0 {
		return quiet1
	}
	return nil
}

type stackRow struct {
	Service string `json:"service"`
	State   string `json:"state"` // the process's state, or "not started"
	Process string `json:"process,omitempty"`
	ID      *int   `json:"id,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Port    any    `json:"port,omitempty"`
}

// runningDaemonProcesses lists what a running daemon supervises; none when
// no daemon runs (a status must not start one).
func (a *App) runningDaemonProcesses(ctx context.Context) ([]api.Process, error) {
	if !a.client.Running(ctx) {
		return nil, nil
	}
	list, err := a.client.List(ctx)
	if err != nil {
		return nil, err
	}
	return list.Processes, nil
}

func (a *App) stackStatus(cmd *cobra.Command, s *service.Stack, defs []*service.Definition, asJSON bool) error {
	procs, err := a.runningDaemonProcesses(cmd.Context())
	if err != nil {
		return err
	}
	rows := make([]stackRow, 0, len(defs))
	up := 0
	for _, d := range defs {
		row := stackRow{Service: d.ID(), State: "not started"}
		ps := processesOf(d, procs)
		if p, ok := runningOf(d, procs); ok {
			ps = []api.Process{p}
		}
		if len(ps) > 0 {
			p := ps[0]
			row.State, row.Process, row.ID, row.Port = p.Row().StateWord(), p.Name, &p.TsmID, p.Port
			if p.Status == "online" {
				row.PID = p.PID
				up++
			}
		}
		rows = append(rows, row)
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), rows)
	}
	c := a.colors(cmd.OutOrStdout())
	tw := api.NewColumns(cmd.OutOrStdout())
	fmt.Fprintln(tw, "SERVICE\tSTATUS\tPROCESS\tPORT\tPID")
	for _, r := range rows {
		proc, pid := "-", "-"
		if r.Process != "" {
			proc = r.Process
		}
		if r.PID > 0 {
			pid = strconv.Itoa(r.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Service, c.status(r.State), proc, api.PortString(r.Port), pid)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stack %s: %d/%d online\n", s.ID(), up, len(rows))
	return nil
}
