package api

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/rivo/uniseg"
)

// On ASCII text Columns is text/tabwriter with padding 2: same blocks, same
// widths, same trailing cells.
func TestColumnsLikeTabwriter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "a", "web", "online", "12345", "python3 -m http.server"}
	for n := 0; n < 300; n++ {
		var text strings.Builder
		for range r.IntN(6) {
			for c := r.IntN(5); c > 0; c-- {
				text.WriteString(words[r.IntN(len(words))])
				if c > 1 {
					text.WriteByte('\t')
				}
			}
			text.WriteByte('\n')
		}
		var want, got bytes.Buffer
		tw := tabwriter.NewWriter(&want, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, text.String())
		tw.Flush()
		c := NewColumns(&got)
		fmt.Fprint(c, text.String())
		c.Flush()
		if got.String() != want.String() {
			t.Fatalf("%q:\ntabwriter:\n%s\nColumns:\n%s", text.String(), want.String(), got.String())
		}
	}
}

// Wide characters, combining accents and colour escapes: every column
// starts at the same screen column on every line.
func TestColumnsAlignByScreenWidth(t *testing.T) {
	var out bytes.Buffer
	c := NewColumns(&out)
	fmt.Fprint(c, "ID\tNAME\tSTATUS\tPORT\n")
	fmt.Fprint(c, "0\tweb\t"+PaintStatus("online")+"\t8000\n")
	fmt.Fprint(c, "1\t日本語サーバー\t"+PaintStatus("stopped")+"\t-\n")
	fmt.Fprint(c, "2\tcafe\u0301\tonline\t3000\n")
	fmt.Fprint(c, "3\tdeploy🚀\t"+PaintStatus("crashed (exit 1)")+"\t-\n")
	c.Flush()
	var starts []int
	for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		plain := line
		for _, code := range []string{"\x1b[32m", "\x1b[90m", "\x1b[31m", "\x1b[0m"} {
			plain = strings.ReplaceAll(plain, code, "")
		}
		// The screen column of the last cell (the port).
		last := strings.LastIndex(plain, " ") + 1
		col := uniseg.StringWidth(plain[:last])
		if i > 0 && col != starts[0] {
			t.Errorf("line %d: last column starts at %d, header's at %d:\n%s", i, col, starts[0], out.String())
		}
		starts = append(starts, col)
	}
}
