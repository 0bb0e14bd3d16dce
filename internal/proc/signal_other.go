//go:build !linux

package proc

import "syscall"

// signalIdentity checks, then signals: there are no pidfds here, so a PID
// recycled in between would be the one signalled (a window of a few
// microseconds).
func signalIdentity(id Identity, sig syscall.Signal) (bool, error) {
	return checkThenKill(id, sig)
}
