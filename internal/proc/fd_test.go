package proc

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A descriptor inherited without close-on-exec is closed; Go's own are
// left alone.
func TestCloseInherited(t *testing.T) {
	if os.Getenv("TSM_TEST_CLOSE_INHERITED") == "1" {
		CloseInherited()
		_, errInherited := os.Stat("/dev/fd/3")
		own, err := os.CreateTemp("", "own")
		if err != nil {
			os.Exit(3)
		}
		defer os.Remove(own.Name())
		if errInherited == nil {
			os.Stdout.WriteString("inherited still open\n")
		}
		os.Stdout.WriteString("done\n")
		os.Exit(0)
	}
	f, err := os.CreateTemp(t.TempDir(), "lock")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCloseInherited$")
	cmd.Env = append(os.Environ(), "TSM_TEST_CLOSE_INHERITED=1")
	cmd.ExtraFiles = []*os.File{f} // fd 3 in the child, without close-on-exec
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.Contains(string(out), "inherited still open") || !strings.Contains(string(out), "done") {
		t.Errorf("child said %q", out)
	}
}
