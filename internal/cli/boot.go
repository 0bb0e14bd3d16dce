package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/service"
)

// bootFile is where `tsm startup install` writes the unit (Linux) or
// LaunchAgent (macOS), and its content for this binary and state dir.
func (a *App) bootFile() (path, content string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("cannot find the tsm binary's path: %w", err)
	}
	home := a.Getenv("HOME")
	if home == "" {
		return "", "", errors.New("HOME is not set; the boot unit goes in your home directory")
	}
	if runtime.GOOS == "darwin" {
		path = filepath.Join(home, "Library", "LaunchAgents", service.BootAgentLabel+".plist")
		return path, service.LaunchdPlist(exe, a.root, paths.DaemonLog(a.root)), nil
	}
	config := a.Getenv("XDG_CONFIG_HOME")
	if config == "" {
		config = filepath.Join(home, ".config")
	}
	path = filepath.Join(config, "systemd", "user", service.BootUnitName)
	return path, service.SystemdUnit(exe, a.root), nil
}

// systemctl runs `systemctl --user args...`; "" and an error when it is
// missing or fails (no user manager, as in many containers).
func systemctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (a *App) newBootCmds() []*cobra.Command {
	var force, asJSON bool
	install := &cobra.Command{
		Use:   "install",
		Short: "Start tsm at boot: write a systemd user unit (Linux) or a LaunchAgent (macOS)",
		Long: `Install writes a systemd user unit (~/.config/systemd/user/tsm.service) or,
on macOS, a LaunchAgent (~/Library/LaunchAgents/com.tetra.tsm.plist) that
runs ` + "`tsm startup run`" + ` with this binary's absolute path and this state
directory. After a reboot it starts the daemon, which brings back every
process that was online when the machine went down (with its ID and name;
stopped ones stay stopped), then starts the enabled services that are not
running. On Linux it also runs ` + "`systemctl --user enable tsm.service`" + `.
An existing file is replaced only with --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, content, err := a.bootFile()
			if err != nil {
				return err
			}
			if old, err := os.ReadFile(path); err == nil && string(old) != content && !force {
				return fmt.Errorf("%s exists and differs (another tsm binary or state directory?); `tsm startup status` shows it, --force replaces it", path)
			}
			if err := writeFileAtomic(path, []byte(content)); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "✔ wrote %s\n", path)
			if runtime.GOOS == "darwin" {
				fmt.Fprintf(out, "  launchd loads it at your next login; to hand over now: tsm daemon stop && launchctl bootstrap gui/%d %s\n", os.Getuid(), path)
				return nil
			}
			if msg, err := systemctl(cmd.Context(), "daemon-reload"); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: note: systemctl --user daemon-reload failed (%v: %s); once a user manager runs: systemctl --user daemon-reload && systemctl --user enable %s\n", err, msg, service.BootUnitName)
			} else if msg, err := systemctl(cmd.Context(), "enable", service.BootUnitName); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: note: systemctl --user enable %s failed (%v: %s)\n", service.BootUnitName, err, msg)
			} else {
				fmt.Fprintf(out, "✔ enabled %s\n", service.BootUnitName)
			}
			fmt.Fprintf(out, "  to start it at boot before you log in: loginctl enable-linger %s\n", a.Getenv("USER"))
			fmt.Fprintf(out, "  to hand over now: tsm daemon stop && systemctl --user start %s (services keep running)\n", service.BootUnitName)
			return nil
		},
	}
	install.Flags().BoolVarP(&force, "force", "f", false, "replace an existing unit that differs")

	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop starting tsm at boot (removes the unit or LaunchAgent; nothing stops)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _, err := a.bootFile()
			if err != nil {
				return err
			}
			if runtime.GOOS != "darwin" {
				systemctl(cmd.Context(), "disable", service.BootUnitName)
			}
			if err := os.Remove(path); errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(cmd.OutOrStdout(), "not installed (%s does not exist)\n", path)
				return nil
			} else if err != nil {
				return err
			}
			if runtime.GOOS != "darwin" {
				systemctl(cmd.Context(), "daemon-reload")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✔ removed %s; the daemon and services keep running\n", path)
			return nil
		},
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Say whether tsm starts at boot, and what it would start",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, content, err := a.bootFile()
			if err != nil {
				return err
			}
			st := map[string]any{"file": path, "installed": false, "current": false}
			if old, err := os.ReadFile(path); err == nil {
				st["installed"], st["current"] = true, string(old) == content
			}
			if runtime.GOOS != "darwin" {
				enabled, _ := systemctl(cmd.Context(), "is-enabled", service.BootUnitName)
				st["systemd"] = enabled
			}
			defs, _ := a.registry().Enabled()
			st["enabled_services"] = sortedIDs(defs)
			st["daemon_running"] = a.client.Running(cmd.Context())
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			out := cmd.OutOrStdout()
			switch {
			case !st["installed"].(bool):
				fmt.Fprintf(out, "not installed: nothing starts tsm at boot (`tsm startup install`)\n")
			case !st["current"].(bool):
				fmt.Fprintf(out, "installed at %s, but for another binary or state directory; `tsm startup install --force` rewrites it\n", path)
			default:
				fmt.Fprintf(out, "installed: %s\n", path)
			}
			if s, ok := st["systemd"].(string); ok && s != "" {
				fmt.Fprintf(out, "systemd: %s\n", s)
			}
			fmt.Fprintf(out, "at boot: every process that was online, and %s: %s\n", plural(len(defs), "enabled service", "enabled services"), strings.Join(sortedIDs(defs), ", "))
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")

	run := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground and start the enabled services (what the boot unit runs)",
		Long: `Run serves the state directory in this process, as ` + "`tsm daemon run`" + ` does
(the daemon brings back every process that was online), and once it answers
makes one startup pass over the enabled services. It returns when the daemon
stops (SIGTERM, ` + "`tsm daemon stop`" + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			done := make(chan error, 1)
			go func() { done <- a.RunDaemon(a.root) }()
			deadline := time.Now().Add(30 * time.Second)
			for !a.client.Running(cmd.Context()) {
				select {
				case err := <-done:
					// Another daemon serves root (it won the lock): it
					// brought the processes back; the pass still runs.
					if err != nil {
						return err
					}
					done = nil
				case <-time.After(50 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("the daemon did not answer within 30s; see %s", paths.DaemonLog(a.root))
				}
			}
			if err := a.runPass(cmd, "startup", false, false, false); err != nil && !errors.As(err, new(quiet)) {
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: startup pass: %v\n", err)
			}
			if done == nil {
				return nil
			}
			return <-done
		},
	}
	return []*cobra.Command{install, uninstall, status, run}
}

// writeFileAtomic writes path whole or not at all (0644), creating its
// directory.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileMode(path, data, 0o644)
}
