package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/prefetch"
)

func (a *App) newListCmd() *cobra.Command {
	var asJSON, allFlag bool
	cmd := &cobra.Command{
		Use:     "list [running|all|available|enabled]",
		Aliases: []string{"ls"},
		Short:   "List processes (running by default, all to include stopped ones)",
		Long: `List shows managed processes: ID, name, PID, port, status, uptime, restarts,
CPU and memory. By default it shows every process except the ones you
stopped: running, starting and stopping ones, crashed ones (waiting for a
restart, or not restarted by their policy), errored ones (tsm gave up
after a crash loop) and exited ones (finished with exit code 0); "all"
adds the stopped ones. "available" lists service definitions and
"enabled" the enabled ones, with their port and state.

--json prints an array of objects with the meta.json field names (tsm_id,
name, pid, command, port, cwd, ...), plus id, uptime, cpu and memory.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"running", "all", "available", "enabled"},
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := ""
			if len(args) == 1 {
				filter = args[0]
			}
			if filter == "available" || filter == "enabled" {
				return a.listServices(cmd, filter, asJSON) // service_cmds.go
			}
			return a.list(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), listArgs{filter: filter, json: asJSON, all: allFlag})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print processes as a JSON array")
	cmd.Flags().BoolVarP(&allFlag, "all", "a", false, "include stopped processes (same as tsm list all)")
	return cmd
}

// listArgs is what `tsm list` was asked: the filter argument ("", running
// or all), --json and --all.
type listArgs struct {
	filter    string
	json, all bool
}

// list prints the process listing, a table or (json) the JSON array. Both
// the cobra command and the fast path of Main (listFast) run it.
func (a *App) list(ctx context.Context, stdout, stderr io.Writer, l listArgs) error {
	all := l.all
	switch l.filter {
	case "all":
		all = true
	case "running", "":
	default:
		return usageError("unknown list filter %q: use running, all, available or enabled", l.filter)
	}
	// The daemon renders what is printed; one older than that is asked for
	// the whole listing, filtered and rendered here.
	color := a.colors(stdout).on
	var body []byte
	var problems []string
	var err error
	if l.json {
		body, problems, err = a.client.ListJSON(ctx, all)
	} else {
		body, problems, err = a.client.ListTable(ctx, all, color)
	}
	if err == nil {
		warnProblems(stderr, problems)
		_, err = stdout.Write(body)
		return err
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	resp, err := a.client.List(ctx)
	if err != nil {
		return err
	}
	warnProblems(stderr, resp.Problems)
	var rows []api.Row
	shown := make([]api.Process, 0, len(resp.Processes))
	for _, p := range resp.Processes {
		if all || p.Row().StateWord() != "stopped" {
			shown = append(shown, p)
			rows = append(rows, p.Row())
		}
	}
	if l.json {
		return printJSON(stdout, shown)
	}
	var b bytes.Buffer
	if err := api.WriteTable(&b, rows, all, color); err != nil {
		return err
	}
	_, err = stdout.Write(b.Bytes())
	return err
}

// warnProblems prints the problems the daemon met reading the state, but
// not those the init of a plain list printed already (prefetch.Warned).
func warnProblems(w io.Writer, problems []string) {
	for _, p := range problems {
		if prefetch.Warned(p) {
			continue
		}
		// Each says whether its record was skipped ("skipped x: ...") or
		// loaded with a note (renumbered, not verified). A daemon from
		// before the rendered routes sends record names raw.
		fmt.Fprintf(w, "tsm: warning: %s\n", api.EscapeControls(p))
	}
}
