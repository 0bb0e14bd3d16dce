package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/redact"
	"github.com/tetra/tsm/internal/service"
)

// saveDefinition writes a definition and checks that it reads back as
// meant, so that a saved file always starts.
func (a *App) saveDefinition(cmd *cobra.Command, name string, content []byte, force bool) error {
	if _, err := service.Parse(name+".tsm", "/", content, a.Environ()); err != nil {
		return fmt.Errorf("the definition for %s would not read back (%v); nothing was written", name, err)
	}
	path, err := a.registry().Write(name, content, force)
	if errors.Is(err, fs.ErrExist) {
		return &exitError{code: ExitFailure, err: err}
	}
	if err != nil {
		return fmt.Errorf("saving %s: %w", name, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "✔ saved %s → %s\n  start it: tsm start %s · at every boot: tsm enable %s\n", name, path, name, name)
	return nil
}

var portName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`-[0-9]{1,5}$`) })

func (a *App) newSaveCmd() *cobra.Command {
	var port, env, cwd, preHook string
	var force bool
	cmd := &cobra.Command{
		Use:   "save <name> <command> [args...] | save <id|name> [new-name]",
		Short: "Write a service definition from a command or from a running process",
		Long: `Save writes $TSM_DIR/services-available/<name>.tsm.

  tsm save <name> <command> [args...]   from a command (run in the current
                                        directory, or --cwd), with --port,
                                        --env and --pre-hook
  tsm save <id|name> [new-name]         from a managed process: its command,
                                        cwd, port, env file and pre-hook; the
                                        name defaults to the process's name
                                        without its -PORT

With two words, the second form applies when the first is a process's ID
or exact name; put -- before the command to force the first form.
An existing definition is never replaced without --force.`,
		Example: `  tsm save api --port 3000 node server.js
  tsm save 3
  tsm save web-8000 web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash == -1 && len(args) <= 2 {
				p, err := a.client.Info(cmd.Context(), args[0])
				// With two words the first must name the process exactly:
				// `tsm save web sleep` is a command when no process is web.
				exact := err == nil && (p.Name == args[0] || strconv.Itoa(p.TsmID) == args[0])
				if exact || len(args) == 1 {
					if err != nil {
						return fmt.Errorf("%w (to save a command, name it first: tsm save <name> <command>)", err)
					}
					name := portName().ReplaceAllString(p.Name, "")
					if len(args) == 2 {
						name = args[1]
					}
					port := ""
					if n := api.PortString(p.Port); n != "-" {
						port = n
					}
					command, prehook, err := recorded(p)
					if err != nil {
						return err
					}
					return a.saveDefinition(cmd, name, service.Render("saved from process "+p.Name+" on "+time.Now().Format("2006-01-02"), service.Pairs(
						"TSM_NAME", name, "TSM_COMMAND", command, "TSM_CWD", p.Cwd, "TSM_PORT", port,
						"TSM_ENV", p.EnvFile, "TSM_PRE_COMMAND", prehook,
					), nil), force)
				}
			}
			if len(args) < 2 {
				return usageError("save needs a name and a command: tsm save <name> <command> [args...]")
			}
			name, words := args[0], args[1:]
			// Flags may also follow the name: tsm save api --port 3000 node app.js.
			for len(words) > 0 && strings.HasPrefix(words[0], "-") && dash != 1 {
				if words[0] == "--" {
					words = words[1:]
					break
				}
				flag, value, hasValue := strings.Cut(strings.TrimLeft(words[0], "-"), "=")
				fl := cmd.Flags().Lookup(flag)
				if fl == nil && len(flag) == 1 {
					fl = cmd.Flags().ShorthandLookup(flag)
				}
				if fl == nil {
					return usageError("unknown flag %s for tsm save; the command starts at its first word that is not a flag (put -- before it)", words[0])
				}
				words = words[1:]
				if !hasValue && fl.Value.Type() != "bool" {
					if len(words) == 0 {
						return usageError("flag %s needs a value", flag)
					}
					value, words = words[0], words[1:]
				} else if !hasValue {
					value = "true"
				}
				if err := fl.Value.Set(value); err != nil {
					return usageError("%s: %v", flag, err)
				}
			}
			if len(words) == 0 {
				return usageError("save needs a command after the name: tsm save <name> <command> [args...]")
			}
			dir, err := a.Getwd()
			if err != nil {
				return err
			}
			if cwd != "" {
				dir = absJoin(dir, cwd)
			}
			command := strings.Join(words, " ")
			if len(words) > 1 {
				command = shellJoin(words)
			}
			return a.saveDefinition(cmd, name, service.Render("saved by tsm save on "+time.Now().Format("2006-01-02"), service.Pairs(
				"TSM_NAME", name, "TSM_COMMAND", command, "TSM_CWD", dir, "TSM_PORT", port,
				"TSM_ENV", env, "TSM_PRE_COMMAND", preHook,
			), nil), force)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&port, "port", "p", "", "port: N (must be free), N+ (first free port from N)")
	f.StringVarP(&env, "env", "e", "", "env file: NAME for <cwd>/env/NAME.env, or a path")
	f.StringVar(&cwd, "cwd", "", "working directory (default: the current directory)")
	f.StringVar(&preHook, "pre-hook", "", "shell code to run before the command")
	f.BoolVarP(&force, "force", "f", false, "replace an existing definition")
	return cmd
}

// recorded returns the command and pre-hook of process p as its record
// (meta.json, the caller's own) holds them. The daemon shows them with
// secret-looking values masked, and a definition saved with the mask
// would run it: --api-key ********, or --session-timeout ******** of a
// harmless option whose name only looks secret.
func recorded(p api.Process) (command, prehook string, err error) {
	path := filepath.Join(p.Dir, "meta.json")
	data, err := os.ReadFile(path)
	var m struct {
		Command string `json:"command"`
		Prehook string `json:"prehook"`
	}
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err == nil && m.Command == "" {
		err = errors.New("it holds no command")
	}
	if err != nil {
		return "", "", fmt.Errorf("cannot read the command of %s from its record %s (%v); save it from the command instead: tsm save <name> <command>", p.Name, path, err)
	}
	return m.Command, m.Prehook, nil
}

// shellJoin quotes words so that the daemon's bash -c reads them back as
// the same words.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w != "" && !strings.ContainsAny(w, " \t\n$`\"'\\|&;<>()*?[]~{}#!") {
			out[i] = w
			continue
		}
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

func absJoin(dir, p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return dir + "/" + p
}

func (a *App) newEnableCmd(enable bool) *cobra.Command {
	use, short := "enable", "Start a service at `tsm startup` (and at boot, after `tsm startup install`)"
	if !enable {
		use, short = "disable", "Stop starting a service at `tsm startup` (it keeps running)"
	}
	return &cobra.Command{
		Use:   use + " <service>...",
		Short: short,
		Long: short + `.

Enabled services are links in $TSM_DIR/services-enabled to their definitions
(as in the bash TSM). ` + "`tsm startup`" + ` starts every enabled service that is not
running, and ` + "`tsm patrol`" + ` starts the ones that died.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := a.registry()
			for _, id := range args {
				d, err := a.findDefinition(id)
				if !enable && err != nil && r.DisableMissing(id) {
					fmt.Fprintf(cmd.OutOrStdout(), "✔ disabled %s (its definition was gone)\n", id)
					continue
				}
				if err != nil {
					return err
				}
				var changed bool
				if enable {
					changed, err = r.Enable(d)
				} else {
					changed, err = r.Disable(d)
				}
				if err != nil {
					return fmt.Errorf("%s %s: %w", use, d.ID(), err)
				}
				switch {
				case changed:
					fmt.Fprintf(cmd.OutOrStdout(), "✔ %sd %s\n", use, d.ID())
				case enable:
					fmt.Fprintf(cmd.OutOrStdout(), "%s is already enabled\n", d.ID())
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "%s was not enabled\n", d.ID())
				}
			}
			return nil
		},
	}
}

// serviceRow is one line of `tsm list available|enabled`.
type serviceRow struct {
	Service     string `json:"service"`
	Name        string `json:"name"`
	Port        string `json:"port"`
	Enabled     bool   `json:"enabled"`
	Process     string `json:"process,omitempty"` // the process started from it
	State       string `json:"state"`             // its state, or "not started"
	Command     string `json:"command"`
	File        string `json:"file"`
	Description string `json:"description,omitempty"`
}

// listServices prints the available or enabled definitions with their
// state. It does not start a daemon to find out that nothing runs.
func (a *App) listServices(cmd *cobra.Command, which string, asJSON bool) error {
	r := a.registry()
	var defs []*service.Definition
	var problems []error
	if which == "enabled" {
		defs, problems = r.Enabled()
	} else {
		defs, problems = r.Available()
	}
	for _, p := range problems {
		fmt.Fprintf(cmd.ErrOrStderr(), "tsm: warning: %v\n", p)
	}
	procs, err := a.runningDaemonProcesses(cmd.Context())
	if err != nil {
		return err
	}
	rows := make([]serviceRow, 0, len(defs))
	for _, d := range defs {
		row := serviceRow{Service: d.ID(), Name: d.Name, Port: d.Port, Enabled: which == "enabled" || r.IsEnabled(d),
			State: "not started", Command: redact.Command(d.Command), File: d.Path, Description: d.Description}
		if row.Port == "" {
			row.Port = "-"
		}
		ps := processesOf(d, procs)
		if p, ok := runningOf(d, procs); ok {
			ps = []api.Process{p}
		}
		if len(ps) > 0 {
			row.Process, row.State = ps[0].Name, ps[0].Row().StatusNote()
		}
		rows = append(rows, row)
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), rows)
	}
	if len(rows) == 0 {
		if which == "enabled" {
			fmt.Fprintln(cmd.OutOrStdout(), "no enabled services (`tsm enable <service>`; `tsm list available` shows them)")
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "no service definitions in %s (write one with `tsm save <name> <command>`)\n", r.Root+"/services-available")
		}
		return nil
	}
	c := a.colors(cmd.OutOrStdout())
	tw := api.NewColumns(cmd.OutOrStdout())
	fmt.Fprintln(tw, "SERVICE\tPORT\tENABLED\tSTATUS\tPROCESS\tCOMMAND")
	for _, row := range rows {
		proc := row.Process
		if proc == "" {
			proc = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.Service, row.Port, yesNo(row.Enabled), c.status(row.State), proc, api.Truncate(row.Command, 50))
	}
	return tw.Flush()
}
