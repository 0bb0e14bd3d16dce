package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/logs"
)

func (a *App) newLogsCmd() *cobra.Command {
	var lines int
	var follow, nostream, errOnly, outOnly, asJSON bool
	cmd := &cobra.Command{
		Use:   "logs <target>",
		Short: "Show the last lines of a process's stdout and stderr, and follow them",
		Long: `Logs prints the last --lines lines of current.out (stdout) and current.err
(stderr), each under a header. -f then follows both, printing new lines as
they arrive, until interrupted.

--json prints {"service": NAME, "entries": [{"stream": "out"|"err", "line": ...}]}
(with -f: one {"service","stream","line"} object per line).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if errOnly && outOnly {
				return usageError("--err and --out exclude each other; give neither to see both")
			}
			if lines < 0 {
				return usageError("--lines must be 0 or more")
			}
			if nostream {
				follow = false
			}
			// Catch Ctrl-C before printing anything, so an interrupt during
			// the tail still ends the command cleanly.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			p, err := a.resolve(cmd, args[0])
			if err != nil {
				return err
			}
			sources := []logs.Source{{Stream: "out", Path: p.OutLog}, {Stream: "err", Path: p.ErrLog}}
			if errOnly {
				sources = sources[1:]
			} else if outOnly {
				sources = sources[:1]
			}
			out := cmd.OutOrStdout()

			var emit func(logs.Line) error
			if asJSON {
				enc := json.NewEncoder(out)
				if !follow {
					type entry struct {
						Stream string `json:"stream"`
						Line   string `json:"line"`
					}
					body := struct {
						Service string  `json:"service"`
						Entries []entry `json:"entries"`
					}{Service: p.Name, Entries: []entry{}}
					for _, s := range sources {
						ls, err := logs.Tail(s.Path, lines)
						if err != nil {
							return err
						}
						for _, l := range ls {
							body.Entries = append(body.Entries, entry{s.Stream, l})
						}
					}
					return printJSON(out, body)
				}
				emit = func(l logs.Line) error {
					return enc.Encode(map[string]string{"service": p.Name, "stream": l.Stream, "line": l.Text})
				}
			} else if len(sources) == 1 {
				emit = func(l logs.Line) error {
					_, err := fmt.Fprintln(out, l.Text)
					return err
				}
			} else {
				hw := &logs.HeaderWriter{W: out, Labels: map[string]string{
					"out": fmt.Sprintf("%s stdout (%s)", p.Name, p.OutLog),
					"err": fmt.Sprintf("%s stderr (%s)", p.Name, p.ErrLog),
				}}
				emit = hw.Write
			}

			// Take the follow's starting points before the tail, and tail only
			// up to them: no line written in between is lost or shown twice.
			var following *logs.Following
			if follow {
				if following, err = (logs.Follower{}).Open(sources); err != nil {
					return err
				}
			}
			shown := 0
			for i, s := range sources {
				limit := int64(-1)
				if following != nil {
					limit = following.Start(i)
				}
				ls, err := logs.TailTo(s.Path, lines, limit)
				if err != nil {
					return err
				}
				shown += len(ls)
				for _, l := range ls {
					if err := emit(logs.Line{Stream: s.Stream, Text: l}); err != nil {
						return err
					}
				}
			}
			if shown == 0 && lines > 0 && !asJSON {
				// Silence would look like a broken command.
				wait := ""
				if following != nil {
					wait = "; waiting for output (Ctrl-C to stop)"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: %s has written nothing yet%s\n", p.Name, wait)
			}
			if following == nil {
				return nil
			}
			return ignoreCanceled(following.Run(ctx, emit))
		},
	}
	f := cmd.Flags()
	f.IntVarP(&lines, "lines", "n", 50, "number of lines to show from each stream")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	f.BoolVar(&nostream, "nostream", false, "do not follow (the default; accepted for bash tsm scripts)")
	f.BoolVarP(&errOnly, "err", "e", false, "stderr only")
	f.BoolVarP(&outOnly, "out", "o", false, "stdout only")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func ignoreCanceled(err error) error {
	if err == context.Canceled {
		return nil
	}
	return err
}
