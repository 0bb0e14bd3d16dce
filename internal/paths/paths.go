// Package paths knows where tsm keeps its state. It is a leaf: the CLI and
// the store both ask it, and it imports no other tsm package.
package paths

import (
	"errors"
	"os"
	"path/filepath"
)

// Root returns the state directory: $TSM_DIR, else $TETRA_DIR/tsm, else
// ~/tetra/tsm (the bash TSM's locations, so existing state is found).
func Root(getenv func(string) string) (string, error) {
	if d := getenv("TSM_DIR"); d != "" {
		return filepath.Abs(d)
	}
	if d := getenv("TETRA_DIR"); d != "" {
		return filepath.Abs(filepath.Join(d, "tsm"))
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("cannot find the state directory: set TSM_DIR or HOME")
		}
		home = h
	}
	return filepath.Join(home, "tetra", "tsm"), nil
}
