// Command compare measures tsm beside PM2, supervisord and process-compose
// in one run, on loopback only, each manager in a state directory of its
// own: list latency, stop all (until none of its processes is left), a
// port-less start and a server start (until the CLI returns), tsm's start
// --no-wait, daemon RSS and cold start, at several numbers of managed
// processes, and (at the first of them, with -logsf) the logs -f catch-up on
// a 50 MB burst. Runs of the managers
// are interleaved so that noise on a shared machine hits all alike. It
// writes results.json, RESULTS.md and scaling.svg into -out. bench/compare.sh
// installs the peers and builds the tsm binaries first; see there.
//
// Every process it starts carries BENCH_TAG in its environment; at the end
// it stops each manager through its own command and then kills, by PID,
// whatever tagged process is left.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// manager is one process manager under test.
type manager struct {
	Name    string
	Version string
	dir     string
	env     []string
	okExit  int // a non-zero exit status that still means success
	// up starts the daemon with n processes (p000…) declared and running,
	// plus the stopped extras "x" (sleep) and "srv" (an HTTP server) where
	// the manager can only start what it declared.
	up func(n int) error
	// list, stopAll: the CLI calls measured.
	list, stopAll func() []string
	// startOne returns the CLI call that starts one more process: kind is
	// "sleep" or "server" (listening on port); i makes the name unique.
	startOne func(kind string, i, port int) []string
	// undo removes what startOne started (not timed).
	undo func(kind string, i int)
	// startNoWait, where the manager has such a start (tsm: --no-wait),
	// returns the CLI call that starts the i-th port-less "y" process; its
	// undo is delete(y<i>). nil: none.
	startNoWait func(i int) []string
	// follow returns the CLI call that follows the named process's output
	// (tsm logs -f, pm2 logs --raw, supervisorctl tail -f, process logs -f).
	follow func(name string) []string
	// daemonPID of the running daemon, for RSS.
	daemonPID func() int
	// down stops the daemon and everything it runs.
	down func()
	// cold: time from no daemon to a first answered list.
	cold func() (time.Duration, error)
}

type stat struct {
	Median, P90, Min, Max float64 // ms
	Runs                  int
}

type row struct {
	Manager string
	N       int
	List    *stat `json:",omitempty"`
	Start   *stat `json:",omitempty"` // port-less start, until the CLI returns
	Server  *stat `json:",omitempty"` // CLI return minus port open (ms; negative: returned first)
	StopCLI *stat `json:",omitempty"` // stop all, until the CLI returns
	StopAll *stat `json:",omitempty"` // stop all, until every managed process is gone
	RSSKiB  int
	Cold    *stat  `json:",omitempty"`
	Crash   *stat  `json:",omitempty"` // kill -9 of a managed sleep until its new instance runs
	NoWait  *stat  `json:",omitempty"` // start --no-wait (tsm only), until the CLI returns
	CatchUp *stat  `json:",omitempty"` // logs -f: end of a 50 MB burst until its last line is printed
	Note    string `json:",omitempty"`
}

var (
	tag       = "tsm-compare-" + strconv.Itoa(os.Getpid())
	runs      = flag.Int("runs", 20, "list calls per manager and N")
	starts    = flag.Int("starts", 5, "starts per manager and N")
	stops     = flag.Int("stops", 5, "stop-all samples per manager and N (brought up again between them)")
	ns        = flag.String("n", "0,10,100,1000", "numbers of managed processes")
	peerMax   = flag.Int("peer-max", 100, "largest N for the peers (tsm alone above it)")
	foreign   = flag.Int("foreign", 1000, "unmanaged processes kept on the machine during the run")
	out       = flag.String("out", "bench", "directory for results.json, RESULTS.md, scaling.svg")
	work      = flag.String("work", "", "scratch directory (state dirs of every manager)")
	tsmBins   = flag.String("tsm", "", "comma-separated label=path of tsm binaries")
	peers     = flag.String("peers", "pm2,supervisord,process-compose", "peers to measure (skipped, with a note, when missing)")
	pcBin     = flag.String("process-compose", "process-compose", "process-compose binary")
	pcVersion = flag.String("process-compose-version", "?", "its version, for the report (its own `version` prints none)")
)

func main() {
	flag.Parse()
	if *work == "" {
		d, err := os.MkdirTemp("", "tsm-compare")
		must(err)
		*work = d
	}
	os.Setenv("BENCH_TAG", tag)
	var mgrs []*manager
	for _, spec := range strings.Split(*tsmBins, ",") {
		if label, path, ok := strings.Cut(spec, "="); ok {
			mgrs = append(mgrs, tsmManager(label, path))
		}
	}
	for _, p := range strings.Split(*peers, ",") {
		m, why := peer(p)
		if m == nil {
			fmt.Fprintf(os.Stderr, "compare: skipping %s: %s\n", p, why)
			continue
		}
		mgrs = append(mgrs, m)
	}
	defer cleanup(mgrs)
	fmt.Fprintf(os.Stderr, "compare: starting %d foreign processes\n", *foreign)
	for range *foreign {
		c := exec.Command("sleep", "100000")
		if err := c.Start(); err == nil {
			go c.Wait()
		}
	}
	catchupN, _ = strconv.Atoi(strings.Split(*ns, ",")[0])
	var rows []row
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(f)
		must(err)
		rows = append(rows, measureN(mgrs, n)...)
	}
	writeResults(mgrs, rows)
}

