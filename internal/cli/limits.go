package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize reads a memory size: a number of bytes, or one with a K, M or
// G suffix (powers of 1024; a trailing B or iB is allowed: 512MB, 1GiB).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("%q is not a size: use e.g. 512M, 1.5G, 800K or a number of bytes", s)
	}
	return int64(v * float64(mult)), nil
}
