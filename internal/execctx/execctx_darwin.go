package execctx

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// resources is every limit macOS has, by ulimit's names.
var resources = []resource{
	{"as", unix.RLIMIT_AS}, {"core", unix.RLIMIT_CORE}, {"cpu", unix.RLIMIT_CPU},
	{"data", unix.RLIMIT_DATA}, {"fsize", unix.RLIMIT_FSIZE}, {"memlock", unix.RLIMIT_MEMLOCK},
	{"nofile", unix.RLIMIT_NOFILE}, {"nproc", unix.RLIMIT_NPROC}, {"stack", unix.RLIMIT_STACK},
}

// umask has no read-only form on macOS: set and restore at once.
func umask() (int, bool) {
	m := syscall.Umask(0o22)
	syscall.Umask(m)
	return m, true
}

func nice() (int, bool) {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	return p, err == nil
}

func setNice(n int) error { return syscall.Setpriority(syscall.PRIO_PROCESS, 0, n) }

func oomScoreAdj() (int, bool) { return 0, false }

func setOOMScoreAdj(int) error { return nil }
