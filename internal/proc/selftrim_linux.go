package proc

import (
	"bufio"
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// DropCodePages takes the pages of this program's code and read-only data
// (the executable's mappings that are not writable) out of the calling
// process's page tables, and returns how many bytes were mapped. They stay
// in the page cache, shared with every other process of the program, and
// come back on the next use; what a long-lived daemon never runs again
// (package initialisation, the command-line code, start-up) then no longer
// counts as its resident memory. Writable mappings are never touched:
// dropping them would lose their contents.
func DropCodePages() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	dropped := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-0088f000 r-xp 00000000 fd:00 1234   /path/to/tsm
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 || string(fields[5]) != exe || len(fields[1]) < 2 || fields[1][1] != '-' {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
		if errno != 0 {
			return dropped, errno
		}
		dropped += int(end - start)
	}
	return dropped, sc.Err()
}
