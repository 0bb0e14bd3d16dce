package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/client"
	"github.com/tetra/tsm/internal/execctx"
)

// targetsOp is the client method of a multi-target command, e.g.
// (*client.Client).Stop.
type targetsOp func(*client.Client, context.Context, api.TargetsRequest) ([]api.Result, error)

// newTargetsCmd builds stop, kill, restart and delete: they take targets (or
// all), resolve them all in the daemon before touching any, and report one
// line per process. graceFlag adds --timeout; restart adds --update-env and
// sends the caller's environment.
func (a *App) newTargetsCmd(use, short, long string, op targetsOp, graceFlag, restart bool) *cobra.Command {
	var timeout time.Duration
	var asJSON, updateEnv bool
	cmd := &cobra.Command{
		Use:               use + " <target>... | all",
		Short:             short,
		Long:              long + "\n\nTargets: a TSM ID, an exact name, a unique part of a name, or all.\nAn unknown or ambiguous target is an error and nothing is touched.",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("%s needs a target: an ID, a name, or all (see `tsm %s --help`)", use, use)
			}
			if restart && len(args) == 1 {
				// A service re-reads its definition (service.go).
				if d, isDef, err := a.loadDefinition(args[0]); isDef {
					if err != nil {
						return err
					}
					return a.restartService(cmd, d)
				}
			}
			req := api.TargetsRequest{Targets: args}
			// Unset, the daemon applies its own default grace period.
			if graceFlag && cmd.Flags().Changed("timeout") {
				if timeout < 0 {
					return usageError("--timeout must not be negative (e.g. 10s, 500ms, or 0 for the kill signal at once)")
				}
				ms := int(timeout / time.Millisecond)
				req.TimeoutMillis = &ms
			}
			if restart {
				// Needed with --update-env, and for processes the bash TSM
				// started, which have no stored environment.
				req.UpdateEnv, req.Env = updateEnv, a.Environ()
				if updateEnv {
					c := execctx.Capture()
					req.Context = &c
				}
			}
			results, err := op(a.client, cmd.Context(), req)
			var ae *client.APIError
			if errors.As(err, &ae) && len(ae.Body.Done) > 0 {
				// The others succeeded: they are reported as successes, on
				// stdout, and only the failure goes to stderr.
				results = ae.Body.Done
			} else if err != nil {
				return err
			}
			for _, r := range results {
				if r.Action == "deleted" {
					a.forgetStarted(r.Name)
				}
			}
			if asJSON {
				if perr := printJSON(cmd.OutOrStdout(), results); perr != nil {
					return perr
				}
				return err
			}
			if len(results) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no processes")
			}
			for _, r := range results {
				fmt.Fprintln(cmd.OutOrStdout(), describeResult(r))
				if updateEnv {
					fmt.Fprintln(cmd.OutOrStdout(), describeEnvChanges(r.EnvChanges))
					for _, n := range r.Notes {
						fmt.Fprintln(cmd.OutOrStdout(), "  "+n)
					}
					continue
				}
				printNotes(cmd.ErrOrStderr(), r)
			}
			return err
		},
	}
	if graceFlag {
		cmd.Flags().DurationVar(&timeout, "timeout", 0, "grace period between the stop signal and the kill signal; 0: none (default: the process's --kill-timeout, 10s unless set)")
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	if restart {
		cmd.Flags().BoolVar(&updateEnv, "update-env", false, "replace the stored environment with the current one (and re-read the env file)")
	}
	return cmd
}

// describeEnvChanges lists changed variable names, never their values.
func describeEnvChanges(changes []string) string {
	if len(changes) == 0 {
		return "  environment unchanged"
	}
	var added, removed, changed []string
	for _, c := range changes {
		switch c[0] {
		case '+':
			added = append(added, c[1:])
		case '-':
			removed = append(removed, c[1:])
		default:
			changed = append(changed, c[1:])
		}
	}
	s := "  environment updated (values not shown):"
	for _, part := range []struct {
		label string
		keys  []string
	}{{"changed", changed}, {"added", added}, {"removed", removed}} {
		if len(part.keys) > 0 {
			s += fmt.Sprintf("\n    %s: %s", part.label, strings.Join(part.keys, " "))
		}
	}
	return s
}

// printNotes shows what the daemon noted about r (a restarted run not
// ready yet), as start's notes are shown.
func printNotes(w io.Writer, r api.Result) {
	for _, n := range r.Notes {
		fmt.Fprintf(w, "tsm: note: %s: %s\n", r.Name, n)
	}
}

func describeResult(r api.Result) string {
	s := ""
	switch r.Action {
	case "not-running":
		s = fmt.Sprintf("• %s (id %d) was not running", r.Name, r.ID)
	case "restarted":
		s = fmt.Sprintf("✔ restarted %s  (id %d, pid %d)", r.Name, r.ID, r.PID)
	default:
		s = fmt.Sprintf("✔ %s %s  (id %d)", r.Action, r.Name, r.ID)
	}
	if r.Descendants > 0 {
		s += ", ended " + plural(r.Descendants, "descendant process", "descendant processes")
	}
	if r.Forced && r.Action == "stopped" {
		s += " (SIGKILL after the grace period)"
	}
	return s
}

func (a *App) newStopCmd() *cobra.Command {
	return a.newTargetsCmd("stop", "Stop processes gracefully (SIGTERM, then SIGKILL after a grace period)",
		`Stop sends the stop signal (SIGTERM, or the process's --signal) once to the
process group and once to every descendant outside it, waits up to --timeout
for them to exit, then sends the kill signal (SIGKILL, or --kill-signal) to
whatever remains, including setsid and double-forked descendants. The
process directory and logs are kept; the state becomes stopped.`, (*client.Client).Stop, true, false)
}

func (a *App) newKillCmd() *cobra.Command {
	return a.newTargetsCmd("kill", "Kill processes at once with SIGKILL",
		`Kill sends SIGKILL to the process group and every descendant at once. The
process directory and logs are kept; the status becomes stopped.`, (*client.Client).Kill, false, false)
}

func (a *App) newRestartCmd() *cobra.Command {
	return a.newTargetsCmd("restart", "Restart processes with the same ID, name, port, cwd, command and environment",
		`Restart stops the process if it runs (like stop) and starts it again exactly
as it was first started: same ID, name, port, working directory, argv and
environment. It works on stopped processes too and adds one to restarts.

--update-env takes your current environment instead (and re-reads the env
file), and says which variables changed without showing their values.

A single service name (or ./x.tsm) re-reads its definition instead: the
running process is stopped and started from the file as it is now, and
restart says what changed since it was started.`, (*client.Client).Restart, true, true)
}

func (a *App) newDeleteCmd() *cobra.Command {
	cmd := a.newTargetsCmd("delete", "Stop processes and remove them (directory, logs and ID)",
		`Delete stops the process if it runs (like stop), removes its process
directory with its logs, and frees its ID.`, (*client.Client).Delete, true, false)
	cmd.Aliases = []string{"del", "rm"}
	return cmd
}
