package proc

// Lingering counts the TCP sockets on local port that no process owns any
// more and that are not listening: connections of a server that has exited,
// left in TIME_WAIT, FIN_WAIT or LAST_ACK until the kernel lets them go
// (TIME_WAIT lasts 60 s on Linux). A server that did not set SO_REUSEADDR
// leaves them unbindable by anyone until then; they are nobody's process.
func Lingering(port int) (int, error) { return lingering(port) }
