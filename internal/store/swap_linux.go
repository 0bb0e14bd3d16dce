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
// deleted inodes), and a stop writes meta.json two or three times. The
// spare keeps the previous content for the next write, which overwrites
// it in place (see overwrite). It returns
// errors.ErrUnsupported where the file system cannot exchange names.
//
// Only one writer per path at a time: two concurrent writers would share
// the spare. meta.json and the pid file have one (the process's actor).
func writeSwap(path string, data []byte, perm fs.FileMode, durable bool) error {
	spare := sparePath(path)
	fd, err := openSpare(spare, perm)
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

// openSpare opens spare to be written, replacing it first if it is not a
// regular file: a FIFO (opening it to write would wait for a reader
// forever, so it is opened non-blocking) or a symbolic link (never
// followed), which a load that replaced meta.json by its spare leaves
// here after the next exchange.
func openSpare(spare string, perm fs.FileMode) (int, error) {
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Open(spare, flags, uint32(perm))
	if err == nil {
		var st unix.Stat_t
		if err = unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			return fd, nil
		}
		unix.Close(fd)
	}
	if !errors.Is(err, unix.ENXIO) && !errors.Is(err, unix.ELOOP) && err != nil {
		return -1, err
	}
	if err := os.Remove(spare); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return -1, err
	}
	return unix.Open(spare, flags|unix.O_EXCL, uint32(perm))
}

// removeOwned removes path, a file writeSwap writes, keeping its inode as
// the spare when there is none: the next write of path (the next run's pid
// file) then needs no new inode, and no block is freed now (see overwrite
// for what freeing costs). A missing path is not an error.
func removeOwned(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); errors.Is(err, unix.ENOENT) {
		return nil
	} else if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG &&
		unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, sparePath(path), unix.RENAME_NOREPLACE) == nil {
		return nil
	}
	// A spare is there already, the file system cannot rename so, or path
	// is not a file tsm wrote (a link is removed, never kept as a spare).
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// overwrite makes the open file fd hold data with mode perm, writing the
// bytes over the old ones in place and cutting the file only where it was
// longer: cutting a file to zero frees its block, which on ext4 without a
// journal and with the discard option (this project's machines) is a
// synchronous discard, half a millisecond each, and on any ext4 is a block
// freed and allocated again. A write that is not synced (an intent: it must
// survive the daemon, not the machine) then starts the writeback of its
// bytes at once (sync_file_range, no waiting), so that after a power loss
// the exchange names, all but in the millisecond that write takes, the new
// bytes or a whole earlier record of the same process — never bytes the
// disk has not had yet for seconds. (Cutting to zero bought ext4's
// data=ordered promise of "old or new" for the rename, at a discard per
// intent: a stop of 100 spent 16 of its 65 ms of CPU there.) Either way
// fchmod runs only when the mode is not already perm.
func overwrite(fd int, data []byte, perm uint32, durable bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
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
	if !durable {
		// Best effort: where it is refused, the kernel writes the bytes
		// back in its own time, as it does for any file.
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if st.Mode&0o7777 != perm {
		return unix.Fchmod(fd, perm)
	}
	return nil
}
