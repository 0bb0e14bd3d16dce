package proc

// TEMPORARY: stands in for the proc work being merged; deleted on merge.

import (
	"errors"
	"syscall"
)

type Member struct {
	Identity
	PGID, SID, PPID int
}

func Family(root int, marker string, since uint64) ([]Member, error) {
	pids, err := Tree(root, marker, since)
	var out []Member
	for _, p := range pids {
		if id, err := Identify(p); err == nil {
			pg, _ := syscall.Getpgid(p)
			out = append(out, Member{Identity: id, PGID: pg})
		}
	}
	return out, err
}

func FindMarked(markers []string) (map[string][]Member, error) { return nil, nil }
func Children() ([]int, bool)                                  { return nil, false }
func (id Identity) Check() (bool, error) {
	cur, err := Identify(id.PID)
	if errors.Is(err, ErrNoProcess) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return cur == id, nil
}
func GroupExists(pgid int) (bool, error) {
	err := syscall.Kill(-pgid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	return true, nil
}
