package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// writeSwap replaces path with data by writing a spare file beside it and
// exchanging the two names in one rename (RENAME_EXCHANGE): the reader
// sees the old content or the new, never a mix, as with a temporary file,
// but no inode is created or freed. On ext4 creating a file where many
// were just deleted costs half a millisecond (the allocator skips recently
// deleted inodes), and a stop writes meta.json three times. The spare
// keeps the previous content for the next write. It returns
// errors.ErrUnsupported where the file system cannot exchange names.
//
// Only one writer per path at a time: two concurrent writers would share
// the spare. meta.json and the pid file have one (the process's actor).
func writeSwap(path string, data []byte, perm fs.FileMode, durable bool) error {
	spare := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-spare")
	fd, err := unix.Open(spare, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), spare)
	err = f.Truncate(0)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	err = unix.Renameat2(unix.AT_FDCWD, spare, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	switch {
	case errors.Is(err, unix.ENOENT):
		err = os.Rename(spare, path) // the first write of path
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP):
		os.Remove(spare)
		return errors.ErrUnsupported
	}
	if err != nil || !durable {
		return err
	}
	return syncDir(filepath.Dir(path))
}
