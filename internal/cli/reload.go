package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
)

func (a *App) newReloadCmd() *cobra.Command {
	var timeout time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reload <target>... | all",
		Short: "Reload processes the way each declared (its --reload-signal), else restart them",
		Long: `Reload does the graceful thing a process declared when it was started:
with --reload-signal (e.g. HUP for gunicorn or nginx) that signal goes to
its main process, which reloads without dropping connections. A process
that declared none, or is not running, is restarted instead, and reload
says so.`,
		Example: `  tsm start --reload-signal HUP gunicorn app:app
  tsm reload app`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("reload needs a target: an ID, a name, or all (see `tsm reload --help`)")
			}
			req := api.TargetsRequest{Targets: args, Env: a.Environ()}
			if cmd.Flags().Changed("timeout") {
				if timeout < time.Millisecond {
					return usageError("--timeout must be at least 1ms (e.g. 10s, 500ms)")
				}
				ms := int(timeout / time.Millisecond)
				req.TimeoutMillis = &ms
			}
			results, err := a.client.Reload(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), results)
			}
			for _, r := range results {
				if r.Action == "reloaded" {
					fmt.Fprintf(cmd.OutOrStdout(), "✔ reloaded %s  (id %d, pid %d: sent its reload signal)\n", r.Name, r.ID, r.PID)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s (no --reload-signal declared, so it was restarted)\n", describeResult(r))
				printNotes(cmd.ErrOrStderr(), r)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "when restarting: grace period between the stop signal and the kill signal")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
