package proc

import (
	"bytes"
	"os"
	"strings"
)

func findCarriers(prefix string, keys []string) ([]Carrier, error) {
	self := os.Getpid()
	euid := uint32(os.Geteuid())
	var missed error
	var env []byte
	var out []Carrier
	p := []byte(prefix)
	err := scanProcs(euid != 0, &missed, func(e procEntry) {
		if e.kernel || e.PID <= 1 || e.PID == self || (euid != 0 && e.uid != euid) {
			return
		}
		b, err := readProcFile(procPath(e.PID, "environ"), env)
		if err != nil {
			noteMissed(&missed, e.PID, err)
			return
		}
		env = b
		found := false
		vals := map[string]string{}
		for entry := range envEntries(b) {
			found = found || bytes.HasPrefix(entry, p)
			k, v, _ := strings.Cut(string(entry), "=")
			for _, want := range keys {
				if k == want {
					vals[k] = v
				}
			}
		}
		if found {
			out = append(out, Carrier{Member: e.Member, Env: vals})
		}
	})
	if err != nil {
		return nil, err
	}
	return out, missed
}
