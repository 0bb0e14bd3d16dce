package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SetMemory makes the kernel hold a run's cgroup to limit bytes:
// memory.high at the limit (above it the kernel reclaims and throttles)
// and memory.max a quarter above it (the hard stop, an OOM kill), so that
// tsm's own graceful restart at the limit normally comes first. It needs
// the memory controller delegated to tsm's subtree; it enables it below
// the subtree root when the parent offers it. Without it the error wraps
// errors.ErrUnsupported.
func (c *Cgroups) SetMemory(path string, limit int64) error {
	if c == nil || path == "" {
		return fmt.Errorf("no cgroup: %w", errors.ErrUnsupported)
	}
	if _, err := c.inside(path); err != nil {
		return err
	}
	high := filepath.Join(path, "memory.high")
	if _, err := os.Stat(high); errors.Is(err, fs.ErrNotExist) {
		// Offer the controller to the runs' cgroups, if ours has it.
		ctl, _ := os.ReadFile(filepath.Join(c.base, "cgroup.controllers"))
		if !strings.Contains(" "+strings.TrimSpace(string(ctl))+" ", " memory ") {
			return fmt.Errorf("the memory controller is not delegated to %s: %w", c.base, errors.ErrUnsupported)
		}
		if err := writeCgroupFile(filepath.Join(c.base, "cgroup.subtree_control"), "+memory"); err != nil {
			return fmt.Errorf("enable the memory controller: %w", err)
		}
	}
	if err := writeCgroupFile(high, strconv.FormatInt(limit, 10)); err != nil {
		return err
	}
	return writeCgroupFile(filepath.Join(path, "memory.max"), strconv.FormatInt(limit+limit/4, 10))
}
