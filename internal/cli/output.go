package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/tetra/tsm/internal/api"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// colors paints status words on a terminal only, and never when NO_COLOR is
// set.
type colors struct{ on bool }

func (a *App) colors(w io.Writer) colors {
	if a.Getenv("NO_COLOR") != "" {
		return colors{}
	}
	f, ok := w.(*os.File)
	return colors{on: ok && term.IsTerminal(int(f.Fd()))}
}

func (c colors) status(s string) string {
	if !c.on {
		return s
	}
	return api.PaintStatus(s)
}

// plural renders a count with its noun: "1 process", "3 processes".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
