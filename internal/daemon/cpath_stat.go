//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || ppc64 || s390x || loong64 || mips64 || mips64le)

package daemon

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// stat is unix.Stat (follow true) or unix.Lstat of c, without the copy of
// its path: newfstatat(2) as those call it, given c's own NUL-terminated
// bytes.
func stat(c cpath, st *unix.Stat_t, follow bool) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	cwd := unix.AT_FDCWD // a negative constant: no uintptr(unix.AT_FDCWD)
	_, _, errno := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(cwd), uintptr(unsafe.Pointer(unsafe.StringData(c.s))),
		uintptr(unsafe.Pointer(st)), uintptr(flags), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
