package proc

// Carrier is a process whose environment holds an entry FindCarriers was
// asked about, with the values of the keys it was asked for.
type Carrier struct {
	Member
	Env     map[string]string // the requested keys the process has
	Command string
}

// FindCarriers finds, in one pass over the process table, every process
// of our effective UID (any, as root) whose environment holds an entry
// starting with prefix (such as "TSM_PROCESS_DIR=/home/me/tetra/tsm/"),
// sorted by PID, and reads the given keys of its environment. Kernel
// threads, PID 1 and the calling process are never reported. As with
// FindMarked, a process that could not be read makes the result
// incomplete: it is returned together with an error. On macOS, where
// environments cannot be read reliably, it returns nothing.
func FindCarriers(prefix string, keys ...string) ([]Carrier, error) {
	if prefix == "" {
		return nil, nil
	}
	cs, err := findCarriers(prefix, keys)
	for i := range cs {
		cs[i].Command = commandLine(cs[i].PID)
	}
	return cs, err
}
