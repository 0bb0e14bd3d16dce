package cli

import "testing"

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "1G": 1 << 30, "800k": 800 << 10, "1000": 1000, "64MB": 64 << 20} {
		if got, err := parseMemory(in); err != nil || got != want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1M", "0", "lots", "1T"} {
		if _, err := parseMemory(bad); err == nil {
			t.Errorf("parseMemory(%q) accepted", bad)
		}
	}
}

func TestDefinitionHealth(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"http://127.0.0.1:4444/health": "http://127.0.0.1:4444/health",
		"curl -s http://localhost:80/ >/dev/null": "exec:curl -s http://localhost:80/ >/dev/null",
	} {
		if got := definitionHealth(in); got != want {
			t.Errorf("definitionHealth(%q) = %q, want %q", in, got, want)
		}
	}
}
