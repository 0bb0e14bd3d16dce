//go:build !linux

package proc

import (
	"errors"
	"fmt"
	"runtime"
)

// Cgroups places each service in a cgroup v2 of its own on Linux. Elsewhere
// there are no cgroups: OpenCgroups always fails, and every method is a
// no-op on the nil *Cgroups that callers then hold.
type Cgroups struct{}

// OpenCgroups reports that cgroups are not available on this system.
func OpenCgroups(tag string) (*Cgroups, error) {
	return nil, fmt.Errorf("cgroups: not on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Path returns "".
func (c *Cgroups) Path(service string) string { return "" }

// Prepare returns -1, "", nil: spawn without a cgroup.
func (c *Cgroups) Prepare(service string) (fd int, path string, err error) {
	return -1, "", nil
}

// Members returns nil, nil.
func (c *Cgroups) Members(path string) ([]int, error) { return nil, nil }

// Populated returns false, nil.
func (c *Cgroups) Populated(path string) (bool, error) { return false, nil }

// Kill does nothing.
func (c *Cgroups) Kill(path string) error { return nil }

// Remove does nothing.
func (c *Cgroups) Remove(path string) error { return nil }

// Release does nothing.
func (c *Cgroups) Release() {}
