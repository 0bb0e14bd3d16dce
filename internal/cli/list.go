package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
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
	cmd.Flags().BoolVarP(&allFlag, "all", "a", false, "include stopped processes (same as `list all`)")
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
	// The daemon renders what is shown (filtered; --json as it is
	// printed); one older than that is asked for the whole listing.
	var rows []api.Row
	older := true
	if l.json {
		body, problems, err := a.client.ListJSON(ctx, all)
		if err == nil {
			warnProblems(stderr, problems)
			_, err = stdout.Write(body)
			return err
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	} else {
		resp, err := a.client.ListRows(ctx, all)
		if err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
		warnProblems(stderr, resp.Problems)
		rows, older = resp.Rows, err != nil
	}
	if older {
		resp, err := a.client.List(ctx)
		if err != nil {
			return err
		}
		warnProblems(stderr, resp.Problems)
		shown := make([]api.Process, 0, len(resp.Processes))
		for _, p := range resp.Processes {
			if all || stateWord(p.Row()) != "stopped" {
				shown = append(shown, p)
				rows = append(rows, p.Row())
			}
		}
		if l.json {
			return printJSON(stdout, shown)
		}
	}
	if len(rows) == 0 {
		if all {
			fmt.Fprintln(stdout, "no processes (start one with `tsm start <command>`)")
		} else {
			fmt.Fprintln(stdout, "no running processes (start one with `tsm start <command>`; `tsm list all` shows stopped ones)")
		}
		return nil
	}
	c := a.colors(stdout)
	// Buffered: tabwriter writes each cell padding apart, a system
	// call each without it.
	out := bufio.NewWriterSize(stdout, 64<<10)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPID\tPORT\tSTATUS\tUPTIME\t↺\tCPU\tMEM")
	for _, p := range rows {
		pid, up, cpu := "-", "-", "-"
		if p.Status == "online" {
			pid, up, cpu = strconv.Itoa(p.PID), p.Uptime, fmt.Sprintf("%.1f%%", p.CPU)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			p.TsmID, truncate(p.Name, 40), pid, actualPort(p), c.status(statusNote(p)), up,
			p.Restarts, cpu, humanBytes(p.Memory))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return out.Flush()
}

// warnProblems prints the problems the daemon met reading the state.
func warnProblems(w io.Writer, problems []string) {
	for _, p := range problems {
		// Each says whether its record was skipped ("skipped x: ...") or
		// loaded with a note (renumbered, not verified).
		fmt.Fprintf(w, "tsm: warning: %s\n", p)
	}
}

func portString(port any) string {
	switch v := port.(type) {
	case float64:
		return strconv.Itoa(int(v))
	case int:
		return strconv.Itoa(v)
	}
	return "-"
}

// actualPort is the port column: the process's port, or, when it listens
// but not there (it ignores $PORT), where it does listen: "5000 (not 18104)".
func actualPort(p api.Row) string {
	declared := portString(p.Port)
	if declared == "-" || len(p.ListeningPorts) == 0 {
		return declared
	}
	for _, l := range p.ListeningPorts {
		if strconv.Itoa(l) == declared {
			return declared
		}
	}
	return joinPorts(p.ListeningPorts) + " (not " + declared + ")"
}

func joinPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, n := range ports {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// stateWord is the lifecycle state, or the seed's status from a daemon
// that predates states.
func stateWord(p api.Row) string {
	if p.Unverified != "" {
		return "not verified"
	}
	if p.State != "" {
		return p.State
	}
	return p.Status
}

// statusNote renders the state with what explains it: the last exit and
// the next retry ("crashed (exit 1, retry in 1.6s)"), or what a stop is
// for ("stopping (restart)").
func statusNote(p api.Row) string {
	word := stateWord(p)
	switch word {
	case "online", "stopped", "starting":
		// A stop the user asked for needs no explanation.
		return word
	case "stopping":
		if p.Pending != "" && p.Pending != "stop" {
			return word + " (" + p.Pending + ")"
		}
		return word
	case "backoff":
		word = "crashed"
	case "unhealthy":
		// Up, failing its health check: why, not the last exit.
		return word + " (" + truncate(p.HealthError, 60) + ")"
	}
	var notes []string
	switch {
	case p.ExitSignal != "":
		notes = append(notes, p.ExitSignal)
	case p.ExitCode != nil:
		notes = append(notes, fmt.Sprintf("exit %d", *p.ExitCode))
	}
	if p.NextRestart > 0 {
		wait := max(time.Until(time.UnixMilli(p.NextRestart)), 0).Round(100 * time.Millisecond)
		notes = append(notes, "retry in "+wait.String())
	}
	if len(notes) == 0 {
		return word
	}
	return word + " (" + strings.Join(notes, ", ") + ")"
}