// measureN brings every manager up with n processes, measures them
// interleaved, and takes them down.
func measureN(all []*manager, n int) []row {
	var mgrs []*manager
	res := map[string]*row{}
	for _, m := range all {
		if n > *peerMax && !strings.HasPrefix(m.Name, "tsm") {
			continue
		}
		fmt.Fprintf(os.Stderr, "compare: N=%d: %s up\n", n, m.Name)
		if err := m.up(n); err != nil {
			fmt.Fprintf(os.Stderr, "compare: N=%d: %s did not come up: %v\n", n, m.Name, err)
			m.down()
			continue
		}
		mgrs = append(mgrs, m)
		res[m.Name] = &row{Manager: m.Name, N: n}
	}
	waitAll(mgrs, n)
	time.Sleep(time.Second)
	for _, m := range mgrs {
		res[m.Name].RSSKiB = rss(m.daemonPID())
	}
	lists := map[string][]float64{}
	for range *runs {
		for _, m := range mgrs {
			d, err := timeCmd(m, m.list())
			if err == nil {
				lists[m.Name] = append(lists[m.Name], ms(d))
			}
		}
	}
	startT, serverT := map[string][]float64{}, map[string][]float64{}
	for i := range *starts {
		for _, m := range mgrs {
			if d, err := timeCmd(m, m.startOne("sleep", i, 0)); err == nil {
				startT[m.Name] = append(startT[m.Name], ms(d))
			}
			m.undo("sleep", i)
			if d, err := serverStart(m, i); err == nil {
				serverT[m.Name] = append(serverT[m.Name], d)
			} else {
				fmt.Fprintf(os.Stderr, "compare: %s server start: %v\n", m.Name, err)
			}
			m.undo("server", i)
		}
	}
	noWaitT := measureNoWait(mgrs)
	catchT := map[string][]float64{}
	if *logsfBin != "" && n == catchupN {
		catchT = measureCatchUp(mgrs)
	}
	crashT := map[string][]float64{}
	for i := range *starts {
		for _, m := range mgrs {
			if n < 10 {
				break // no managed sleep to kill
			}
			if d, err := crash(m, i); err == nil {
				crashT[m.Name] = append(crashT[m.Name], d)
			} else {
				fmt.Fprintf(os.Stderr, "compare: %s crash: %v\n", m.Name, err)
			}
		}
	}
	for _, m := range mgrs {
		r := res[m.Name]
		r.List, r.Start, r.Server = summary(lists[m.Name]), summary(startT[m.Name]), summary(serverT[m.Name])
		r.Crash = summary(crashT[m.Name])
		r.NoWait, r.CatchUp = summary(noWaitT[m.Name]), summary(catchT[m.Name])
	}
	// One stop-all sample is noise on a shared machine: each manager
	// stops its n `stops` times, interleaved with the others, brought
	// up afresh between samples.
	stopCLI, stopAll := map[string][]float64{}, map[string][]float64{}
	samples := max(*stops, 1)
	if n == 0 {
		samples = 1 // nothing to stop
	}
	for k := range samples {
		for _, m := range mgrs {
			if k > 0 {
				m.down()
				if err := m.up(n); err != nil {
					fmt.Fprintf(os.Stderr, "compare: N=%d: %s did not come up again: %v\n", n, m.Name, err)
					continue
				}
				waitAll([]*manager{m}, n)
				time.Sleep(time.Second)
			}
			pids := tagged(m)
			t0 := time.Now()
			if err := run(m, m.stopAll()); err != nil {
				res[m.Name].Note = "stop all: " + err.Error()
			}
			stopCLI[m.Name] = append(stopCLI[m.Name], ms(time.Since(t0)))
			for !allGone(pids) && time.Since(t0) < 60*time.Second {
				time.Sleep(2 * time.Millisecond)
			}
			stopAll[m.Name] = append(stopAll[m.Name], ms(time.Since(t0)))
			fmt.Fprintf(os.Stderr, "compare: N=%d %-16s stop all %.0f ms (sample %d)\n", n, m.Name, ms(time.Since(t0)), k+1)
		}
	}
	for _, m := range mgrs {
		r := res[m.Name]
		r.StopCLI, r.StopAll = summary(stopCLI[m.Name]), summary(stopAll[m.Name])
		fmt.Fprintf(os.Stderr, "compare: N=%d %-16s list %s  stop all %s\n", n, m.Name, fmtStat(r.List), fmtStat(r.StopAll))
	}
	if n == 0 {
		colds := map[string][]float64{}
		for range *starts {
			for _, m := range mgrs {
				if d, err := m.cold(); err == nil {
					colds[m.Name] = append(colds[m.Name], ms(d))
				} else {
					fmt.Fprintf(os.Stderr, "compare: %s cold start: %v\n", m.Name, err)
				}
			}
		}
		for _, m := range mgrs {
			res[m.Name].Cold = summary(colds[m.Name])
		}
	}
	var rows []row
	for _, m := range mgrs {
		m.down()
		rows = append(rows, *res[m.Name])
	}
	return rows
}

