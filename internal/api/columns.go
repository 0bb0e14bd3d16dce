package api

import (
	"bytes"
	"io"
	"strings"

	"github.com/rivo/uniseg"
)

// Columns lays out text in aligned columns as text/tabwriter does with
// padding 2 (cells end with a tab; the text after a line's last tab is not
// aligned; a column's width holds over consecutive lines that have it), but
// measures a cell by the columns a terminal gives it: two for a CJK
// character or an emoji, none for a combining accent or a colour escape.
// tabwriter counts runes, so a name in Japanese pushed the rest of its row
// out of line. Write what is to be shown, then Flush.
type Columns struct {
	w   io.Writer
	buf bytes.Buffer
}

// NewColumns returns a Columns that writes to w.
func NewColumns(w io.Writer) *Columns { return &Columns{w: w} }

// Write takes tab-separated, newline-terminated text; nothing is written to
// the underlying writer before Flush.
func (c *Columns) Write(p []byte) (int, error) { return c.buf.Write(p) }

// Flush writes the text taken since the last Flush, laid out.
func (c *Columns) Flush() error {
	text := c.buf.String()
	c.buf.Reset()
	if text == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	cells := make([][]string, len(lines))
	// screen[i][j]: the width of cell j of line i on screen; pad[i][j]: the
	// width it is padded to (all but a line's last cell).
	screen := make([][]int, len(lines))
	pad := make([][]int, len(lines))
	for i, l := range lines {
		cells[i] = strings.Split(l, "\t")
		screen[i] = make([]int, len(cells[i]))
		for j, cell := range cells[i] {
			screen[i][j] = width(cell)
		}
		pad[i] = make([]int, len(cells[i])-1)
	}
	for j, more := 0, true; more; j++ {
		more = false
		for start := 0; start < len(cells); {
			if len(cells[start]) <= j+1 {
				start++
				continue
			}
			more = true
			end, w := start, 0
			for ; end < len(cells) && len(cells[end]) > j+1; end++ {
				w = max(w, screen[end][j])
			}
			for i := start; i < end; i++ {
				pad[i][j] = w + 2
			}
			start = end
		}
	}
	var out bytes.Buffer
	for i, row := range cells {
		for j, cell := range row {
			out.WriteString(cell)
			if j < len(row)-1 {
				for n := pad[i][j] - screen[i][j]; n > 0; n-- {
					out.WriteByte(' ')
				}
			}
		}
		out.WriteByte('\n')
	}
	_, err := c.w.Write(out.Bytes())
	return err
}

// width is the number of terminal columns s takes: its colour escapes
// (ESC [ ... m) take none, a wide character two.
func width(s string) int {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == 0x1b {
			ascii = false
			break
		}
	}
	if ascii {
		return len(s) // nearly every cell: no grapheme segmentation
	}
	var plain strings.Builder
	for len(s) > 0 {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			plain.WriteString(s)
			break
		}
		plain.WriteString(s[:i])
		end := strings.IndexByte(s[i:], 'm')
		if end < 0 {
			break
		}
		s = s[i+end+1:]
	}
	return uniseg.StringWidth(plain.String())
}
