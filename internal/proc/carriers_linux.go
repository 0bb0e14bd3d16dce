package proc

import (
	"bytes"
	"strings"
)

func findCarriers(prefix string, keys []string) ([]Carrier, error) {
	var out []Carrier
	p := []byte(prefix)
	missed, err := scanEnvirons(func(e procEntry, env []byte) {
		found := false
		vals := map[string]string{}
		for entry := range envEntries(env) {
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
