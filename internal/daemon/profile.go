//go:build tsmprofile

package daemon

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// startProfile, in a binary built with -tags tsmprofile (benchmarks only;
// the release binary links no profiler), writes CPU profiles of the
// daemon to $TSM_CPUPROFILE.1, .2, …: SIGUSR1 starts one, SIGUSR2 ends it, so that
// a benchmark profiles only the operation it measures.
func startProfile() func() {
	path := os.Getenv("TSM_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		n := 0
		for sig := range sigs {
			switch {
			case sig == syscall.SIGUSR1 && f == nil:
				var err error
				n++
				if f, err = os.Create(fmt.Sprintf("%s.%d", path, n)); err == nil && pprof.StartCPUProfile(f) != nil {
					f.Close()
					f = nil
				}
			case sig == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				f.Close()
				f = nil
			}
		}
	}()
	return func() { signal.Stop(sigs) }
}
