package main

import "golang.org/x/sys/unix"

// growPipe makes the pipe on fd as large as allowed (1 MiB), so that the
// follower seldom waits for room.
func growPipe(fd int) { unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, 1<<20) }
