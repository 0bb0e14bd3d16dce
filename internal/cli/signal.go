package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
)

func (a *App) newSignalCmd() *cobra.Command {
	var group, asJSON bool
	cmd := &cobra.Command{
		Use:   "signal <target>... <SIGNAL>",
		Short: "Send a signal (SIGHUP, SIGUSR1, ...) to processes",
		Long: `Signal sends a signal to the main process of each target, once. With
--group it goes to the whole run instead: the process group and every
descendant outside it (setsid'd and double-forked ones too). The process's
state does not change; use stop, kill or restart to end it.

The signal is a name (SIGHUP, HUP, hup) or a number (1). Targets: a TSM ID,
an exact name, a unique part of a name, or all (the running ones; the
others are listed as not running). A named target that is not running is
an error.`,
		Example: `  tsm signal api SIGHUP          # gunicorn/nginx: reload the configuration
  tsm signal worker USR1          # e.g. reopen log files
  tsm signal --group build TERM   # every process of the run`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError("signal needs a target and a signal, e.g. `tsm signal api SIGHUP` (see `tsm signal --help`)")
			}
			req := api.TargetsRequest{Targets: args[:len(args)-1], Signal: args[len(args)-1], Group: group}
			results, err := a.client.Signal(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), results)
			}
			for _, r := range results {
				if r.Action == "not-running" {
					fmt.Fprintln(cmd.OutOrStdout(), describeResult(r))
					continue
				}
				to := fmt.Sprintf("pid %d", r.PID)
				if group {
					to += " and " + plural(r.Descendants, "other process", "other processes") + " of its run"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "✔ sent %s to %s (id %d, %s)\n", req.Signal, r.Name, r.ID, to)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&group, "group", false, "signal every process of the run, not only the main process")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
