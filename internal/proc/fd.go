package proc

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseInherited closes every descriptor above stderr that the calling
// process inherited: the ones without close-on-exec (everything Go opens
// has it). A daemon started from a shell would otherwise hold whatever the
// shell had open — a lock (`exec 7>lock; flock 7`), the write end of a
// pipe the shell waits on (`tsm ls 3>&1 | cat`) — for as long as it runs,
// and pass it to every service it spawns. Call it first thing.
func CloseInherited() {
	entries, err := os.ReadDir("/dev/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}
