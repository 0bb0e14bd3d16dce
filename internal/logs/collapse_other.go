//go:build !linux

package logs

import (
	"errors"
	"os"
)

// collapse is not available: macOS has no way to take bytes off the head of
// a file, so rotation copies and truncates.
func collapse(*os.File, int64) error {
	return errors.ErrUnsupported
}
