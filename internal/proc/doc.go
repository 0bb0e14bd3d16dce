// Package proc is tsm's boundary with the operating system: it spawns
// services in their own session, reaps and watches them, signals process
// groups and trees, identifies processes across PID reuse, and reads live
// stats and listening ports. It imports no other tsm package.
//
// Exactly one goroutine reaps children (Reaper). Nothing in tsm may call
// exec.Cmd.Wait or os.Process.Wait on a service: on Linux the reaper waits
// for any child (the daemon is a subreaper, so re-parented descendants
// arrive too) and would steal those statuses, or they would steal its.
package proc
