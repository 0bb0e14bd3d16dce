// Command tsm is the process manager's single binary: the CLI, and with
// `tsm daemon run` the supervisor daemon.
package main

import (
	"errors"
	"log/slog"
	"os"

	"github.com/tetra/tsm/internal/cli"
	"github.com/tetra/tsm/internal/daemon"
	"github.com/tetra/tsm/internal/execctx"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == execctx.TrampolineArg {
		// The daemon's child applying a captured context before it execs
		// the service: nothing else of tsm may run here.
		return execctx.Main(args[1:])
	}
	app := &cli.App{
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Getenv:  os.Getenv,
		Environ: os.Environ,
		Getwd:   os.Getwd,
		RunDaemon: func(root string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			err := daemon.Run(root, log)
			if errors.Is(err, daemon.ErrRunning) {
				// Another CLI started one at the same moment: it serves us.
				log.Info("another daemon already serves this directory; exiting")
				return nil
			}
			return err
		},
	}
	return app.Main(args)
}
