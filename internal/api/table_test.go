package api

import (
	"fmt"
	"testing"
)

// HumanBytes renders as the fmt verbs it replaced did (%dK, %.1fM, %.1fG).
func TestHumanBytes(t *testing.T) {
	for _, n := range []uint64{1, 1023, 1024, 812 << 10, 1<<20 - 1, 1 << 20, 14_900_000, 1<<30 - 1, 1 << 30, 3 << 40} {
		want := fmt.Sprintf("%dK", n>>10)
		switch {
		case n >= 1<<30:
			want = fmt.Sprintf("%.1fG", float64(n)/(1<<30))
		case n >= 1<<20:
			want = fmt.Sprintf("%.1fM", float64(n)/(1<<20))
		}
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := HumanBytes(0); got != "-" {
		t.Errorf("HumanBytes(0) = %q, want -", got)
	}
}
