package proc

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// Executable is the program pid runs now (after every exec, so a pre-hook's
// bash shows as what it exec'd), or "" when it cannot be read. On macOS
// kern.procargs2 starts with argc (4 bytes) and then the executable's path.
func Executable(pid int) string {
	b, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil || len(b) < 5 {
		return ""
	}
	path, _, _ := bytes.Cut(b[4:], []byte{0})
	return string(path)
}