// serverStart starts an HTTP server through m and returns how long after
// its port first accepted a connection the CLI returned (ms; negative when
// the CLI returned first).
func serverStart(m *manager, i int) (float64, error) {
	port := 18500 + i
	opened := make(chan time.Time, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 50*time.Millisecond)
			if err == nil {
				c.Close()
				opened <- time.Now()
				return
			}
			time.Sleep(500 * time.Microsecond)
		}
	}()
	defer close(stop)
	if err := run(m, m.startOne("server", i, port)); err != nil {
		return 0, err
	}
	returned := time.Now()
	select {
	case at := <-opened:
		return ms(returned.Sub(at)), nil
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("port %d never opened", port)
	}
}

// crash kills (SIGKILL) the i-th of m's managed sleeps and returns how long
// until a new sleep of m's runs (ms): the manager's respawn as a user sees
// it. New processes are found by listing /proc and reading the environment
// of the PIDs that were not there before, about a millisecond per look
// with a thousand foreign processes on the machine.
func crash(m *manager, i int) (float64, error) {
	var sleeps []int
	for _, pid := range tagged(m) {
		if comm(pid) == "sleep" {
			sleeps = append(sleeps, pid)
		}
	}
	if len(sleeps) == 0 {
		return 0, fmt.Errorf("no managed sleep to kill")
	}
	slices.Sort(sleeps)
	victim := sleeps[i%len(sleeps)]
	known := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			known[pid] = true
		}
	}
	want := []byte("BENCH_TAG=" + tag + "/" + m.Name + "\x00")
	t0 := time.Now()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		return 0, err
	}
	for time.Since(t0) < 10*time.Second {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || known[pid] {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			if err != nil || len(b) == 0 {
				continue // not exec'd yet, or gone
			}
			if !bytes.Contains(b, want) {
				known[pid] = true
				continue
			}
			if comm(pid) == "sleep" {
				return ms(time.Since(t0)), nil
			}
		}
	}
	return 0, fmt.Errorf("no new instance within 10s of killing %d", victim)
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

func timeCmd(m *manager, argv []string) (time.Duration, error) {
	t0 := time.Now()
	err := run(m, argv)
	return time.Since(t0), err
}

func run(m *manager, argv []string) error {
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(os.Environ(), m.env...)
	c.Dir = m.dir
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		if m.okExit != 0 && c.ProcessState != nil && c.ProcessState.ExitCode() == m.okExit {
			return nil
		}
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lastLine(stderr.String()))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// waitAll waits until every manager runs n sleeps or servers of its own.
func waitAll(mgrs []*manager, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for _, m := range mgrs {
		for len(tagged(m)) < n && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// tagged lists the managed processes of m (sleep and python3 carrying its
// tag) now running.
func tagged(m *manager) []int {
	want := "BENCH_TAG=" + tag + "/" + m.Name
	var pids []int
	names, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, f := range names {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(want+"\x00")) {
			continue
		}
		dir := filepath.Dir(f)
		comm, _ := os.ReadFile(dir + "/comm")
		if c := strings.TrimSpace(string(comm)); c == "sleep" || strings.HasPrefix(c, "python") {
			if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil && alive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func allGone(pids []int) bool {
	for _, p := range pids {
		if alive(p) {
			return false
		}
	}
	return true
}

func rss(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func summary(xs []float64) *stat {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &stat{Median: med, P90: s[min(len(s)-1, len(s)*9/10)], Min: s[0], Max: s[len(s)-1], Runs: len(s)}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fmtStat(s *stat) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f (p90 %.1f, %.1f–%.1f)", s.Median, s.P90, s.Min, s.Max)
}

// cleanup stops every manager and then kills, by PID, any process still
// carrying this run's tag (the foreign sleeps among them).
func cleanup(mgrs []*manager) {
	for _, m := range mgrs {
		m.down()
	}
	self := os.Getpid()
	names, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, f := range names {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte("BENCH_TAG="+tag)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil && pid != self && pid != os.Getppid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func writeResults(mgrs []*manager, rows []row) {
	must(os.MkdirAll(*out, 0o755))
	versions := map[string]string{}
	for _, m := range mgrs {
		versions[m.Name] = m.Version
	}
	host, _ := os.Hostname()
	doc := map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "host": host, "cpus": numCPU(),
		"kernel": kernel(), "foreign": *foreign, "runs": *runs, "versions": versions, "rows": rows}
	b, _ := json.MarshalIndent(doc, "", "  ")
	must(os.WriteFile(filepath.Join(*out, "results.json"), append(b, '\n'), 0o644))
	must(os.WriteFile(filepath.Join(*out, "RESULTS.md"), []byte(markdown(mgrs, rows)), 0o644))
	must(os.WriteFile(filepath.Join(*out, "scaling.svg"), []byte(plot(mgrs, rows)), 0o644))
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("\nprocessor")) + 1
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
