package logs

import (
	"bytes"
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
	// A byte order mark (Windows editors write one) is no TOML, and
	// BurntSushi/toml, which read this file before, skipped it.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
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
		if k != "logs" {
			return c, fmt.Errorf("%s: unknown key %q (%s)", at(path, data, k), k, known)
		}
		logs, ok := v.(map[string]any)
		if !ok {
			return c, fmt.Errorf("%s: logs is %s, not a table; write it as [logs] followed by key = value lines (%s)", at(path, data, k), tomlType(v), known)
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
					err = fmt.Errorf("%v; it must be a whole number, such as keep = 5", v)
				case n < 0:
					err = fmt.Errorf("%d; it must be 0 or more", n)
				}
				c.Keep = int(n)
			default:
				return c, fmt.Errorf("%s: unknown key %q (%s)", at(path, data, k), "logs."+k, known)
			}
			if err != nil {
				return c, fmt.Errorf("%s: logs.%s is %w", at(path, data, k), k, err)
			}
		}
	}
	return c, nil
}

// size takes a byte count from a TOML string ("10M", see ParseSize) or
// integer (bytes). Its error follows "logs.max_size is ".
func size(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("%d, a negative size; write a number of bytes, or a string such as \"10M\" (\"0\": no limit)", x)
		}
		return x, nil
	case string:
		return ParseSize(x)
	}
	return 0, fmt.Errorf("%v; write a string such as \"10M\" or a number of bytes", v)
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

// at returns "path:line" for the line of data where key is first assigned
// or opens a table, path alone if none is found: go-toml reports no
// position for a value its syntax allows, and a message without a line
// sends the user through the whole file.
func at(path string, data []byte, key string) string {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		rest := strings.TrimLeft(line, "[")
		if rest == line { // an assignment: key = ..., logs.key = ..., { key = ... }
			if j := strings.Index(line, key); j >= 0 && (j == 0 || strings.ContainsRune(". {,", rune(line[j-1]))) {
				if after := strings.TrimSpace(line[j+len(key):]); strings.HasPrefix(after, "=") || strings.HasPrefix(after, ".") {
					return fmt.Sprintf("%s:%d", path, i+1)
				}
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(rest), key) {
			return fmt.Sprintf("%s:%d", path, i+1)
		}
	}
	return path
}

// tomlType names the kind of a decoded TOML value for a message.
func tomlType(v any) string {
	switch v.(type) {
	case []any, []map[string]any:
		return "an array ([[logs]] or logs = [...])"
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "a date or time"
}
