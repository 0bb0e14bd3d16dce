package proc

import (
	"bytes"
	"os"
	"strconv"
)

func lingering(port int) (int, error) {
	n, found := 0, false
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		found = true
		_, b, _ = bytes.Cut(b, []byte{'\n'}) // header
		for line := range bytes.Lines(b) {
			f := bytes.Fields(line)
			if len(f) < 10 || string(f[3]) == tcpListenHex || string(f[9]) != "0" {
				continue // listening, or owned by a process (inode != 0)
			}
			i := bytes.LastIndexByte(f[1], ':')
			if p, err := strconv.ParseUint(string(f[1][i+1:]), 16, 16); err == nil && int(p) == port {
				n++
			}
		}
	}
	if !found {
		return 0, os.ErrNotExist
	}
	return n, nil
}
