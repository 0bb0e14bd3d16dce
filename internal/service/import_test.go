package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImport converts real-shaped files of each tool and compares the
// definitions (and what could not be carried over) with golden files;
// every definition must read back with Parse.
func TestImport(t *testing.T) {
	for _, tt := range []struct {
		file string
		conv func([]byte, string) (*Import, error)
	}{
		{"ecosystem.config.json", ImportPM2},
		{"Procfile", ImportProcfile},
		{"process-compose.yaml", ImportCompose},
	} {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "import", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if FormatOf(tt.file) == "" {
				t.Errorf("FormatOf(%q) is empty", tt.file)
			}
			im, err := tt.conv(data, "/srv/app")
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, s := range im.Services {
				text := s.Text("imported from " + tt.file)
				if _, err := Parse("/srv/"+s.Name+".tsm", "/", text, nil); err != nil {
					t.Errorf("%s does not read back: %v\n%s", s.Name, err, text)
				}
				fmt.Fprintf(&b, "==> %s.tsm\n%s", s.Name, text)
				for _, n := range s.Skipped {
					fmt.Fprintf(&b, "skipped: %s\n", n)
				}
			}
			for _, n := range im.Skipped {
				fmt.Fprintf(&b, "file skipped: %s\n", n)
			}
			golden(t, filepath.Join("import", tt.file+".golden"), b.String())
		})
	}
}

func TestImportErrors(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		conv      func([]byte, string) (*Import, error)
		want      string
	}{
		{"pm2 not json", "module.exports = {}", ImportPM2, "not a PM2 ecosystem file"},
		{"pm2 no script", `{"apps":[{"name":"x"}]}`, ImportPM2, `no "script"`},
		{"pm2 no apps", `{"apps":[]}`, ImportPM2, "no apps"},
		{"procfile bad line", "web bundle exec puma\n", ImportProcfile, "line 1"},
		{"compose bad yaml", "processes:\n  a:\n    command: [\n", ImportCompose, "["},
		{"compose no command", "processes:\n  a:\n    working_dir: x\n", ImportCompose, "has no command"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.conv([]byte(tt.src), "/srv")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
