//go:build !linux

package proc

// DropCodePages does nothing outside Linux.
func DropCodePages() (int, error) { return 0, nil }
