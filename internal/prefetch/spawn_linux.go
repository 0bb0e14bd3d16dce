package prefetch

import "syscall"

// spawnDaemon starts `tsm daemon run` for the state directory root as
// client.StartDaemon would, when root exists and passes the privacy check
// (a missing one is left to the client, which makes it), and reports
// whether it did (started holds it); any failure leaves the start to the
// client too.
func spawnDaemon(root string) bool {
	if !private(root) {
		return false
	}
	var exe [4096]byte
	n, err := syscall.Readlink("/proc/self/exe", exe[:])
	if err != nil || n == len(exe) {
		return false
	}
	// O_NONBLOCK: opening a FIFO for writing would wait for a reader
	// forever; anything but a regular file is left to the client's error.
	log, err := syscall.Open(root+"/daemon.log", syscall.O_WRONLY|syscall.O_CREAT|syscall.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return false
	}
	defer syscall.Close(log)
	var st syscall.Stat_t
	if syscall.Fstat(log, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return false
	}
	null, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(null)
	var ready [2]int
	if syscall.Pipe2(ready[:], syscall.O_CLOEXEC) != nil {
		return false
	}
	env := append(DaemonEnv(syscall.Environ(), root), readyFDEnv+"=3")
	pid, err := syscall.ForkExec(string(exe[:n]), []string{"tsm", "daemon", "run"}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{uintptr(null), uintptr(log), uintptr(log), uintptr(ready[1])},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	syscall.Close(ready[1])
	if err != nil {
		syscall.Close(ready[0])
		return false
	}
	syscall.SetNonblock(ready[0], true) // for the client's deadline
	started.Daemon, started.root, started.ok = Daemon{PID: pid, Ready: ready[0], LogFrom: st.Size}, root, true
	return true
}

// private reports whether root exists and is the caller's own, not
// writable by others, with runtime and runtime/processes the same where
// they exist: paths.CheckPrivate's rule (a test keeps them alike).
func private(root string) bool {
	for i, dir := range []string{root, root + "/runtime", root + "/runtime/processes"} {
		var st syscall.Stat_t
		if err := syscall.Lstat(dir, &st); err != nil {
			return i > 0 && err == syscall.ENOENT
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != syscall.Geteuid() || st.Mode&0o022 != 0 {
			return false
		}
	}
	return true
}
