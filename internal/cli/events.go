package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/client"
	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/logs"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/redact"
)

func (a *App) newEventsCmd() *cobra.Command {
	var lines int
	var follow, asJSON bool
	cmd := &cobra.Command{
		Use:   "events [target]",
		Short: "Show lifecycle events: starts, exits, restarts, backoff, crash loops, adoption, stops",
		Long: `Events prints the daemon's record of what happened to processes, from
$TSM_DIR/events.jsonl: start, ready, exit (with code or signal), restart,
backoff (with the delay), errored, adopt, lost, stop, delete and daemon
starts and stops. Give a target to see one process only (a deleted
process can still be named exactly). -f follows new events.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			keep, err := a.eventFilter(cmd, args)
			if err != nil {
				return err
			}
			path := paths.Events(a.root)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			evs, err := events.Read(path, lines, keep)
			if err != nil {
				return err
			}
			for _, e := range evs {
				if err := printEvent(out, e, asJSON); err != nil {
					return err
				}
			}
			if !follow {
				if len(evs) == 0 && !asJSON {
					fmt.Fprintln(out, "no events")
				}
				return nil
			}
			return ignoreCanceled(logs.Follow(ctx, []logs.Source{{Stream: "events", Path: path}}, func(l logs.Line) error {
				e, ok := events.Parse(l.Text)
				if !ok || (keep != nil && !keep(e)) {
					return nil
				}
				return printEvent(out, e, asJSON)
			}))
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 50, "number of past events to show (0: all)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per event")
	return cmd
}

// eventFilter keeps the events of the process a target names. A target the
// daemon does not know may still be the exact name of a deleted process.
func (a *App) eventFilter(cmd *cobra.Command, args []string) (func(events.Event) bool, error) {
	if len(args) == 0 {
		return nil, nil
	}
	name := args[0]
	p, err := a.resolve(cmd, name)
	var ae *client.APIError
	switch {
	case err == nil:
		name = p.Name
	case errors.As(err, &ae) && ae.Body.Code == api.CodeNotFound:
	default:
		return nil, err
	}
	return func(e events.Event) bool { return e.Name == name }, nil
}

// printEvent prints e (masked) as a line or as JSON.
func printEvent(w io.Writer, e events.Event, asJSON bool) error {
	e = masked(e)
	if asJSON {
		return json.NewEncoder(w).Encode(e)
	}
	_, err := fmt.Fprintln(w, events.Format(e))
	return err
}

// masked returns e with the secret-looking values of its message masked:
// a start event carries the command, a ready or health event its check.
// Every view of an event (events, info's recent events) shows it so.
func masked(e events.Event) events.Event {
	e.Message = redact.Command(e.Message)
	return e
}
