package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// DefaultTotalMaxSize caps all rotated files of a state directory together.
const DefaultTotalMaxSize = 1 << 30

// Config is the [logs] table of the state directory's config.toml:
//
//	[logs]
//	max_size = "10MiB"        # a stream's live file is rotated above this; "0": never
//	keep = 5                  # rotated files kept per stream
//	total_max_size = "1GiB"   # all rotated files of the state directory; oldest go first
type Config struct {
	Policy
	// TotalMaxSize bounds the bytes of all rotated files together; 0 or
	// less: no bound.
	TotalMaxSize int64
}

// DefaultConfig is the configuration without a config file.
func DefaultConfig() Config {
	return Config{Policy: Policy{MaxSize: DefaultMaxSize, Keep: DefaultKeep}, TotalMaxSize: DefaultTotalMaxSize}
}

// LoadConfig reads the [logs] table of the TOML file at path over the
// defaults. A missing file is the defaults; an unknown key, a bad size or a
// negative count is an error that names the file and the key.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return c, fmt.Errorf("%s:%d: %s", path, row, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return c, fmt.Errorf("%s: %w", path, err)
	}
	const known = "known: logs.max_size, logs.keep, logs.total_max_size"
	for k, v := range doc {
		logs, ok := v.(map[string]any)
		if k != "logs" || !ok {
			return c, fmt.Errorf("%s: unknown key %q (%s)", path, k, known)
		}
		for k, v := range logs {
			var err error
			switch k {
			case "max_size":
				c.MaxSize, err = size(v)
			case "total_max_size":
				c.TotalMaxSize, err = size(v)
			case "keep":
				n, ok := v.(int64)
				switch {
				case !ok:
					err = fmt.Errorf("logs.keep is %v; it must be a whole number", v)
				case n < 0:
					err = fmt.Errorf("logs.keep is %d; it must be 0 or more", n)
				}
				c.Keep = int(n)
			default:
				err = fmt.Errorf("unknown key %q (%s)", "logs."+k, known)
			}
			if err != nil {
				return c, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	return c, nil
}

// size takes a byte count from a TOML string ("10M", see ParseSize) or
// integer (bytes).
func size(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("size %d is negative", x)
		}
		return x, nil
	case string:
		return ParseSize(x)
	}
	return 0, fmt.Errorf("size %v: want a string such as \"10M\" or a number of bytes", v)
}

// ParseSize parses a byte count written as a number with an optional unit:
// 500, 64k, 10M, 10MiB, 1G (k, M, G are powers of 1024, as in logrotate
// and PM2).
func ParseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	mult := int64(1)
	switch strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i") {
	case "":
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (use a number of bytes, or k, M, G: 10M, 64k)", v, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is not a number of bytes (examples: 10M, 64k, 1G, 0)", v)
	}
	return n * mult, nil
}
