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
	os.WriteFile(path, []byte("[logs]\nmax_size = \"1M\"\nkeep = 2\ntotal_max_size = 4096\n"), 0o600)
	c, err := LoadConfig(path)
	if err != nil || c.MaxSize != 1<<20 || c.Keep != 2 || c.TotalMaxSize != 4096 {
		t.Fatalf("got %+v, %v", c, err)
	}
	for body, want := range map[string]string{
		"[logs]\nmax_sise = 1\n":     "unknown key",
		"[logs]\nkeep = -1\n":        "0 or more",
		"[logs]\nmax_size = \"x\"\n": "unknown unit",
		"[logs\n":                    "config.toml:1:",
		"[other]\nx = 1\n":           `unknown key "other"`,
		"logs = 3\n":                 `unknown key "logs"`,
		"[logs]\nkeep = \"3\"\n":     "whole number",
		"[logs]\nmax_size = true\n":  "want a string",
	} {
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v; want it to mention %q", body, err, want)
		}
	}
}
