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
	err = overwrite(fd, data, uint32(perm), durable)
	if err == nil && durable {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
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

// overwrite makes the open file fd hold data with mode perm. A durable
// write (fsync follows, before the exchange) writes the bytes over the old
// ones in place and cuts the file only where it was longer: on ext4,
// cutting a file to zero and writing it again frees and allocates its
// block and journals both. A write that is not synced cuts the file to
// zero first all the same: ext4 then allocates the new block when the file
// is closed (auto_da_alloc), so that the exchange, once on disk after a
// power loss, names the new bytes and never a mix of old and new. Either
// way fchmod runs only when the mode is not already perm.
func overwrite(fd int, data []byte, perm uint32, durable bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if !durable && st.Size > 0 {
		if err := unix.Ftruncate(fd, 0); err != nil {
			return err
		}
		st.Size = 0
	}
	for off := 0; off < len(data); {
		n, err := unix.Pwrite(fd, data[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off += n
	}
	if st.Size > int64(len(data)) {
		if err := unix.Ftruncate(fd, int64(len(data))); err != nil {
			return err
		}
	}
	if st.Mode&0o7777 != perm {
		return unix.Fchmod(fd, perm)
	}
	return nil
}
