package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/logs"
)

func (a *App) newFlushCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "flush [<target>... | all]",
		Short: "Empty the logs of processes without stopping them",
		Long: `Flush empties current.out and current.err of the given processes (all of
them with no target or all) and deletes their rotated files, while the
processes keep running and writing. Offsets recorded for run markers stay
valid: what was dropped is counted in current.out.base / current.err.base.`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: a.completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			procs, _, err := a.logTargets(cmd, args)
			if err != nil {
				return err
			}
			type result struct {
				Name  string `json:"name"`
				Freed int64  `json:"freed_bytes"`
			}
			var results []result
			for _, p := range procs {
				r := result{Name: p.Name}
				for _, path := range []string{p.OutLog, p.ErrLog} {
					n, err := logs.Flush(path)
					r.Freed += n
					if err != nil {
						return fmt.Errorf("flush %s: %w (nothing is stopped; check the permissions of %s)", p.Name, err, p.Dir)
					}
				}
				results = append(results, r)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), results)
			}
			for _, r := range results {
				freed := "nothing to free"
				switch {
				case r.Freed >= 1<<10:
					freed = api.HumanBytes(uint64(r.Freed)) + " freed"
				case r.Freed > 0:
					freed = fmt.Sprintf("%d bytes freed", r.Freed)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: logs flushed (%s)\n", r.Name, freed)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
