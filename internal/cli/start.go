package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/client"
	"github.com/tetra/tsm/internal/execctx"
	"github.com/tetra/tsm/internal/logs"
)

func (a *App) newStartCmd() *cobra.Command {
	var req api.StartRequest
	var wait, minUptime, killTimeout, healthInterval, healthTimeout time.Duration
	var logMaxSize, maxMemory string
	var logKeep int
	var maxRestarts int
	var asJSON, dryRun bool
	cmd := &cobra.Command{
		Use:   "start [flags] [--] <command> [args...] | <service> | <file.tsm>",
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
for python/node); for npm/pnpm/yarn/bun scripts, PORT in your shell or a
port in the package.json script line; a PORT = 8000 default in the script;
the default of a known server (http.server 8000, flask 5000, vite 5173, ...:
the first free one from there, passed on as --port when it ignores PORT);
none. The port must be free; P+ takes the first free port >= P. It is
exported as PORT. A process that listens elsewhere is reported.

With --pre-hook, the command is looked up after the hook ran (bash -c
'HOOK && exec "$@"'), so a venv, nvm, PATH change or cd in it applies.

The process gets your shell's environment, resource limits, umask and nice
value, on every run; stdin stays open and empty (--stdin null: /dev/null).

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
python/node script or an npm/pnpm/yarn/bun script (npm start → {dir}-start),
else the first command word. A name you give is kept exactly (letters and
digits of any script, ".", "_", "-") or refused; all digits, "all" and a
leading "-" or "." are refused.

A service (a name from services-available, org/name, or a path to a .tsm
file) starts from its definition: command, cwd, port, env file, pre-hook
and exported variables; flags given here override it, before or after its
name (tsm start web --dry-run). --dry-run shows what would run without
starting anything (see also ` + "`tsm describe`" + `).`,
		Example: `  tsm start python3 -m http.server 8000
  tsm start --name api --port 3000+ node server.js
  tsm start --env local ./run.sh
  tsm start -- python3 app.py --port 9000
  tsm start devpages
  tsm start --dry-run ./api.tsm`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("no command given; usage: tsm start [flags] <command> [args...]")
			}
			args, err := a.trailingStartFlags(cmd, args)
			if err != nil {
				return err
			}
			cwd, err := a.Getwd()
			if err != nil {
				return fmt.Errorf("cannot read the current directory: %w", err)
			}
			req.Argv, req.Cwd, req.Env = args, cwd, a.Environ()
			if wait < 0 || minUptime < 0 {
				return usageError("--wait and --min-uptime must not be negative (e.g. 10s, 500ms, 0)")
			}
			switch req.Stdin {
			case "pipe":
				req.Stdin = ""
			case "null":
			default:
				return usageError("invalid --stdin %q: use pipe (stdin stays open and empty) or null (/dev/null, reads see EOF)", req.Stdin)
			}
			ctx := execctx.Capture()
			req.Context = &ctx
			req.WaitMillis = int(wait / time.Millisecond)
			req.MinUptimeMillis = int(minUptime / time.Millisecond)
			if cmd.Flags().Changed("kill-timeout") {
				if killTimeout < time.Millisecond {
					return usageError("--kill-timeout must be at least 1ms")
				}
				req.KillTimeoutMillis = int(killTimeout / time.Millisecond)
			}
			if cmd.Flags().Changed("log-max-size") {
				n, err := logs.ParseSize(logMaxSize)
				if err != nil {
					return usageError("--log-max-size: %v", err)
				}
				req.LogMaxSize = &n
			}
			if cmd.Flags().Changed("log-keep") {
				if logKeep < 0 {
					return usageError("--log-keep must be 0 or more (rotated files kept)")
				}
				req.LogKeep = &logKeep
			}
			if cmd.Flags().Changed("max-restarts") {
				if maxRestarts < 0 {
					return usageError("--max-restarts must be 0 or more")
				}
				req.MaxRestarts = &maxRestarts
			}
			if maxMemory != "" {
				n, err := parseMemory(maxMemory)
				if err != nil {
					return usageError("--max-memory: %v", err)
				}
				req.MaxMemory = n
			}
			// 0 or less would silently mean the default (WithDefaults).
			if healthInterval < time.Millisecond || healthTimeout < time.Millisecond {
				return usageError("--health-interval and --health-timeout must be at least 1ms (e.g. 10s, 500ms)")
			}
			if req.HealthRetries < 1 {
				return usageError("--health-retries must be 1 or more (failed checks in a row before a restart)")
			}
			req.HealthIntervalMillis = int(healthInterval / time.Millisecond)
			req.HealthTimeoutMillis = int(healthTimeout / time.Millisecond)
			p, handled, err := a.startArgs(cmd, req, dryRun) // service.go
			if !handled {
				p, err = a.client.Start(cmd.Context(), req)
				err = a.startedBefore(cmd, req.Argv, err)
			}
			if err != nil || p.Name == "" {
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
			if p.Ready == "elsewhere" {
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: note: it is listening on %s, not %v: it does not read $PORT. Pass the port the way the program takes it (e.g. --port %v after the command), or start it with --port %s\n",
					api.JoinPorts(p.ListeningPorts), p.Port, p.Port, api.JoinPorts(p.ListeningPorts[:1]))
			}
			if p.Ready == "timeout" && req.Ready != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: note: --ready %s has not passed yet (waited %s); it stays starting until it does (asked every second), see `tsm logs %d`\n", req.Ready, wait, p.TsmID)
			} else if p.Ready == "timeout" {
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
	f.DurationVar(&wait, "wait", 10*time.Second, "how long start and restart wait for the process to be ready (--ready, else the port)")
	f.BoolVar(&req.NoWait, "no-wait", false, "return once the process is spawned, without waiting for its port or the 0.5 s settle window")
	f.StringVar(&req.StopSignal, "signal", "", "signal that asks the process to stop (default SIGTERM; e.g. SIGINT, SIGQUIT for nginx)")
	f.StringVar(&req.KillSignal, "kill-signal", "", "signal for what is left when the kill timeout has passed (default SIGKILL)")
	f.StringVar(&req.ReloadSignal, "reload-signal", "", "signal `tsm reload` sends to reload without a restart (e.g. HUP for gunicorn, nginx)")
	f.DurationVar(&killTimeout, "kill-timeout", 10*time.Second, "grace period between the stop signal and the kill signal")
	f.StringVar(&req.Stdin, "stdin", "pipe", "pipe: stdin stays open and empty while the process runs; null: /dev/null (reads see EOF)")
	f.StringVar(&maxMemory, "max-memory", "", "restart gracefully when the whole process tree uses more memory (e.g. 512M, 1G); with a delegated cgroup the kernel holds it there too")
	f.StringVar(&req.CronRestart, "cron-restart", "", "restart on a cron schedule: \"0 3 * * *\" (03:00 daily), @hourly, @every 6h")
	f.StringSliceVar(&req.Watch, "watch", nil, "restart when files change: --watch alone watches the working directory, --watch=src,lib those paths (debounced; .git, node_modules, __pycache__ ignored)")
	f.Lookup("watch").NoOptDefVal = "."
	f.StringSliceVar(&req.WatchIgnore, "watch-ignore", nil, "more names or patterns --watch ignores (e.g. dist, '*.log'); one with a / is a path from the working directory (out/gen, 'dist/*.map')")
	f.StringVar(&req.Ready, "ready", "", "when the process is up: tcp, tcp:PORT, http://HOST:PORT/PATH (2xx/3xx), exec:COMMAND (exits 0) or log:REGEX (a new line of its output matches); default: its port accepts connections")
	f.StringVar(&req.Health, "health", "", "health check: http://127.0.0.1:PORT/PATH (2xx/3xx), tcp (the port accepts), tcp:PORT, or exec:COMMAND (exits 0)")
	f.DurationVar(&healthInterval, "health-interval", 10*time.Second, "time between health checks")
	f.DurationVar(&healthTimeout, "health-timeout", 5*time.Second, "a health check that takes longer fails")
	f.IntVar(&req.HealthRetries, "health-retries", 3, "failed health checks in a row that restart the process (it shows unhealthy in between)")
	f.StringVar(&logMaxSize, "log-max-size", "", "rotate a log stream above this size (10M, 512k; 0: never; default from config.toml, 10M)")
	f.IntVar(&logKeep, "log-keep", 0, "rotated files kept per log stream (default from config.toml, 5)")
	f.BoolVar(&req.LogTime, "log-time", false, "prefix each log line with its arrival time (the daemon then relays the output; see README)")
	f.BoolVar(&asJSON, "json", false, "print the started process as JSON")
	f.BoolVar(&dryRun, "dry-run", false, "show what would run (name, port, program, cwd; a service's environment too; secrets hidden) and start nothing")
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

// trailingStartFlags serves `tsm start web --dry-run`: a service (or .tsm
// file) followed only by words that are start flags gets those flags, as
// the README and habit from other tools have it. Left as a command's
// arguments, they would start `web --dry-run` when web is also a program,
// the opposite of a dry run. Anything else is returned unchanged: a
// command's arguments stay the command's.
func (a *App) trailingStartFlags(cmd *cobra.Command, args []string) ([]string, error) {
	if len(args) < 2 || !onlyFlags(cmd.Flags(), args[1:]) {
		return args, nil
	}
	if _, isDef, _ := a.loadDefinition(args[0]); !isDef {
		return args, nil
	}
	if err := cmd.Flags().Parse(args[1:]); err != nil {
		return nil, usageError("%v", err)
	}
	return args[:1], nil
}

// onlyFlags reports whether words are all flags of fs (with their values),
// in the forms --name, --name=value, --name value, -n value and -n.
func onlyFlags(fs *pflag.FlagSet, words []string) bool {
	for i := 0; i < len(words); i++ {
		w := words[i]
		var f *pflag.Flag
		name, _, hasValue := strings.Cut(w, "=")
		switch {
		case strings.HasPrefix(w, "--") && len(w) > 2:
			f = fs.Lookup(name[2:])
		case strings.HasPrefix(w, "-") && len(name) == 2:
			f = fs.ShorthandLookup(name[1:])
		}
		if f == nil || f.Name == "help" {
			return false
		}
		if !hasValue && f.NoOptDefVal == "" {
			i++ // its value is the next word
			if i == len(words) {
				return false
			}
		}
	}
	return true
}

// startedBefore adds a hint to the failure of `tsm start NAME` when NAME is
// not a program but a process tsm already knows (PM2's `pm2 start app`
// restarts one): "command not found in PATH" alone sends the user looking
// for a program.
func (a *App) startedBefore(cmd *cobra.Command, argv []string, err error) error {
	var ae *client.APIError
	if err == nil || len(argv) != 1 || !errors.As(err, &ae) || ae.Body.Code != api.CodeMissingFile {
		return err
	}
	list, lerr := a.client.List(cmd.Context())
	if lerr != nil {
		return err
	}
	for _, p := range list.Processes {
		if p.Name == argv[0] {
			return fmt.Errorf("%w; %s is the name of process %d (%s): `tsm restart %s` starts it again", err, p.Name, p.TsmID, p.Row().StateWord(), p.Name)
		}
	}
	return err
}
