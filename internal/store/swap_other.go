//go:build !linux

package store

import (
	"errors"
	"io/fs"
)

// writeSwap is Linux's (renameat2 with RENAME_EXCHANGE); elsewhere writes
// go through a temporary file.
func writeSwap(string, []byte, fs.FileMode, bool) error { return errors.ErrUnsupported }
