package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
)

func (a *App) newStartCmd() *cobra.Command {
	var req api.StartRequest
	var wait, minUptime, killTimeout time.Duration
	var maxRestarts int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "start [flags] [--] <command> [args...]",
		Short: "Start a command in the background and keep it alive",
		Long: `Start runs a command in the background, in its own session, with stdout and
stderr appended to current.out and current.err in its process directory.
It returns once the process is up: as soon as its port accepts connections,
or after 0.5 s for a process without a port. If the process dies first,
start fails and shows its exit code and last lines of stderr. With
--no-wait it returns as soon as the process is spawned, and says so; a
process that then dies is handled by its restart policy (see tsm list).

Flags are read only before the command: everything from the first word
that is not a flag belongs to the command.

Port (first that applies): --port; PORT in the env file; a port in the
command (:8000, --port 8000, -p 8000, PORT=8000, or a bare 4-5 digit number
for python/node); a PORT = 8000 default in the script; none. The port must
be free; P+ takes the first free port >= P. It is exported as PORT.

Stop: --signal (default SIGTERM) goes to the process group and every
descendant, --kill-signal (default SIGKILL) to whatever is left after
--kill-timeout (default 10s, also the default of tsm stop --timeout).

Supervision: with --restart on-failure (the default) a process that exits
non-zero or dies by a signal tsm did not send is started again: at once
after a run longer than --min-uptime, else with a backoff from 100 ms
doubling to 5 s. After --max-restarts short runs in a row it is errored
and left alone until ` + "`tsm restart`" + `.

Name: --name (NAME-PORT), else NAME in the env file, else
{dir}-{module}-{port} for python -m module, {dir}-{script}-{port} for a
python/node script, else the first command word.`,
		Example: `  tsm start python3 -m http.server 8000
  tsm start --name api --port 3000+ node server.js
  tsm start --env local ./run.sh
  tsm start -- python3 app.py --port 9000`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("no command given; usage: tsm start [flags] <command> [args...]")
			}
			cwd, err := a.Getwd()
			if err != nil {
				return fmt.Errorf("cannot read the current directory: %w", err)
			}
			req.Argv, req.Cwd, req.Env = args, cwd, a.Environ()
			req.WaitMillis = int(wait / time.Millisecond)
			req.MinUptimeMillis = int(minUptime / time.Millisecond)
			if cmd.Flags().Changed("kill-timeout") {
				if killTimeout < time.Millisecond {
					return usageError("--kill-timeout must be at least 1ms")
				}
				req.KillTimeoutMillis = int(killTimeout / time.Millisecond)
			}
			if cmd.Flags().Changed("max-restarts") {
				if maxRestarts < 0 {
					return usageError("--max-restarts must be 0 or more")
				}
				req.MaxRestarts = &maxRestarts
			}
			p, err := a.client.Start(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			if p.Ready == "exited" {
				// Not a failure: the command did its work and ended.
				then := "not restarted (restart policy " + p.RestartPolicy + ")"
				if p.Restarting {
					then = "started again under restart policy " + p.RestartPolicy
				}
				fmt.Fprintf(cmd.OutOrStdout(), "✔ %s (id %d) finished with exit code 0 during startup; %s\n", p.Name, p.TsmID, then)
				if p.LeftBehind > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "tsm: note: it left %s running in the background, which tsm ended with it: a run ends with all of its processes. Run a server in the foreground (e.g. nginx -g 'daemon off;', redis-server --daemonize no) so that tsm supervises it\n",
						plural(p.LeftBehind, "process", "processes"))
				}
				return nil
			}
			if p.Ready == "spawned" {
				fmt.Fprintf(cmd.OutOrStdout(), "✔ spawned %s  (id %d, pid %d%s); not waiting for it to be ready (--no-wait): `tsm list` shows it online once it is\n",
					p.Name, p.TsmID, p.PID, portNote(p))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✔ started %s  (id %d, pid %d%s)\n", p.Name, p.TsmID, p.PID, portNote(p))
			if p.Ready == "timeout" {
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: note: nothing accepts connections on port %v yet (waited %s); see `tsm logs %d`\n", p.Port, wait, p.TsmID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&req.Name, "name", "N", "", "base name of the process (becomes NAME-PORT)")
	f.StringVarP(&req.Port, "port", "p", "", "port: P (must be free), P+ (first free port >= P), or none")
	f.StringVarP(&req.EnvFile, "env", "e", "", "env file: NAME for ./env/NAME.env, or a path")
	f.StringVar(&req.WorkDir, "cwd", "", "working directory of the process (default: the current directory)")
	f.StringVar(&req.PreHook, "pre-hook", "", "shell code to run before the command (e.g. 'source venv/bin/activate')")
	f.StringVar(&req.Restart, "restart", "on-failure", "restart policy: always, on-failure or never")
	f.IntVar(&maxRestarts, "max-restarts", 10, "unstable restarts in a row before giving up (status errored)")
	f.DurationVar(&minUptime, "min-uptime", time.Second, "a run shorter than this is unstable and backs off")
	f.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the port to accept connections")
	f.BoolVar(&req.NoWait, "no-wait", false, "return once the process is spawned, without waiting for its port or the 0.5 s settle window")
	f.StringVar(&req.StopSignal, "signal", "", "signal that asks the process to stop (default SIGTERM; e.g. SIGINT, SIGQUIT for nginx)")
	f.StringVar(&req.KillSignal, "kill-signal", "", "signal for what is left when the kill timeout has passed (default SIGKILL)")
	f.DurationVar(&killTimeout, "kill-timeout", 10*time.Second, "grace period between the stop signal and the kill signal")
	f.BoolVar(&asJSON, "json", false, "print the started process as JSON")
	return cmd
}

func portNote(p api.Process) string {
	if n, ok := p.Port.(float64); ok {
		return fmt.Sprintf(", port %d", int(n))
	}
	if n, ok := p.Port.(int); ok {
		return fmt.Sprintf(", port %d", n)
	}
	return ""
}
