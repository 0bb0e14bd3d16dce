package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverPort is the port of the i-th background server of the manager
// with index idx: every 10th managed process is an HTTP server, as in the
// anchor measurements.
func serverPort(idx, i int) int { return 20000 + idx*200 + i/10 }

var mgrCount int

func newManager(name, version string) *manager {
	dir := filepath.Join(*work, strings.ReplaceAll(name, " ", "_"))
	must(os.MkdirAll(dir, 0o700))
	mgrCount++
	return &manager{Name: name, Version: version, dir: dir, env: []string{"BENCH_TAG=" + tag + "/" + name}}
}

// argv of the i-th managed process.
func workload(idx, i int) []string {
	if i%10 == 0 {
		return []string{"python3", "-m", "http.server", strconv.Itoa(serverPort(idx, i)), "--bind", "127.0.0.1"}
	}
	return []string{"sleep", "100000"}
}

func extra(m *manager, kind string, port int) []string {
	if kind == "burst" {
		return burstArgv(m)
	}
	if kind == "server" {
		return []string{"python3", "-m", "http.server", strconv.Itoa(port), "--bind", "127.0.0.1"}
	}
	return []string{"sleep", "200000"}
}

func extraName(kind string, i int) string {
	if kind == "burst" {
		return "b" + strconv.Itoa(i)
	}
	if kind == "server" {
		return "srv" + strconv.Itoa(i)
	}
	return "x" + strconv.Itoa(i)
}

