package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// fakeService is a service with scripted behaviour, run by tsm in the
// end-to-end scripts:
//
//	fakesvc listen [PORT]     serve HTTP on PORT (default $PORT), log each request
//	fakesvc listenafter DUR   wait DUR, then serve HTTP on $PORT (a slow starter)
//	fakesvc sleep             print "ready" and block
//	fakesvc hog MB            allocate and touch MB megabytes, print "allocated", block
//	fakesvc udp PORT          bind a UDP socket on PORT, print "udp on PORT", block
//	fakesvc healthy FILE      serve HTTP on $PORT; /health answers 503 while FILE exists
//	fakesvc slowready DUR     serve HTTP on $PORT at once; /ready answers 503 for DUR,
//	                          then 200, printing "ready 200" before each such answer
//	fakesvc exit CODE [MSG]   print MSG to stderr and exit with CODE
//	fakesvc ignoreterm        ignore SIGTERM, print "ready" and block
//	fakesvc tree FILE         start a child, a setsid grandchild and a double-forked
//	                          grandchild (all blocking), write their PIDs to FILE, block
//	fakesvc ticker            print "tick N" every 50ms
//	fakesvc env KEY...        print KEY=value for each key, then block
//	fakesvc exitafter DUR CODE  print "up", wait DUR, exit with CODE
//	fakesvc writepid FILE     write its PID to FILE, then block
//	fakesvc slowterm DUR      on SIGTERM, print "draining", wait DUR, exit 0
//	fakesvc graceful FILE     on SIGTERM shut down in 300ms and write "graceful" to
//	                          FILE; a second SIGTERM meanwhile writes "forced", exits 1
//	fakesvc flood N           write "line 1" … "line N" fast, one write each, block
//	fakesvc slowline          write "slow ", wait 1.5 s, write "line I\n", again
//	fakesvc escape FILE       start a grandchild that leaves the session, drops its
//	                          parent and its whole environment (setsid, double fork,
//	                          env -i), write its PID to FILE, block
func fakeService() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fakesvc listen|sleep|exit|ignoreterm|tree|ticker|env")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "listen", "listenafter":
		port := os.Getenv("PORT")
		if os.Args[1] == "listenafter" {
			d, _ := time.ParseDuration(os.Args[2])
			fmt.Println("warming up")
			time.Sleep(d)
		} else if len(os.Args) > 2 {
			port = os.Args[2]
		}
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(3)
		}
		fmt.Println("listening on", port)
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("request", r.URL.Path)
			fmt.Fprintln(w, "ok")
		}))
	case "sleep":
		fmt.Println("ready")
		block()
	case "healthy":
		l, err := net.Listen("tcp", ":"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(3)
		}
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := os.Stat(os.Args[2]); err == nil {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
	case "slowready":
		d, _ := time.ParseDuration(os.Args[2])
		ready := time.Now().Add(d)
		l, err := net.Listen("tcp", ":"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(3)
		}
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if time.Now().Before(ready) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			fmt.Println("ready 200")
		}))
	case "hog":
		mb, _ := strconv.Atoi(os.Args[2])
		b := make([]byte, mb<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated")
		block()
		runtime.KeepAlive(b)
	case "udp":
		c, err := net.ListenPacket("udp", ":"+os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "udp:", err)
			os.Exit(3)
		}
		defer c.Close()
		fmt.Println("udp on", os.Args[2])
		block()
	case "exit":
		if len(os.Args) > 3 {
			fmt.Fprintln(os.Stderr, os.Args[3])
		}
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	case "ignoreterm":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		block()
	case "tree":
		startTree(os.Args[2])
		block()
	case "ticker":
		for i := 0; ; i++ {
			fmt.Println("tick", i)
			time.Sleep(50 * time.Millisecond)
		}
	case "exitafter":
		d, _ := time.ParseDuration(os.Args[2])
		code, _ := strconv.Atoi(os.Args[3])
		fmt.Println("up")
		time.Sleep(d)
		os.Exit(code)
	case "escape":
		out, _ := exec.Command("sh", "-c", "setsid env -i sleep 303 >/dev/null 2>&1 & echo $!").Output()
		os.WriteFile(os.Args[2], append(regexp.MustCompile(`\d+`).Find(out), '\n'), 0o644)
		fmt.Println("ready")
		block()
	case "slowterm":
		// Takes DUR to shut down after SIGTERM, like a server draining.
		d, _ := time.ParseDuration(os.Args[2])
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		fmt.Println("draining")
		time.Sleep(d)
		os.Exit(0)
	case "graceful":
		// Shuts down cleanly in 300ms on the first SIGTERM, and quits at
		// once on a second one (as many Python and Node apps do), writing
		// which happened to FILE.
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		select {
		case <-sigs:
			os.WriteFile(os.Args[2], []byte("forced\n"), 0o644)
			os.Exit(1)
		case <-time.After(300 * time.Millisecond):
			os.WriteFile(os.Args[2], []byte("graceful\n"), 0o644)
			os.Exit(0)
		}
	case "flood":
		// N numbered lines, one write each, about 50 000 a second: fast
		// enough to rotate often, slow enough to take a few seconds.
		n, _ := strconv.Atoi(os.Args[2])
		for i := 1; i <= n; i++ {
			fmt.Printf("line %d\n", i)
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		block()
	case "slowline":
		// Lines written in two pieces, 1.5 s apart.
		for i := 0; ; i++ {
			fmt.Print("slow ")
			time.Sleep(1500 * time.Millisecond)
			fmt.Printf("line %d\n", i)
		}
	case "writepid":
		os.WriteFile(os.Args[2], fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644)
		block()
	case "env":
		for _, k := range os.Args[2:] {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		block()
	default:
		fmt.Fprintln(os.Stderr, "fakesvc: unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func block() { select {} }

// startTree makes the process shapes a tree kill must catch: a plain child,
// a grandchild in its own session (setsid), and a grandchild whose parent
// exited (double fork), re-parented away from us.
func startTree(file string) {
	child := exec.Command("sleep", "300")
	child.Start()
	setsid := exec.Command("sleep", "301")
	setsid.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	setsid.Start()
	// sh forks sleep into the background and exits: the sleep's parent dies.
	out, _ := exec.Command("sh", "-c", "sleep 302 >/dev/null 2>&1 & echo $!").Output()
	double := string(regexp.MustCompile(`\d+`).Find(out))
	os.WriteFile(file, fmt.Appendf(nil, "%d %d %s\n", child.Process.Pid, setsid.Process.Pid, double), 0o644)
	fmt.Println("ready")
}

// exitCode runs a command and succeeds only if it exits with the expected
// code: `exec exitcode 64 tsm start`. Output passes through.
func exitCode() {
	want, _ := strconv.Atoi(os.Args[1])
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "exitcode:", err)
		os.Exit(100)
	}
	if got != want {
		fmt.Fprintf(os.Stderr, "exitcode: %s exited %d, want %d\n", os.Args[2], got, want)
		os.Exit(1)
	}
}

func matches(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
