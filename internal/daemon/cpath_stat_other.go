//go:build !(linux && (amd64 || arm64 || riscv64 || ppc64le || ppc64 || s390x || loong64 || mips64 || mips64le))

package daemon

import "golang.org/x/sys/unix"

// stat is unix.Stat (follow true) or unix.Lstat of c.
func stat(c cpath, st *unix.Stat_t, follow bool) error {
	if follow {
		return unix.Stat(c.s, st)
	}
	return unix.Lstat(c.s, st)
}