func readPID(path string) int {
	b, _ := os.ReadFile(path)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func tsmManager(label, bin string) *manager {
	out, _ := exec.Command(bin, "version").Output()
	m := newManager(label, strings.TrimSpace(string(out)))
	idx := mgrCount
	state := filepath.Join(m.dir, "state")
	m.env = append(m.env, "TSM_DIR="+state)
	tsm := func(args ...string) []string { return append([]string{bin}, args...) }
	m.up = func(n int) error {
		if err := os.MkdirAll(state, 0o700); err != nil {
			return err
		}
		if err := run(m, tsm("list")); err != nil { // starts the daemon
			return err
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 20)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := run(m, append(tsm("start", "--name", fmt.Sprintf("p%03d", i)), workload(idx, i)...)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	m.list = func() []string { return tsm("list") }
	m.stopAll = func() []string { return tsm("stop", "all") }
	m.startOne = func(kind string, i, port int) []string {
		return append(tsm("start", "--name", extraName(kind, i)), extra(m, kind, port)...)
	}
	m.undo = func(kind string, i int) { run(m, tsm("delete", extraName(kind, i))) }
	m.startNoWait = func(i int) []string {
		return append(tsm("start", "--no-wait", "--name", "y"+strconv.Itoa(i)), extra(m, "sleep", 0)...)
	}
	m.follow = func(name string) []string { return tsm("logs", "-f", name, "-n", "0") }
	m.daemonPID = func() int { return readPID(filepath.Join(state, "daemon.pid")) }
	m.down = func() {
		run(m, tsm("delete", "all"))
		run(m, tsm("daemon", "stop"))
	}
	m.cold = func() (time.Duration, error) {
		if err := run(m, tsm("daemon", "stop")); err != nil {
			return 0, err
		}
		return timeCmd(m, tsm("list"))
	}
	return m
}

func peer(name string) (*manager, string) {
	switch name {
	case "pm2":
		out, err := exec.Command("pm2", "--version").Output()
		if err != nil {
			return nil, "pm2 not found (bench/compare.sh installs it with npm install -g pm2)"
		}
		return pm2Manager(lastLine(string(out))), ""
	case "supervisord":
		out, err := exec.Command("supervisord", "--version").Output()
		if err != nil {
			return nil, "supervisord not found (bench/compare.sh installs it with apt-get install supervisor)"
		}
		return supervisorManager(strings.TrimSpace(string(out))), ""
	case "process-compose":
		if _, err := exec.LookPath(*pcBin); err != nil {
			return nil, "process-compose not found (bench/compare.sh builds it from the Go module proxy)"
		}
		return pcManager(*pcVersion), ""
	}
	return nil, "unknown peer"
}

func pm2Manager(version string) *manager {
	m := newManager("pm2", version)
	idx := mgrCount
	m.env = append(m.env, "PM2_HOME="+filepath.Join(m.dir, "home"))
	m.up = func(n int) error {
		if n == 0 {
			return run(m, []string{"pm2", "ping"})
		}
		type app struct {
			Name        string `json:"name"`
			Script      string `json:"script"`
			Args        string `json:"args"`
			Interpreter string `json:"interpreter"`
		}
		var apps []app
		for i := range n {
			argv := workload(idx, i)
			path, _ := exec.LookPath(argv[0])
			apps = append(apps, app{fmt.Sprintf("p%03d", i), path, strings.Join(argv[1:], " "), "none"})
		}
		b, _ := json.Marshal(map[string]any{"apps": apps})
		eco := filepath.Join(m.dir, "ecosystem.json")
		if err := os.WriteFile(eco, b, 0o644); err != nil {
			return err
		}
		return run(m, []string{"pm2", "start", eco})
	}
	m.list = func() []string { return []string{"pm2", "jlist"} }
	m.stopAll = func() []string { return []string{"pm2", "stop", "all"} }
	m.startOne = func(kind string, i, port int) []string {
		return []string{"pm2", "start", strings.Join(extra(m, kind, port), " "), "--name", extraName(kind, i)}
	}
	m.undo = func(kind string, i int) { run(m, []string{"pm2", "delete", extraName(kind, i)}) }
	m.follow = func(name string) []string { return []string{"pm2", "logs", name, "--raw", "--lines", "0"} }
	m.daemonPID = func() int { return readPID(filepath.Join(m.dir, "home", "pm2.pid")) }
	m.down = func() { run(m, []string{"pm2", "kill"}) }
	m.cold = func() (time.Duration, error) {
		m.down()
		return timeCmd(m, []string{"pm2", "jlist"})
	}
	return m
}

func supervisorManager(version string) *manager {
	m := newManager("supervisord", version)
	idx := mgrCount
	conf := filepath.Join(m.dir, "supervisord.conf")
	pidfile := filepath.Join(m.dir, "supervisord.pid")
	ctl := func(args ...string) []string { return append([]string{"supervisorctl", "-c", conf}, args...) }
	m.okExit = 3 // status: some programs (the stopped extras) are not running
	start := func() error {
		if err := run(m, []string{"supervisord", "-c", conf}); err != nil {
			return err
		}
		for t0 := time.Now(); time.Since(t0) < 30*time.Second; time.Sleep(2 * time.Millisecond) {
			if run(m, ctl("status")) == nil {
				return nil
			}
		}
		return errors.New("supervisord did not answer within 30s")
	}
	m.up = func(n int) error {
		var b strings.Builder
		fmt.Fprintf(&b, "[unix_http_server]\nfile=%s/sock\n[supervisord]\nlogfile=%s/supervisord.log\npidfile=%s\nchildlogdir=%s\n", m.dir, m.dir, pidfile, m.dir)
		fmt.Fprintf(&b, "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n[supervisorctl]\nserverurl=unix://%s/sock\n", m.dir)
		for i := range n {
			fmt.Fprintf(&b, "[program:p%03d]\ncommand=%s\n", i, strings.Join(workload(idx, i), " "))
		}
		for i := range *starts {
			for _, kind := range []string{"sleep", "server"} {
				fmt.Fprintf(&b, "[program:%s]\ncommand=%s\nautostart=false\n", extraName(kind, i), strings.Join(extra(m, kind, 18500+i), " "))
			}
		}
		if *logsfBin != "" {
			fmt.Fprintf(&b, "[program:%s]\ncommand=%s\nautostart=false\n", extraName("burst", 0), strings.Join(extra(m, "burst", 0), " "))
		}
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return err
		}
		return start()
	}
	m.list = func() []string { return ctl("status") }
	m.stopAll = func() []string { return ctl("stop", "all") }
	m.startOne = func(kind string, i, port int) []string { return ctl("start", extraName(kind, i)) }
	m.undo = func(kind string, i int) { run(m, ctl("stop", extraName(kind, i))) }
	m.follow = func(name string) []string { return ctl("tail", "-f", name) }
	m.daemonPID = func() int { return readPID(pidfile) }
	m.down = func() {
		pid := readPID(pidfile)
		run(m, ctl("shutdown"))
		waitExit(pid)
	}
	m.cold = func() (time.Duration, error) {
		m.down()
		t0 := time.Now()
		err := start()
		return time.Since(t0), err
	}
	return m
}

func pcManager(version string) *manager {
	m := newManager("process-compose", version)
	idx := mgrCount
	sock := filepath.Join(m.dir, "pc.sock")
	yaml := filepath.Join(m.dir, "compose.yaml")
	pc := func(args ...string) []string { return append(append([]string{*pcBin}, args...), "-U", "-u", sock) }
	var server *exec.Cmd
	var n0 int
	start := func() error {
		os.Remove(sock)
		server = exec.Command(*pcBin, "up", "-t=false", "--keep-project", "-U", "-u", sock, "-f", yaml, "-L", filepath.Join(m.dir, "pc.log"))
		server.Env = append(os.Environ(), m.env...)
		server.Dir = m.dir
		server.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := server.Start(); err != nil {
			return err
		}
		go server.Wait()
		for t0 := time.Now(); time.Since(t0) < 30*time.Second; time.Sleep(2 * time.Millisecond) {
			if run(m, pc("process", "list")) == nil {
				return nil
			}
		}
		return errors.New("process-compose did not answer within 30s")
	}
	m.up = func(n int) error {
		n0 = n
		var b strings.Builder
		b.WriteString("version: \"0.5\"\nprocesses:\n")
		for i := range n {
			// Restarted after a crash, as every other manager does by default.
			fmt.Fprintf(&b, "  p%03d:\n    command: %q\n    availability:\n      restart: always\n", i, strings.Join(workload(idx, i), " "))
		}
		for i := range *starts {
			for _, kind := range []string{"sleep", "server"} {
				fmt.Fprintf(&b, "  %s:\n    command: %q\n    disabled: true\n", extraName(kind, i), strings.Join(extra(m, kind, 18500+i), " "))
			}
		}
		if *logsfBin != "" {
			fmt.Fprintf(&b, "  %s:\n    command: %q\n    disabled: true\n", extraName("burst", 0), strings.Join(extra(m, "burst", 0), " "))
		}
		if err := os.WriteFile(yaml, []byte(b.String()), 0o644); err != nil {
			return err
		}
		return start()
	}
	m.list = func() []string { return pc("process", "list") }
	m.stopAll = func() []string {
		args := []string{"process", "stop"}
		for i := range n0 {
			args = append(args, fmt.Sprintf("p%03d", i))
		}
		if n0 == 0 {
			return pc("process", "list") // nothing to stop
		}
		return pc(args...)
	}
	m.startOne = func(kind string, i, port int) []string { return pc("process", "start", extraName(kind, i)) }
	m.undo = func(kind string, i int) { run(m, pc("process", "stop", extraName(kind, i))) }
	m.follow = func(name string) []string { return pc("process", "logs", name, "-f", "-n", "0") }
	m.daemonPID = func() int {
		if server == nil {
			return 0
		}
		return server.Process.Pid
	}
	m.down = func() {
		if server == nil {
			return
		}
		// Nor does it always return (a logs -f client gone mid-stream):
		// it gets 10 s.
		runFor(m, 10*time.Second, pc("down"))
		// process-compose down does not always stop the server (see the
		// anchor notes): its PID then gets SIGKILL.
		if !waitExit(server.Process.Pid) {
			server.Process.Kill()
		}
		server = nil
	}
	m.cold = func() (time.Duration, error) {
		m.down()
		t0 := time.Now()
		err := start()
		return time.Since(t0), err
	}
	return m
}

// waitExit waits up to 5 s for pid to exit.
func waitExit(pid int) bool {
	for t0 := time.Now(); pid > 0 && time.Since(t0) < 5*time.Second; time.Sleep(5 * time.Millisecond) {
		if !alive(pid) {
			return true
		}
	}
	return pid <= 0
}
