package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/service"
)

// passResult is what one pass of startup or patrol did with one service.
type passResult struct {
	Service string `json:"service"`
	// Action: started, running (already), stopped (left alone: a user
	// stopped it), failed, or problem (an enabled entry that cannot be
	// read).
	Action  string `json:"action"`
	Process string `json:"process,omitempty"`
	ID      *int   `json:"id,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Error   string `json:"error,omitempty"`
}

// reconcile starts every enabled service that does not run. It holds the
// services lock for the whole pass, so two passes (two cron patrols, a
// patrol and a startup) never both start one service. With keepStopped, a
// service whose process a user stopped is left alone (patrol); startup
// starts it.
func (a *App) reconcile(ctx context.Context, keepStopped bool) ([]passResult, error) {
	r := a.registry()
	unlock, err := r.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	defs, problems := r.Enabled()
	// A service's TSM_DEPS first: its start waits until it is ready, so the
	// one that needs it finds it up (a boot that started api before db
	// would leave api failing or crash-looping until db came).
	defs = service.DepOrder(defs)
	var out []passResult
	for _, p := range problems {
		out = append(out, passResult{Action: "problem", Error: p.Error()})
	}
	if len(defs) == 0 {
		return out, nil
	}
	list, err := a.client.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		res := passResult{Service: d.ID()}
		if p, ok := runningOf(d, list.Processes); ok {
			res.Action, res.Process, res.ID, res.PID = "running", p.Name, &p.TsmID, p.PID
			out = append(out, res)
			continue
		}
		if ps := processesOf(d, list.Processes); keepStopped && len(ps) > 0 && ps[0].Row().StateWord() == "stopped" {
			res.Action, res.Process, res.ID = "stopped", ps[0].Name, &ps[0].TsmID
			out = append(out, res)
			continue
		}
		p, err := a.startDefinition(ctx, d, a.startRequest(d))
		if err != nil {
			res.Action, res.Error = "failed", err.Error()
		} else {
			res.Action, res.Process, res.ID, res.PID = "started", p.Name, &p.TsmID, p.PID
		}
		out = append(out, res)
	}
	return out, nil
}

// printPass prints one line per result (all of them, or only what changed
// or failed when quiet) and a summary; it reports whether something failed.
func printPass(w io.Writer, verb string, results []passResult, quiet bool) bool {
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Action]++
		if quiet && (r.Action == "running" || r.Action == "stopped") {
			continue
		}
		switch r.Action {
		case "started":
			fmt.Fprintf(w, "  ✔ %s started as %s (id %d, pid %d)\n", r.Service, r.Process, *r.ID, r.PID)
		case "running":
			fmt.Fprintf(w, "  · %s already running as %s (id %d)\n", r.Service, r.Process, *r.ID)
		case "stopped":
			fmt.Fprintf(w, "  · %s left stopped: %s (id %d) was stopped by hand; `tsm start %s` or `tsm disable %s`\n", r.Service, r.Process, *r.ID, r.Service, r.Service)
		case "failed":
			fmt.Fprintf(w, "  ✘ %s failed: %s\n", r.Service, r.Error)
		case "problem":
			fmt.Fprintf(w, "  ✘ %s\n", r.Error)
		}
	}
	failed := counts["failed"] + counts["problem"]
	if !quiet || counts["started"]+failed > 0 {
		fmt.Fprintf(w, "%s: %d started, %d already running, %d left stopped, %d failed\n", verb,
			counts["started"], counts["running"], counts["stopped"], failed)
	}
	return failed > 0
}

func (a *App) newStartupCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "startup [install|uninstall|status|run]",
		Short: "Start every enabled service that is not running",
		Long: `Startup starts every enabled service (` + "`tsm enable`" + `) that is not already
running, one line per service and a summary. It never starts a second copy:
a service counts as running while any process started from it is online,
starting, stopping or waiting for an automatic restart. Running it twice,
or at the same time as ` + "`tsm patrol`" + `, is safe.

Exit status 1 if a service failed to start.

` + "`tsm startup install`" + ` makes this happen at boot (systemd user unit or
LaunchAgent), together with bringing back every process that was online.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPass(cmd, "startup", false, asJSON, false)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the per-service results as JSON")
	cmd.AddCommand(a.newBootCmds()...) // boot.go: install, uninstall, status, run
	return cmd
}

func (a *App) newPatrolCmd() *cobra.Command {
	var asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   "patrol",
		Short: "One reconcile pass: start enabled services that died (safe from cron)",
		Long: `Patrol is one pass over the enabled services: one that is not running is
started again, unless it was stopped by hand (tsm stop), which is reported
and left alone; enabled links whose definition is missing or broken are
reported. It never starts a second copy, also when two patrols run at once
(they take turns on $TSM_DIR/services.lock), so it is safe to run from cron
every minute:

  * * * * * TSM_DIR=$HOME/tetra/tsm /usr/local/bin/tsm patrol

It prints nothing when there was nothing to do (cron mails only news);
-v prints every service. Exit status 1 if a start failed or an entry is
broken.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPass(cmd, "patrol", true, asJSON, !verbose)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the per-service results as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also list services that needed nothing")
	return cmd
}

func (a *App) runPass(cmd *cobra.Command, verb string, keepStopped, asJSON, quiet bool) error {
	results, err := a.reconcile(cmd.Context(), keepStopped)
	if err != nil {
		return err
	}
	if asJSON {
		if results == nil {
			results = []passResult{}
		}
		if err := printJSON(cmd.OutOrStdout(), results); err != nil {
			return err
		}
		for _, r := range results {
			if r.Action == "failed" || r.Action == "problem" {
				return quiet1
			}
		}
		return nil
	}
	if len(results) == 0 && !quiet {
		fmt.Fprintln(cmd.OutOrStdout(), "no enabled services (`tsm enable <service>`; `tsm list available` shows them)")
		return nil
	}
	if printPass(cmd.OutOrStdout(), verb, results, quiet) {
		return quiet1
	}
	return nil
}

// quiet1 is exit status 1 after a report that already says what failed.
var quiet1 = quiet{code: ExitFailure}
