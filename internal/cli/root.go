// Package cli is tsm's command line: the cobra command tree, output (tables,
// --json), and the mapping of failures to exit codes. It talks to the daemon
// only through client and never imports daemon, supervisor, proc or store.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/client"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/prefetch"
	"github.com/tetra/tsm/internal/release"
)

// Exit codes (DESIGN.md).
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 64
	ExitBadData     = 65
	ExitMissingFile = 66
)

// App is what every command needs: streams, the caller's world, the
// daemon's state directory and a way to run the daemon in-process.
type App struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Environ        func() []string
	Getwd          func() (string, error)
	// RunDaemon serves the state directory in this process (`tsm daemon
	// run`); main passes daemon.Run so that cli never imports daemon.
	RunDaemon func(root string) error

	root   string
	client *client.Client
}

// exitError carries an exit code chosen by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// quiet marks a failure whose message the command already printed.
type quiet struct{ code int }

func (q quiet) Error() string { return fmt.Sprintf("exit %d", q.code) }

// Main runs the CLI and returns the process exit code.
func (a *App) Main(args []string) int {
	var err error
	if l, ok := listFast(args); ok {
		if err = a.init(); err == nil {
			err = a.list(context.Background(), a.Stdout, a.Stderr, l)
		}
	} else {
		root := a.newRootCmd()
		root.SetArgs(args)
		root.SetOut(a.Stdout)
		root.SetErr(a.Stderr)
		err = root.ExecuteContext(context.Background())
	}
	a.warnOldDaemon()
	if err == nil {
		return ExitOK
	}
	var q quiet
	if errors.As(err, &q) {
		return q.code
	}
	code := exitCode(err)
	fmt.Fprintf(a.Stderr, "tsm: %s\n", err)
	var ae *client.APIError
	if errors.As(err, &ae) {
		for _, d := range ae.Body.Detail {
			fmt.Fprintf(a.Stderr, "  | %s\n", d)
		}
	}
	return code
}

// listFast recognises the plain forms of `tsm list` (prefetch.ParseList:
// list or ls, with --json, --all or -a, and running or all), which Main
// runs without building the cobra command tree: building the tree of 26
// commands and their flags, and cobra's parsing, were 6% of the CPU of a
// `tsm list` of 100 processes. Package prefetch has already sent their
// request to the daemon. Anything else (--help, available, a flag written
// another way) goes through cobra, which runs the same list.
func listFast(args []string) (listArgs, bool) {
	l, ok := prefetch.ParseList(args)
	return listArgs{filter: l.Filter, json: l.JSON, all: l.All}, ok
}

// warnOldDaemon says so when the daemon that answered is another release
// than this CLI: after an upgrade the old daemon keeps supervising until it
// is told to hand over.
func (a *App) warnOldDaemon() {
	if a.client == nil || a.client.DaemonBuild == "" || a.client.DaemonBuild == release.Build {
		return
	}
	fmt.Fprintf(a.Stderr, "tsm: note: the running daemon is tsm %s and this is tsm %s; run `tsm daemon stop` to switch (services keep running)\n",
		a.client.DaemonBuild, release.Build)
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch ae.Body.Code {
		case api.CodeUsage:
			return ExitUsage
		case api.CodeBadData:
			return ExitBadData
		case api.CodeMissingFile:
			return ExitMissingFile
		}
		return ExitFailure
	}
	if isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isCobraUsage recognises cobra's own argument errors, which it does not
// type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "bad flag syntax"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (a *App) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tsm",
		Short: "tsm starts any command in the background, keeps it alive, and lets you list, inspect, log, stop and restart it",
		Long: `tsm is a process manager: one binary that starts any command (a Python server,
a Node.js app, a script, a binary) in the background, keeps it alive, and lets
you list, inspect, follow the logs of, stop and restart it by ID or name.

Targets: a TSM ID (0, 1, ...), an exact name, or a unique part of a name.
State lives in $TSM_DIR, else $TETRA_DIR/tsm, else ~/tetra/tsm.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Name() == "version" {
				return nil // needs no state directory, so works whatever it is
			}
			return a.init()
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see `%s --help`)", err, c.CommandPath())
	})
	root.AddCommand(
		a.newStartCmd(),
		a.newStopCmd(),
		a.newKillCmd(),
		a.newRestartCmd(),
		a.newDeleteCmd(),
		a.newSignalCmd(),
		a.newReloadCmd(),
		a.newPortsCmd(),
		a.newDoctorCmd(),
		a.newListCmd(),
		a.newInfoCmd(),
		a.newLogsCmd(),
		a.newFlushCmd(),
		a.newEventsCmd(),
		a.newDaemonCmd(),
		a.newVersionCmd(),
		a.newDescribeCmd(),
		a.newSaveCmd(),
		a.newEnableCmd(true),
		a.newEnableCmd(false),
		a.newStartupCmd(),
		a.newPatrolCmd(),
		a.newStackCmd(),
		a.newImportCmd(),
		a.newBuildCmd(),
		a.newPromoteCmd(),
	)
	return root
}

// completeTargets offers the names of managed processes for shell
// completion of a target argument. It never starts a daemon: completion
// must be instant, and silent when nothing runs.
func (a *App) completeTargets(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if a.client == nil || !a.client.Running(cmd.Context()) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	resp, err := a.client.List(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(resp.Processes))
	for _, p := range resp.Processes {
		names = append(names, p.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// init finds the state directory once per invocation.
func (a *App) init() error {
	root, err := paths.Root(a.Getenv)
	if err != nil {
		return err
	}
	a.root = root
	a.client = client.New(root)
	return nil
}
