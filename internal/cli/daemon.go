package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/client"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/release"
)

func (a *App) newDaemonCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon status|stop|run",
		Short: "Inspect, stop or run the supervisor daemon",
		Long: `The daemon supervises every process; the CLI starts it on demand. Stopping
it leaves every service running: the next tsm command starts a new daemon
that re-adopts them. That is also how a new tsm version takes over.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError("daemon needs a subcommand: status, stop or run")
		},
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Say whether the daemon runs, with its PID, version and process count",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.client.Ping(cmd.Context())
			if err != nil {
				// A state directory tsm refuses (another user's, one others
				// can write) has no daemon of ours, and no command would
				// start one: say why rather than "any tsm command starts it".
				if perr := paths.CheckPrivate(a.root); perr != nil {
					return perr
				}
				if cerr := creatable(a.root); cerr != nil {
					return cerr
				}
				if asJSON {
					printJSON(cmd.OutOrStdout(), map[string]any{"running": false, "dir": a.root})
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "daemon not running (state in %s); any tsm command starts it\n", a.root)
				}
				return quiet{ExitFailure}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"running": true, "pid": p.PID, "version": p.Version, "build": p.Build,
					"started_at": p.StartedAt, "dir": p.Dir, "processes": p.Processes, "processes_running": p.Running})
			}
			up := time.Since(time.Unix(p.StartedAt, 0)).Round(time.Second)
			fmt.Fprintf(cmd.OutOrStdout(), "daemon running  (pid %d, tsm %s, protocol %s, up %s, %s, state in %s)\n",
				p.PID, p.Build, p.Version, up, plural(p.Processes, "process", "processes"), p.Dir)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")

	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop the daemon; every service keeps running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Once asked, the daemon goes: an interrupt must not leave the
			// answer unread.
			p, err := a.client.Shutdown(context.WithoutCancel(cmd.Context()))
			// Another user's daemon, which no ping of ours reaches either,
			// runs on: say whose it is rather than "not running".
			var other *client.WrongUserError
			if errors.As(err, &other) {
				return err
			}
			// A daemon that dropped the connection on its way out is gone
			// too.
			if errors.Is(err, client.ErrNotRunning) || (err != nil && !a.client.Running(cmd.Context())) {
				fmt.Fprintln(cmd.OutOrStdout(), "daemon not running")
				return nil
			}
			if err != nil {
				return err
			}
			// Wait until it has let go of the lock, so that a command run
			// right after starts a fresh daemon. It first finishes what it
			// is doing (a stop waiting out its grace period, a start
			// waiting for its port), however long that takes.
			if len(p.InFlight) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "waiting for %s in flight to finish: %s\n",
					plural(len(p.InFlight), "operation", "operations"), strings.Join(p.InFlight, ", "))
			}
			deadline := time.Now().Add(5 * time.Second)
			for pidAlive(paths.DaemonPID(a.root), p.PID) {
				if time.Now().After(deadline) {
					// Still busy is fine; idle and still there is not.
					if q, err := a.client.Ping(cmd.Context()); err == nil && q.PID == p.PID && len(q.InFlight) == 0 {
						return fmt.Errorf("the daemon (pid %d) did not exit within 5s; see %s", p.PID, paths.DaemonLog(a.root))
					}
					deadline = time.Now().Add(5 * time.Second)
				}
				time.Sleep(10 * time.Millisecond)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✔ daemon stopped (pid %d); %s still running\n", p.PID, plural(p.Running, "process", "processes"))
			return nil
		},
	}
	run := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground (the CLI normally does this for you)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.RunDaemon(a.root)
		},
	}
	cmd.AddCommand(status, stop, run)
	return cmd
}

// pidAlive reports whether the daemon.pid file still names pid.
func pidAlive(pidFile string, pid int) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && n == pid
}

func (a *App) newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the tsm version",
		Long: `Version prints this tsm binary's release and protocol version. It does not
start or ask the daemon (see ` + "`tsm daemon status`" + `).

--json prints {"version", "protocol", "go", "os", "arch"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{
					"version": release.Build, "protocol": api.Version,
					"go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tsm %s (protocol %s)\n", release.Build, api.Version)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version as JSON")
	return cmd
}

// creatable says why the state directory root, which does not exist yet,
// could not be made by this user (the nearest directory above it that
// exists is not writable: HOME=/nonexistent, as nobody's is), nil if it
// exists or could be.
func creatable(root string) error {
	dir := root
	for {
		if _, err := os.Lstat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
	if dir == root || unix.Access(dir, unix.W_OK) == nil {
		return nil
	}
	return fmt.Errorf("the daemon cannot run here: the state directory %s does not exist and you cannot create it (%s is not writable by you); set TSM_DIR to a directory of your own (or HOME to a home you can write to)", root, dir)
}
