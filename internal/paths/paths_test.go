package paths

import "testing"

func TestRoot(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TSM_DIR": "/x/tsm", "TETRA_DIR": "/t", "HOME": "/h"}, "/x/tsm"},
		{map[string]string{"TETRA_DIR": "/t", "HOME": "/h"}, "/t/tsm"},
		{map[string]string{"HOME": "/h"}, "/h/tetra/tsm"},
	}
	for _, tt := range tests {
		got, err := Root(func(k string) string { return tt.env[k] })
		if err != nil || got != tt.want {
			t.Errorf("Root(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}
