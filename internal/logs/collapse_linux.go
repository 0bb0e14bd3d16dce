package logs

import (
	"os"

	"golang.org/x/sys/unix"
)

// collapse removes the first n bytes of f, shifting the rest down, in one
// step the kernel serialises with the writer's appends. ext4 and xfs do it;
// tmpfs, btrfs, NFS and others answer EOPNOTSUPP.
func collapse(f *os.File, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_COLLAPSE_RANGE, 0, n)
}
