//go:build !linux

package store

import (
	"errors"
	"io/fs"
	"os"
)

// writeSwap is Linux's (renameat2 with RENAME_EXCHANGE); elsewhere writes
// go through a temporary file.
func writeSwap(string, []byte, fs.FileMode, bool) error { return errors.ErrUnsupported }

// removeOwned removes path (Linux keeps its inode as the spare); a missing
// path is not an error.
func removeOwned(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
