package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/logs"
)

// parseMemory reads --max-memory: a size as the log flags take it (512M,
// 1G, 800k, bytes), which must not be 0.
func parseMemory(s string) (int64, error) {
	n, err := logs.ParseSize(s)
	if err == nil && n == 0 {
		err = fmt.Errorf("size %q: a limit of 0 would restart it forever (leave --max-memory out for none)", s)
	}
	return n, err
}

// definitionHealth turns a .tsm file's TSM_HEALTH_CHECK into a --health
// check: a URL stays one; anything else is a shell command (the bash TSM
// ran it with eval), which passes when it exits 0.
func definitionHealth(check string) string {
	check = strings.TrimSpace(check)
	if check == "" || strings.HasPrefix(check, "http://") || strings.HasPrefix(check, "https://") {
		return check
	}
	return "exec:" + check
}

// overlayWatchers puts start's health, readiness, limit and watch flags
// over a definition's request: a --health given wins over the file's
// TSM_HEALTH_CHECK; the others only come from flags.
func overlayWatchers(cmd *cobra.Command, req *api.StartRequest, flags api.StartRequest) {
	if cmd.Flags().Changed("health") {
		req.Health = flags.Health
	}
	req.HealthIntervalMillis, req.HealthTimeoutMillis, req.HealthRetries = flags.HealthIntervalMillis, flags.HealthTimeoutMillis, flags.HealthRetries
	req.Ready, req.ReloadSignal, req.MaxMemory, req.CronRestart = flags.Ready, flags.ReloadSignal, flags.MaxMemory, flags.CronRestart
	req.Watch, req.WatchIgnore = flags.Watch, flags.WatchIgnore
}
