package execctx

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// resources is every limit Linux has, by ulimit's names.
var resources = []resource{
	{"as", unix.RLIMIT_AS}, {"core", unix.RLIMIT_CORE}, {"cpu", unix.RLIMIT_CPU},
	{"data", unix.RLIMIT_DATA}, {"fsize", unix.RLIMIT_FSIZE}, {"locks", unix.RLIMIT_LOCKS},
	{"memlock", unix.RLIMIT_MEMLOCK}, {"msgqueue", unix.RLIMIT_MSGQUEUE}, {"nice", unix.RLIMIT_NICE},
	{"nofile", unix.RLIMIT_NOFILE}, {"nproc", unix.RLIMIT_NPROC}, {"rss", unix.RLIMIT_RSS},
	{"rtprio", unix.RLIMIT_RTPRIO}, {"rttime", unix.RLIMIT_RTTIME}, {"sigpending", unix.RLIMIT_SIGPENDING},
	{"stack", unix.RLIMIT_STACK},
}

// umask reads /proc/self/status, which (unlike umask(2)) does not have to
// change the mask to read it, so no file another goroutine creates meanwhile
// gets the wrong mode.
func umask() (int, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 32)
			return int(n), err == nil
		}
	}
	return 0, false
}

// nice: the raw getpriority system call returns 20 - nice on Linux.
func nice() (int, bool) {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	return 20 - p, err == nil
}

func setNice(n int) error { return syscall.Setpriority(syscall.PRIO_PROCESS, 0, n) }

func oomScoreAdj() (int, bool) {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

func setOOMScoreAdj(n int) error {
	if cur, ok := oomScoreAdj(); ok && cur == n {
		return nil // lowering needs privilege; an unchanged value must not fail
	}
	return os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(n)), 0)
}
