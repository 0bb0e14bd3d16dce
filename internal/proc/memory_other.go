//go:build !linux

package proc

import (
	"errors"
	"fmt"
)

// SetMemory is unsupported without Linux cgroups.
func (c *Cgroups) SetMemory(path string, limit int64) error {
	return fmt.Errorf("cgroups: %w", errors.ErrUnsupported)
}
