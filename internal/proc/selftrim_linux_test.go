package proc

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// written lives in the executable's writable data, which DropCodePages
// must leave alone: dropping it would reset it to its initial value.
var written = []string{"initial"}

func TestDropCodePages(t *testing.T) {
	written[0] = "changed"
	before := rssFile(t)
	n, err := DropCodePages()
	if err != nil || n <= 0 {
		t.Fatalf("DropCodePages = %d, %v; want the code mapping dropped", n, err)
	}
	after := rssFile(t)
	if written[0] != "changed" {
		t.Errorf("writable data lost: %q", written[0])
	}
	// The test binary's code runs on (this line is proof) and the file
	// pages it needs come back; far fewer than before stay mapped.
	if after >= before {
		t.Errorf("RssFile %d kB before, %d kB after; want fewer", before, after)
	}
}

func rssFile(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssFile:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
