package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/client"
	"github.com/tetra/tsm/internal/envfile"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/release"
)

func (a *App) newDoctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor [health | ports | port N | orphans | clean | env FILE]",
		Short: "Check tsm's state directory, daemon, cgroups, processes and ports, and say how to fix what is wrong",
		Long: `Doctor runs every check and prints each as ok, warn or error, with the exact
fix for a warn or an error. It exits 1 when any check is an error.

Checks: the state directory (layout, owner, modes); the daemon (reachable,
same release as this CLI); sessions; cgroup delegation (and how to get it);
records whose process is gone; orphans (processes of a run tsm no longer
tracks); declared ports held by someone else.

  health      the quick checks: state directory, daemon, sessions, records
  ports       declared ports held outside their process
  port N      who holds port N
  orphans     processes of runs tsm no longer tracks
  clean       end the orphans it lists (and only those), after listing them
  env FILE    an env file's syntax, with line numbers`,
		Example: `  tsm doctor
  tsm doctor port 8000
  tsm doctor clean
  tsm doctor env env/local.env --json`,
		Args: cobra.NoArgs,
	}
	// withLocal runs the CLI's own checks, then the daemon's named only
	// ("" for all of them).
	withLocal := func(only string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			checks := a.localChecks(cmd)
			rep, err := a.client.Doctor(cmd.Context(), only)
			if err != nil {
				return err
			}
			return report(cmd.OutOrStdout(), append(checks, rep.Checks...), asJSON)
		}
	}
	cmd.RunE = withLocal("")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print the checks as JSON")
	daemonCheck := func(use, only, short string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				rep, err := a.client.Doctor(cmd.Context(), only)
				if err != nil {
					return err
				}
				return report(cmd.OutOrStdout(), rep.Checks, asJSON)
			},
		}
	}
	health := &cobra.Command{
		Use: "health", Aliases: []string{"healthcheck"}, Args: cobra.NoArgs,
		Short: "The quick checks: state directory, daemon, sessions, records",
		RunE:  withLocal("records"),
	}
	port := &cobra.Command{
		Use: "port N", Args: cobra.ExactArgs(1),
		Short: "Who holds port N (PID, user, command, tsm process)",
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || n > 65535 {
				return usageError("%q is not a port: use a number from 1 to 65535", args[0])
			}
			resp, err := a.client.Ports(cmd.Context(), n)
			if err != nil {
				return err
			}
			return report(cmd.OutOrStdout(), portChecks(n, resp), asJSON)
		},
	}
	env := &cobra.Command{
		Use: "env FILE", Args: cobra.ExactArgs(1),
		Short: "Check an env file's syntax, with line numbers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return report(cmd.OutOrStdout(), []api.Check{envCheck(args[0])}, asJSON)
		},
	}
	clean := &cobra.Command{
		Use: "clean", Args: cobra.NoArgs,
		Short: "End the orphans doctor lists (processes of runs tsm no longer tracks), and nothing else",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.clean(cmd, asJSON)
		},
	}
	cmd.AddCommand(health,
		daemonCheck("ports", "ports", "Declared ports held by someone outside their process"),
		port,
		daemonCheck("orphans", "orphans", "Processes of runs tsm no longer tracks"),
		clean, env)
	return cmd
}

// localChecks are the checks the CLI makes itself: they must work when
// the daemon does not.
func (a *App) localChecks(cmd *cobra.Command) []api.Check {
	var out []api.Check
	add := func(name, level, msg, fix string) {
		out = append(out, api.Check{Name: name, Level: level, Message: msg, Fix: fix})
	}
	root := a.root
	switch fi, err := os.Stat(root); {
	case errors.Is(err, fs.ErrNotExist):
		add("state directory", api.CheckOK, root+" does not exist yet; tsm creates it on first use", "")
	case err != nil:
		add("state directory", api.CheckError, err.Error(), "check the permissions of "+filepath.Dir(root)+", or set TSM_DIR to a directory of your own")
	case !fi.IsDir():
		add("state directory", api.CheckError, root+" is not a directory", "move it away, or set TSM_DIR to a directory of your own")
	default:
		if err := paths.CheckPrivate(root); err != nil {
			fix := "set TSM_DIR to a directory of your own"
			if _, after, ok := strings.Cut(err.Error(), "run `"); ok {
				fix = "run `" + after
			}
			add("state directory", api.CheckError, err.Error(), fix)
		} else {
			add("state directory", api.CheckOK, root+" (and runtime/processes) belongs to you and only you can write to it", "")
		}
		if fi, err := os.Lstat(paths.Socket(root)); err == nil && fi.Mode().Perm()&0o077 != 0 {
			add("state directory", api.CheckError, fmt.Sprintf("the daemon socket %s has mode %o: others may talk to the daemon", paths.Socket(root), fi.Mode().Perm()),
				"`tsm daemon stop` (services keep running); the next daemon makes it 0600")
		}
	}
	add("sessions", api.CheckOK, "tsm puts each service in its own session with setsid(2) itself; no setsid program is needed", "")
	ping, err := a.client.Ping(cmd.Context())
	switch {
	case errors.Is(err, client.ErrNotRunning):
		add("daemon", api.CheckWarn, "the daemon is not running (it starts on demand; doctor starts it for the checks that need it)", "nothing to do, unless services should be running: then `tsm list` shows what tsm knows")
	case err != nil:
		add("daemon", api.CheckError, "the daemon does not answer: "+err.Error(), "see "+filepath.Join(root, "daemon.log")+"; `tsm daemon stop`, then any tsm command starts a new one (services keep running)")
	case ping.Version != api.Version || ping.Build != release.Build:
		add("daemon", api.CheckWarn, fmt.Sprintf("the daemon (pid %d) is tsm %s (protocol %s), this CLI is tsm %s (protocol %s)", ping.PID, ping.Build, ping.Version, release.Build, api.Version),
			"`tsm daemon stop` to switch to this release; services keep running")
	default:
		add("daemon", api.CheckOK, fmt.Sprintf("pid %d answers, same release (%s), %s", ping.PID, ping.Build, plural(ping.Processes, "process", "processes")), "")
	}
	return out
}

