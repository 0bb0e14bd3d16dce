package proc

import (
	"os"
	"strconv"
)

// Executable is the program pid runs now (after every exec, so a pre-hook's
// bash shows as what it exec'd), or "" when it cannot be read.
func Executable(pid int) string {
	path, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return ""
	}
	return path
}
