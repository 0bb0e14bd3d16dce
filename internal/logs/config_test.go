package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "500": 500, "64k": 64 << 10, "10M": 10 << 20, "10MiB": 10 << 20, "1G": 1 << 30, "2 MB": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "10Q", "-1", "1.5M"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded; want an error", in)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if c, err := LoadConfig(path); err != nil || c != DefaultConfig() {
		t.Fatalf("missing file: %+v, %v; want defaults", c, err)
	}
	// A byte order mark and CRLF line ends (a Windows editor's file) are
	// read as BurntSushi/toml read them (red team: go-toml refused the mark).
	for _, body := range []string{"[logs]\nmax_size = \"1M\"\nkeep = 2\ntotal_max_size = 4096\n", "\uFEFF[logs]\r\nmax_size = \"1M\"\r\nkeep = 2\r\ntotal_max_size = 4096\r\n"} {
		os.WriteFile(path, []byte(body), 0o600)
		c, err := LoadConfig(path)
		if err != nil || c.MaxSize != 1<<20 || c.Keep != 2 || c.TotalMaxSize != 4096 {
			t.Fatalf("%q: got %+v, %v", body, c, err)
		}
	}
	for body, want := range map[string]string{
		"[logs]\nmax_sise = 1\n":     "unknown key",
		"[logs]\nkeep = -1\n":        "0 or more",
		"[logs]\nmax_size = \"x\"\n": "unknown unit",
		"[logs\n":                    "config.toml:1:",
		"[other]\nx = 1\n":           `unknown key "other"`,
		"logs = 3\n":                 `logs is a number, not a table`,
		"[logs]\nkeep = \"3\"\n":     "whole number",
		"[logs]\nmax_size = true\n":  "write a string",
		// Named by file, line and key, with the fix (red team: go-toml
		// gave no line, and the size errors no key).
		"[logs]\nkeep = 1\nmax_size = -5\n":                 "config.toml:3: logs.max_size is -5, a negative size; write a number of bytes",
		"[logs]\nkeep = 2\n\ntotal_max_size = 1979-05-27\n": "config.toml:4: logs.total_max_size is 1979-05-27; write a string",
		"logs.keep = 1.5\n":                                 "config.toml:1: logs.keep is 1.5; it must be a whole number",
		"[[logs]]\nkeep = 3\n":                              "config.toml:1: logs is an array ([[logs]] or logs = [...]), not a table; write it as [logs]",
		"# limits\nlogs = \"10M\"\n":                        "config.toml:2: logs is a string, not a table",
		"[logs]\nkeep = 3\nkeep = 4\n":                      "config.toml:3:",
	} {
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v; want it to mention %q", body, err, want)
		}
	}
}
