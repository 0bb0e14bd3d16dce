package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
)

func (a *App) newPortsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ports",
		Short: "Show each process's declared port and the ports its whole run listens on",
		Long: `Ports lists every managed process with the port it declared (the ports
registry, $TSM_DIR/ports) and the ports every process of its run actually
listens on: TCP listening sockets and bound UDP sockets, of the main process
and all its descendants. A declared port nothing in the run listens on is
marked, and so is a port the run listens on that it did not declare.

` + "`tsm ports who PORT`" + ` names whoever holds a port, managed or not.`,
		Example: `  tsm ports
  tsm ports --json
  tsm ports who 8000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.client.Ports(cmd.Context(), 0)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), resp.Processes)
			}
			if len(resp.Processes) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no processes")
				return nil
			}
			tw := api.NewColumns(cmd.OutOrStdout())
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tDECLARED\tLISTENING")
			for _, p := range resp.Processes {
				declared := "-"
				if n, ok := p.Declared.(float64); ok {
					declared = strconv.Itoa(int(n))
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.State, declared, describeListening(p))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the processes and their sockets as JSON")
	cmd.AddCommand(a.newPortsWhoCmd())
	return cmd
}

// describeListening renders a run's sockets ("tcp 8000, udp 5353 (pid
// 12)"), marking a declared port nothing listens on.
func describeListening(p api.PortsEntry) string {
	var parts []string
	declaredSeen := false
	declared, hasDeclared := p.Declared.(float64)
	for _, s := range p.Listening {
		part := fmt.Sprintf("%s %d", s.Proto, s.Port)
		if s.PID != p.PID {
			part += fmt.Sprintf(" (pid %d)", s.PID)
		}
		if hasDeclared && s.Port == int(declared) {
			declaredSeen = true
		} else if hasDeclared && s.Proto == "tcp" {
			part += " (undeclared)"
		}
		parts = append(parts, part)
	}
	out := strings.Join(parts, ", ")
	if out == "" {
		out = "-"
	}
	if hasDeclared && !declaredSeen && p.PID > 0 {
		out += fmt.Sprintf("  ! nothing listens on declared port %d", int(declared))
	}
	return out
}

func (a *App) newPortsWhoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "who <port>",
		Short: "Name the processes holding a port, managed by tsm or not",
		Long: `Who names every process holding a listening TCP socket or a bound UDP
socket on the port: PID, user, command, and the tsm process whose run it
belongs to. Another user's process is visible only to root. Exits 1 when
nothing visible holds the port.`,
		Example: `  tsm ports who 8000
  tsm ports who 5353 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			port, err := strconv.Atoi(args[0])
			if err != nil || port < 1 || port > 65535 {
				return usageError("%q is not a port: use a number from 1 to 65535", args[0])
			}
			resp, err := a.client.Ports(cmd.Context(), port)
			if err != nil {
				return err
			}
			if asJSON {
				if resp.Holders == nil {
					resp.Holders = []api.PortHolder{} // [], not null: a list is a list
				}
				if err := printJSON(cmd.OutOrStdout(), resp.Holders); err != nil {
					return err
				}
			} else {
				tw := api.NewColumns(cmd.OutOrStdout())
				if len(resp.Holders) > 0 {
					fmt.Fprintln(tw, "PORT\tPID\tUSER\tTSM\tCOMMAND")
				}
				for _, h := range resp.Holders {
					managed := "-"
					if h.ID != nil {
						managed = fmt.Sprintf("%s (id %d)", h.Name, *h.ID)
					}
					fmt.Fprintf(tw, "%s/%d\t%d\t%s\t%s\t%s\n", h.Proto, h.Port, h.PID, h.User, managed, h.Command)
				}
				tw.Flush()
			}
			if len(resp.Holders) == 0 {
				if !asJSON {
					fmt.Fprintf(cmd.ErrOrStderr(), "tsm: nothing visible holds port %d (another user's process is visible only to root: try `sudo tsm ports who %d`)\n", port, port)
				}
				return quiet{ExitFailure}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the holders as JSON")
	return cmd
}
