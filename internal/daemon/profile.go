//go:build tsmprofile

package daemon

import (
	"fmt"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
)

// startProfile, in a binary built with -tags tsmprofile (benchmarks only;
// the release binary links no profiler), writes CPU profiles of the
// daemon to $TSM_CPUPROFILE.1, .2, …: SIGUSR1 starts one, SIGUSR2 ends it, so that
// a benchmark profiles only the operation it measures. With $TSM_PPROF set
// to a path, it also serves net/http/pprof (heap, goroutine, …) on a Unix
// socket there: `go tool pprof unix:$TSM_PPROF` does not exist, so fetch
// with `curl --unix-socket $TSM_PPROF http://x/debug/pprof/heap`;
// /debug/memstats there lists the runtime's memory figures (?gc: after a
// collection), and $TSM_MEMPROFILERATE sets runtime.MemProfileRate (1:
// every allocation is sampled).
func startProfile() func() {
	stopServe := servePprof(os.Getenv("TSM_PPROF"))
	path := os.Getenv("TSM_CPUPROFILE")
	if path == "" {
		return stopServe
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
	return func() { signal.Stop(sigs); stopServe() }
}

// servePprof serves the runtime's profiles on the Unix socket path ("":
// none); the returned func closes it.
func servePprof(path string) func() {
	if path == "" {
		return func() {}
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return func() {}
	}
	if rate, err := strconv.Atoi(os.Getenv("TSM_MEMPROFILERATE")); err == nil {
		runtime.MemProfileRate = rate // 1: every allocation, for exact per-entry bytes
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/memstats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("gc") {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "HeapAlloc %d\nHeapInuse %d\nHeapIdle %d\nHeapReleased %d\nStackInuse %d\nMSpanInuse %d\nGCSys %d\nOtherSys %d\nSys %d\nGoroutines %d\n",
			m.HeapAlloc, m.HeapInuse, m.HeapIdle, m.HeapReleased, m.StackInuse, m.MSpanInuse, m.GCSys, m.OtherSys, m.Sys, runtime.NumGoroutine())
	})
	go http.Serve(ln, mux)
	return func() { ln.Close(); os.Remove(path) }
}
