package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Everything tsm keeps is private to its user whatever the umask: meta.json
// holds the pre-hook, launch.json the environment, the logs whatever the
// service prints. dirMode and fileMode are what tsm creates them with.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// Size caps of the records tsm reads back. A record is what tsm wrote, so
// these are far above anything real; they keep a planted or damaged file
// from making the daemon read without end. launch.json holds the whole
// environment and argv (the daemon takes requests of up to 16 MiB).
const (
	maxMeta   = 1 << 20
	maxLaunch = 32 << 20
)

// private makes dir a directory of the caller's that only the caller can
// enter, creating it if needed. A symbolic link, a non-directory, or a
// directory of another user is refused: tsm writes the caller's secrets
// there and would otherwise write them wherever a link points.
func private(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.Mkdir(dir, dirMode); err == nil || errors.Is(err, fs.ErrExist) {
			fi, err = os.Lstat(dir)
		}
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, which tsm never follows in its state directory; remove it", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory; remove it", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to you (uid %d); remove it", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm() != dirMode {
		// Made by an older tsm or the bash TSM, under the usual umask.
		return os.Chmod(dir, dirMode)
	}
	return nil
}

// readRecord reads a file tsm wrote, refusing what tsm never writes there:
// a symbolic link, anything but a regular file (a FIFO would block the
// reader for good), a file of another user, or one larger than max bytes.
func readRecord(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link, which tsm does not follow; remove it", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); remove it", path, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%s belongs to uid %d, not to you (uid %d); remove it", path, st.Uid, os.Geteuid())
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d tsm ever writes there; remove it", path, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s grew beyond %d bytes while being read", path, max)
	}
	return b, err
}
