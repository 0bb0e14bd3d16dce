package target

import (
	"errors"
	"testing"
)

func TestResolve(t *testing.T) {
	cands := []Candidate{
		{0, "devpages-3000"},
		{1, "test-server-3001"},
		{2, "test-client-3002"},
		{3, "api"},
		{4, "api-v2"},
		{12, "Worker"},
		{20, "cafe\u0301-menu"}, // decomposed, as macOS file names are
		{21, "\u212Aelvin"},     // the Kelvin sign, whose NFC is K
	}
	tests := []struct {
		target    string
		want      int // ID, or -1 for not found, -2 for ambiguous
		ambiguous int // number of candidates listed
	}{
		{"0", 0, 0},
		{"12", 12, 0},
		{"devpages-3000", 0, 0},
		{"dev", 0, 0},
		{"3001", 1, 0}, // not an ID: falls through to the name
		{"api", 3, 0},  // exact name beats the substring match of api-v2
		{"v2", 4, 0},
		{"test", -2, 2},
		{"300", -2, 3},
		{"worker", 12, 0},    // case-insensitive fallback
		{"caf\u00e9", 20, 0}, // typed composed: canonically the same
		{"CAF\u00c9-MENU", 20, 0},
		{"kelvin", 21, 0},
		{"nope", -1, 0},
		{"", -1, 0},
		{"99", -1, 0},
	}
	for _, tt := range tests {
		got, err := Resolve(cands, tt.target)
		var nf *NotFoundError
		var amb *AmbiguousError
		switch {
		case tt.want == -1:
			if !errors.As(err, &nf) {
				t.Errorf("Resolve(%q) = %v, %v; want not found", tt.target, got, err)
			}
		case tt.want == -2:
			if !errors.As(err, &amb) || len(amb.Matches) != tt.ambiguous {
				t.Errorf("Resolve(%q) = %v, %v; want ambiguous with %d candidates", tt.target, got, err, tt.ambiguous)
			}
		case err != nil || got.ID != tt.want:
			t.Errorf("Resolve(%q) = %v, %v; want ID %d", tt.target, got, err, tt.want)
		}
	}
}
