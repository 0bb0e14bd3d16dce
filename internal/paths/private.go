package paths

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckPrivate refuses a state directory that another user could have
// prepared, as ssh refuses such a ~/.ssh: root, and runtime and
// runtime/processes below it, must each (where they exist) be a directory,
// not a symbolic link to one, owned by the calling user and not writable by
// group or others. The daemon runs
// what the records there describe, as the caller: a directory someone
// else controls would make it run their commands (a root `tsm` pointed at
// a user's TSM_DIR by `sudo -E`, say). A missing directory is fine: tsm
// creates it.
func CheckPrivate(root string) error {
	uid := os.Geteuid()
	for _, dir := range []string{root, filepath.Join(root, "runtime"), Processes(root)} {
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("state directory %s: %w; set TSM_DIR to a directory of your own", dir, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			// The daemon's store refuses it too; the CLI must not create
			// daemon.log through it first. TSM_DIR at runtime's target
			// would be another state directory, not this one.
			fix := "set TSM_DIR to the directory it points to"
			if dir != root {
				fix = "make it a directory of its own (move what it points to there)"
			}
			return fmt.Errorf("state directory %s is a symbolic link, which tsm never follows in its state directory; %s", dir, fix)
		case !fi.IsDir():
			return fmt.Errorf("state directory %s is not a directory; set TSM_DIR to a directory of your own", dir)
		case int(st.Uid) != uid:
			return fmt.Errorf("refusing state directory %s: it belongs to uid %d, not to you (uid %d); use a directory of your own (set TSM_DIR), or `chown -R` it if it is yours", dir, st.Uid, uid)
		case fi.Mode().Perm()&0o022 != 0:
			return fmt.Errorf("refusing state directory %s: others can write to it (mode %o); run `chmod go-w %s`", dir, fi.Mode().Perm(), dir)
		}
	}
	return nil
}
