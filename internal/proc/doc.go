// Package proc is tsm's boundary with the operating system: it spawns
// services in their own session, reaps and watches them, finds the
// processes that belong to a service (and, after a daemon restart, to any
// service), signals process groups and trees, identifies processes across
// PID reuse, and reads live stats and listening ports. It imports no other
// tsm package.
//
// A question about a process has three answers, not two: yes, no, and
// "cannot tell" (out of file descriptors, say). The last comes back as an
// error, never as "no", so that a process is not declared dead, and
// disowned or restarted twice, because the daemon could not look.
//
// Exactly one goroutine reaps children (Reaper). Nothing in tsm may call
// exec.Cmd.Wait or os.Process.Wait on a service: on Linux the reaper waits
// for any child (the daemon is a subreaper, so re-parented descendants
// arrive too) and would steal those statuses, or they would steal its.
package proc