func portChecks(port int, resp api.PortsResponse) []api.Check {
	if len(resp.Holders) == 0 {
		return []api.Check{{Name: "port", Level: api.CheckOK, Message: fmt.Sprintf("nothing visible holds port %d (another user's process is visible only to root)", port)}}
	}
	var out []api.Check
	for _, h := range resp.Holders {
		c := api.Check{Name: "port", Level: api.CheckWarn,
			Message: fmt.Sprintf("%s port %d is held by pid %d (%s), user %s", h.Proto, port, h.PID, h.Command, h.User),
			Fix:     fmt.Sprintf("`kill %d` to free it", h.PID)}
		if h.ID != nil {
			c.Message += fmt.Sprintf(", of tsm process %s (id %d)", h.Name, *h.ID)
			c.Fix = fmt.Sprintf("`tsm stop %d` to free it", *h.ID)
		}
		out = append(out, c)
	}
	return out
}

func envCheck(path string) api.Check {
	c := api.Check{Name: "env file"}
	// As start reads it: a FIFO or a device is refused, never waited on.
	b, err := envfile.ReadFile(path)
	if err != nil {
		c.Level, c.Message, c.Fix = api.CheckError, err.Error(), "check the path (`tsm start --env NAME` reads ./env/NAME.env)"
		return c
	}
	vars, err := envfile.Parse(bytes.NewReader(b), nil)
	var syn *envfile.SyntaxError
	switch {
	case errors.As(err, &syn):
		c.Level, c.Message = api.CheckError, fmt.Sprintf("%s:%d: %s", path, syn.Line, syn.Msg)
		c.Fix = fmt.Sprintf("edit line %d of %s: tsm reads KEY=value, export, quotes, comments and $VAR, and never runs the file", syn.Line, path)
	case err != nil:
		c.Level, c.Message, c.Fix = api.CheckError, fmt.Sprintf("%s: %v", path, err), "check that it is a readable text file"
	default:
		keys := make([]string, 0, len(vars))
		for _, v := range vars {
			keys = append(keys, v.Key)
		}
		c.Level, c.Message = api.CheckOK, fmt.Sprintf("%s: %s (%s)", path, plural(len(vars), "variable", "variables"), strings.Join(keys, " "))
	}
	return c
}

// report prints checks and fails (exit 1, already reported) when one is an
// error.
func report(w io.Writer, checks []api.Check, asJSON bool) error {
	errs, warns := 0, 0
	for _, c := range checks {
		switch c.Level {
		case api.CheckError:
			errs++
		case api.CheckWarn:
			warns++
		}
	}
	if asJSON {
		if err := printJSON(w, checks); err != nil {
			return err
		}
	} else {
		// A record directory's name in a check may hold control bytes,
		// escaped as list escapes them.
		for _, c := range checks {
			fmt.Fprintf(w, "%-5s  %-15s  %s\n", c.Level, c.Name, api.EscapeControls(c.Message))
			if c.Fix != "" {
				fmt.Fprintf(w, "%-5s  %-15s  fix: %s\n", "", "", api.EscapeControls(c.Fix))
			}
		}
		fmt.Fprintf(w, "%s, %s\n", plural(errs, "error", "errors"), plural(warns, "warning", "warnings"))
	}
	if errs > 0 {
		return quiet{ExitFailure}
	}
	return nil
}

// clean lists the orphans, says it will end them, and ends exactly those
// (the daemon skips any that is no longer an orphan).
func (a *App) clean(cmd *cobra.Command, asJSON bool) error {
	rep, err := a.client.Doctor(cmd.Context(), "orphans")
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if len(rep.Orphans) == 0 {
		if asJSON {
			return printJSON(w, []api.CleanResult{})
		}
		fmt.Fprintln(w, "nothing to clean: no process of a run tsm no longer tracks")
		return nil
	}
	if !asJSON {
		fmt.Fprintf(w, "ending %s of runs tsm no longer tracks (SIGTERM, SIGKILL after 5s):\n", plural(len(rep.Orphans), "process", "processes"))
		for _, o := range rep.Orphans {
			fmt.Fprintf(w, "  pid %d  %s  (from %s)\n", o.PID, o.Command, o.Name)
		}
	}
	res, err := a.client.Clean(cmd.Context(), rep.Orphans)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, res)
	}
	for _, r := range res {
		switch r.Action {
		case "skipped":
			fmt.Fprintf(w, "• pid %d left alone: it is no longer an orphan (or no longer the same process)\n", r.PID)
		case "killed":
			fmt.Fprintf(w, "✔ killed pid %d (it ignored SIGTERM for 5s)\n", r.PID)
		default:
			fmt.Fprintf(w, "✔ ended pid %d\n", r.PID)
		}
	}
	return nil
}
