package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanBytes renders a memory size: 812K, 14.2M, 1.3G.
func humanBytes(n uint64) string {
	switch {
	case n == 0:
		return "-"
	case n < 1<<20:
		return fmt.Sprintf("%dK", n>>10)
	case n < 1<<30:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
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
	code := ""
	word, _, _ := strings.Cut(s, " ") // "crashed (exit 1)" is red too
	switch word {
	case "online":
		code = "32"
	case "starting", "stopping":
		code = "33"
	case "crashed", "errored", "unhealthy":
		code = "31"
	case "stopped", "exited":
		code = "90"
	default:
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// plural renders a count with its noun: "1 process", "3 processes".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
