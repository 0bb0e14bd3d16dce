package daemon

// cpath is a file path stored with a NUL byte after its end, as the kernel
// takes paths, so that a stat of it copies nothing: unix.Stat copies each
// path into a new NUL-terminated buffer, and at 1000 processes the rotation
// loop's three stats a process a second were half of an idle daemon's
// garbage (150 of 350 KB/s), which made it collect every 5 s and fault
// back in the code pages the idle trim had dropped.
type cpath struct{ s string } // s is followed by a NUL byte in memory

func newCPath(p string) cpath {
	z := p + "\x00"
	return cpath{z[:len(p)]}
}

func (c cpath) String() string { return c.s }
