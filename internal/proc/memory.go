package proc

// RSS returns the resident memory of the process id names, in bytes; the
// error wraps ErrNoProcess when it is gone or its PID names another
// process now.
func RSS(id Identity) (uint64, error) {
	u, err := readUsage(id)
	return u.rss, err
}
