// Package paths knows where tsm keeps its state. The CLI, the
// client and the store all ask it; of tsm it imports only prefetch (the
// daemon environment rule, which the CLI's init needs without paths).
package paths

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tetra/tsm/internal/prefetch"
)

// Root returns the state directory: $TSM_DIR, else $TETRA_DIR/tsm, else
// ~/tetra/tsm (the bash TSM's locations, so existing state is found).
func Root(getenv func(string) string) (string, error) {
	// A relative directory would name another state directory (and
	// daemon) in every working directory: refused, not resolved.
	for _, v := range []string{"TSM_DIR", "TETRA_DIR"} {
		if d := getenv(v); d != "" && !filepath.IsAbs(d) {
			return "", fmt.Errorf("%s=%s is a relative path, which would mean another state directory in every directory you run tsm from; set it to an absolute path, e.g. export %s=\"$PWD/%s\"", v, d, v, d)
		}
	}
	if d := getenv("TSM_DIR"); d != "" {
		return filepath.Clean(d), nil
	}
	if d := getenv("TETRA_DIR"); d != "" {
		return filepath.Join(d, "tsm"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("cannot find the state directory: set TSM_DIR or HOME")
		}
		home = h
	}
	if !filepath.IsAbs(home) {
		return "", fmt.Errorf("HOME=%s is a relative path, so ~/tetra/tsm would be another state directory in every directory you run tsm from; set HOME to an absolute path, or TSM_DIR to the state directory (e.g. export TSM_DIR=/home/you/tetra/tsm)", home)
	}
	return filepath.Join(home, "tetra", "tsm"), nil
}

// The files of the state directory root. Every name lives here so that the
// daemon that creates a file and the CLI that looks for it cannot disagree.

// Socket is the Unix socket the daemon serves its API on.
func Socket(root string) string { return filepath.Join(root, "tsm.sock") }

// DaemonLog receives the stdout and stderr of a daemon the CLI started.
func DaemonLog(root string) string { return filepath.Join(root, "daemon.log") }

// DaemonPID holds the PID of the running daemon, removed when it exits.
func DaemonPID(root string) string { return filepath.Join(root, "daemon.pid") }

// Lock is the file the daemon holds an exclusive flock on, so that one
// daemon at most serves root.
func Lock(root string) string { return filepath.Join(root, "daemon.lock") }

// Events is the daemon's lifecycle log, one JSON object a line.
func Events(root string) string { return filepath.Join(root, "events.jsonl") }

// Ports is the bash TSM's port registry.
func Ports(root string) string { return filepath.Join(root, "ports") }

// Processes holds one directory per managed process.
func Processes(root string) string { return filepath.Join(root, "runtime", "processes") }

// Stops is the journal of stops whose settled records are not yet known
// to be durable (see store.AppendStops).
func Stops(root string) string { return filepath.Join(root, "runtime", "stops.jsonl") }

// Config is the optional settings file of the state directory (TOML).
func Config(root string) string { return filepath.Join(root, "config.toml") }

// ServicesAvailable holds service definitions (<name>.tsm), as in the bash
// TSM; orgs keep theirs in $TETRA_DIR/orgs/<org>/tsm/services-available.
func ServicesAvailable(root string) string { return filepath.Join(root, "services-available") }

// ServicesEnabled holds one link per enabled definition, to its file.
func ServicesEnabled(root string) string { return filepath.Join(root, "services-enabled") }

// Stacks holds <name>.stack files, one service per line.
func Stacks(root string) string { return filepath.Join(root, "stacks") }

// ServicesLock is flocked by `tsm startup` and `tsm patrol` for a whole
// pass, so that two passes at once cannot both start the same service.
func ServicesLock(root string) string { return filepath.Join(root, "services.lock") }

// ServicesStarted holds, per process started from a definition, the
// definition as it was then (<process>.json), so that a restart that
// re-reads the file can say what changed.
func ServicesStarted(root string) string { return filepath.Join(root, "services-started") }

// DaemonEnv is the environment a daemon starts with, taken from environ
// (the environment of whichever command started it): only what locates
// the user and their programs, never tokens or passwords. Each process's
// own environment is the one its `tsm start` sent, kept in its launch
// record; a daemon holding the first caller's secrets for weeks would leak
// them to every process it ever rebuilds a launch for.
func DaemonEnv(environ []string, root string) []string {
	return prefetch.DaemonEnv(environ, root) // which the CLI's init uses too
}
