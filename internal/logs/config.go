package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
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
	var raw struct {
		Logs struct {
			MaxSize      *Size `toml:"max_size"`
			Keep         *int  `toml:"keep"`
			TotalMaxSize *Size `toml:"total_max_size"`
		} `toml:"logs"`
	}
	md, err := toml.DecodeFile(path, &raw)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		return c, fmt.Errorf("%s: unknown key %q (known: logs.max_size, logs.keep, logs.total_max_size)", path, keys[0].String())
	}
	if r := raw.Logs; r.MaxSize != nil {
		c.MaxSize = int64(*r.MaxSize)
	}
	if r := raw.Logs; r.Keep != nil {
		if *r.Keep < 0 {
			return c, fmt.Errorf("%s: logs.keep is %d; it must be 0 or more", path, *r.Keep)
		}
		c.Keep = *r.Keep
	}
	if r := raw.Logs; r.TotalMaxSize != nil {
		c.TotalMaxSize = int64(*r.TotalMaxSize)
	}
	return c, nil
}

// Size is a byte count written as a number with an optional unit: 500, 64k,
// 10M, 10MiB, 1G (k, M, G are powers of 1024, as in logrotate and PM2).
type Size int64

// UnmarshalTOML takes a Size from a TOML string ("10M") or integer (bytes).
func (s *Size) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("size %d is negative", x)
		}
		*s = Size(x)
		return nil
	case string:
		n, err := ParseSize(x)
		*s = Size(n)
		return err
	}
	return fmt.Errorf("size %v: want a string such as \"10M\" or a number of bytes", v)
}

// ParseSize parses a Size (see Size).
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
