package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/events"
	"github.com/tetra/tsm/internal/paths"
)

func (a *App) newInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info <target>",
		Short: "Show everything known about one process",
		Long: `Info shows one process: its metadata, paths, live stats (CPU, memory,
threads), the ports it listens on, and how its last run ended.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.resolve(cmd, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			c := a.colors(cmd.OutOrStdout())
			tw := api.NewColumns(cmd.OutOrStdout())
			row := func(k, v string) {
				if v != "" {
					fmt.Fprintf(tw, "%s\t%s\n", k, v)
				}
			}
			row("name", p.Name)
			row("id", fmt.Sprint(p.TsmID))
			row("status", c.status(p.Row().StatusNote()))
			if p.Status == "online" {
				row("pid", fmt.Sprint(p.PID))
				row("uptime", p.Uptime)
				row("cpu", fmt.Sprintf("%.1f%%", p.CPU))
				row("memory", api.HumanBytes(p.Memory))
				row("threads", fmt.Sprint(p.Threads))
				row("listening", api.JoinPorts(p.ListeningPorts))
			}
			row("port", p.Row().ActualPort())
			row("command", p.Command)
			row("executable", p.Exe)
			row("cwd", p.Cwd)
			row("type", p.ProcessType)
			row("interpreter", p.Interpreter)
			row("env file", p.EnvFile)
			row("pre-hook", p.Prehook)
			row("stdin", p.Stdin)
			if p.Context != nil {
				row("context", strings.Join(p.Context.Lines(), ", "))
			}
			row("restart", p.RestartPolicy)
			row("restarts", fmt.Sprintf("%d (%d unstable)", p.Restarts, p.UnstableRestarts))
			if p.StartTime > 0 {
				row("started", time.Unix(p.StartTime, 0).Format(time.DateTime))
			}
			if p.Status != "online" && p.StopTime > 0 {
				row("ended", time.Unix(p.StopTime, 0).Format(time.DateTime))
			}
			if p.ExitSignal != "" {
				row("last exit", "killed by "+p.ExitSignal)
			} else if p.ExitCode != nil {
				row("last exit", fmt.Sprintf("exit code %d", *p.ExitCode))
			}
			row("ready check", p.ReadyCheck)
			if p.MaxMemory > 0 {
				row("max memory", api.HumanBytes(uint64(p.MaxMemory)))
			}
			row("cron restart", p.CronRestart)
			row("watch", strings.Join(p.Watch, ", "))
			row("health check", p.HealthCheck)
			row("health", p.HealthError)
			row("restart reason", p.RestartReason)
			if p.NextRestart > 0 {
				row("next restart", time.UnixMilli(p.NextRestart).Format("15:04:05.000"))
			}
			row("directory", p.Dir)
			row("stdout", p.OutLog)
			row("stderr", p.ErrLog)
			if err := tw.Flush(); err != nil {
				return err
			}
			recent, _ := events.Read(paths.Events(a.root), 5, func(e events.Event) bool { return e.Name == p.Name })
			if len(recent) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "recent events:")
				for _, e := range recent {
					fmt.Fprintln(cmd.OutOrStdout(), "  "+events.Format(masked(e)))
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the process as JSON")
	return cmd
}

// resolve asks the daemon which process a target names, with live stats.
func (a *App) resolve(cmd *cobra.Command, target string) (api.Process, error) {
	return a.client.Info(cmd.Context(), target)
}
