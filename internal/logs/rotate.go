package logs

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Policy bounds one log stream: its live file is rotated once it is larger
// than MaxSize bytes, and Keep rotated files are kept (the oldest beyond
// that is deleted).
type Policy struct {
	MaxSize int64 // bytes; 0 or less: never rotate
	Keep    int   // rotated files kept; 0 keeps none (rotation then only trims)
}

// Defaults: 10 MiB a stream, five rotated files (the issue's, and close to
// PM2's pm2-logrotate defaults).
const (
	DefaultMaxSize = 10 << 20
	DefaultKeep    = 5
)

// Method says how a rotation took bytes off the head of a live file.
type Method string

const (
	// Collapse removed exactly the copied range with
	// FALLOC_FL_COLLAPSE_RANGE: nothing is lost or duplicated, whatever
	// the writer does meanwhile.
	Collapse Method = "collapse"
	// CopyTruncate copied the file and truncated it, where the file system
	// refuses to collapse (tmpfs, btrfs, macOS): what the writer appends
	// between the end of the copy and the truncation is lost.
	CopyTruncate Method = "copytruncate"
	// Dropped took the head off without a copy, because the file system
	// had no room for one: a full disk must not stay full for a log's sake.
	Dropped Method = "dropped"
)

// Rotated is the path of the i-th rotated file of the live file path: 1 is
// the newest. Rotated files hold consecutive byte ranges of the stream, so a
// line may begin at the end of one file and end in the next.
func Rotated(path string, i int) string { return path + "." + strconv.Itoa(i) }

// basePath holds how many bytes have been taken off the head of the live file
// since it was created (rotated away or flushed), in decimal: the absolute
// offset in the stream of the live file's first byte.
func basePath(path string) string { return path + ".base" }

// Base returns the absolute stream offset of the first byte of the live file
// at path: the bytes rotation and flush have taken off its head so far. A
// missing or unreadable record counts as 0.
func Base(path string) int64 {
	b, err := os.ReadFile(basePath(path))
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func setBase(path string, n int64) error {
	return writeAtomic(basePath(path), []byte(strconv.FormatInt(n, 10)+"\n"))
}

// Rotate moves the head of the live log file at path into a new rotated file
// when the live file is larger than p.MaxSize, while its writer keeps writing.
//
// The head, up to a file-system-block-aligned offset, is copied into
// path.1 (after path.1 … became path.2 …), fsynced, and only then removed
// from the live file with FALLOC_FL_COLLAPSE_RANGE. Writers append with
// O_APPEND, so their writes only touch the tail, which the collapse does not
// move past: no line is lost or duplicated, and the writer never waits on
// the daemon's copy (only, for the kernel's inode lock, on the collapse
// itself). Where the file system refuses the collapse, the rest of the
// file is copied too and the live file truncated (CopyTruncate), which loses
// what is appended in between. The live file keeps less than one block after
// a collapse.
//
// A missing live file, or one no larger than the cap, is left alone
// (Method ""), and so is a file whose flock someone holds (a reader, a Flush):
// Rotate takes an exclusive flock on the live file without waiting for it.
func Rotate(path string, p Policy) (Method, error) {
	return RotateVia(path, path, p)
}

// RotateVia is Rotate of the live file path reached through open, a
// /proc/PID/fd/N link to it once it was removed while its process runs: the
// head still goes to path's rotated files, so a removed file that its process
// keeps writing stays within its cap too.
func RotateVia(path, open string, p Policy) (Method, error) {
	if p.MaxSize <= 0 {
		return "", nil
	}
	// The cheap check first: an idle process costs one stat per look.
	stat := os.Lstat
	if open != path {
		stat = os.Stat
	}
	if fi, err := stat(open); err != nil || fi.Size() <= p.MaxSize {
		return "", nil
	}
	// Not waiting for the lock: a reader holds it for milliseconds, and a
	// stranger's lock held for good must not stall every other rotation.
	f, err := lockLive(open, os.O_RDWR, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return "", nil // busy: the next look rotates it
	}
	if err != nil || f == nil {
		return "", err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", fmt.Errorf("rotate %s: %w", path, err)
	}
	if st.Size <= p.MaxSize {
		return "", nil
	}
	blk := int64(st.Blksize)
	if blk <= 0 {
		blk = 4096
	}
	// A collapse must end before the end of the file, on a block boundary.
	n := (st.Size - 1) / blk * blk
	if n <= 0 {
		return "", nil
	}
	removeStaleCopies(path)
	tmp, err := copyHead(f, path, n)
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return dropHead(f, path, n, err)
	}
	if err != nil {
		return "", fmt.Errorf("rotate %s: %w", path, err)
	}
	// The copy takes its place among the rotated files before anything is
	// taken off the live file: a daemon that dies in between leaves the
	// head twice, never nowhere.
	if err := shift(path, p.Keep, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("rotate %s: %w", path, err)
	}
	method := Collapse
	if err := collapse(f, n); err != nil {
		// Not supported here: take the rest as well and truncate.
		method = CopyTruncate
		extra, err := appendRest(f, Rotated(path, 1), n, p.Keep > 0)
		if err != nil {
			return "", fmt.Errorf("rotate %s: %w", path, err)
		}
		if err := f.Truncate(0); err != nil {
			return "", fmt.Errorf("rotate %s: truncate: %w", path, err)
		}
		n += extra
	}
	base := Base(path) + n
	if err := setBase(path, base); err != nil {
		return method, fmt.Errorf("rotate %s: record the offset: %w", path, err)
	}
	var kept int64
	for _, r := range RotatedFiles(path) {
		if fi, err := os.Lstat(r); err == nil {
			kept += fi.Size()
		}
	}
	trimTimes(path, base-kept)
	return method, nil
}

// dropHead removes the first n bytes of the live file f without keeping
// them (all of it where the file system cannot collapse a range), after a
// copy failed for lack of space (why): the copy needs room the live file's
// head would otherwise go on taking, so the file would stay above its cap
// and the disk full for good. The error says what was dropped.
func dropHead(f *os.File, path string, n int64, why error) (Method, error) {
	if err := collapse(f, n); err != nil {
		fi, err := f.Stat()
		if err != nil {
			return "", fmt.Errorf("rotate %s: %w", path, err)
		}
		if err := f.Truncate(0); err != nil {
			return "", fmt.Errorf("rotate %s: truncate: %w", path, err)
		}
		n = fi.Size()
	}
	err := fmt.Errorf("rotate %s: no room for a copy (%v): dropped its first %d bytes to keep it within its cap", path, why, n)
	if serr := setBase(path, Base(path)+n); serr != nil {
		err = fmt.Errorf("%w; record the offset: %v", err, serr)
	}
	return Dropped, err
}

// Flush empties the log stream at path without stopping its writer: the live
// file is truncated and the rotated files deleted. Offsets stay meaningful:
// the bytes dropped are added to Base. It returns the bytes freed.
func Flush(path string) (int64, error) {
	var freed int64
	f, err := lockLive(path, os.O_RDWR, unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	if f != nil {
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return 0, fmt.Errorf("flush %s: %w", path, err)
		}
		if err := f.Truncate(0); err != nil {
			return 0, fmt.Errorf("flush %s: %w", path, err)
		}
		freed = fi.Size()
		if err := setBase(path, Base(path)+freed); err != nil {
			return freed, fmt.Errorf("flush %s: record the offset: %w", path, err)
		}
	}
	for _, r := range RotatedFiles(path) {
		if fi, err := os.Lstat(r); err == nil {
			freed += fi.Size()
		}
		if err := os.Remove(r); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return freed, fmt.Errorf("flush: %w", err)
		}
	}
	os.Remove(timesPath(path))
	return freed, nil
}

// RotatedFiles lists the rotated files of path that exist, newest first.
func RotatedFiles(path string) []string {
	idx := rotatedIndexes(path)
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = Rotated(path, n)
	}
	return out
}

// rotatedIndexes lists the numbers of the rotated files of path, ascending
// (newest first). They are read from the directory rather than counted up,
// so a gap left by a daemon that died between two renames hides nothing.
func rotatedIndexes(path string) []int {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil
	}
	prefix := filepath.Base(path) + "."
	var idx []int
	for _, e := range entries {
		if rest, ok := strings.CutPrefix(e.Name(), prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > 0 && strconv.Itoa(n) == rest {
				idx = append(idx, n)
			}
		}
	}
	slices.Sort(idx)
	return idx
}

// removeStaleCopies deletes the temporary copies a rotation that died left
// beside path. Only call with the live file locked: then no rotation is in
// progress.
func removeStaleCopies(path string) {
	dir := filepath.Dir(path)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+filepath.Base(path)+".rot") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// lockLive opens the live file without following a link (a link planted in
// place of a log must not make the daemon write elsewhere) and flocks it; a
// missing file is (nil, nil). The one link it follows is the kernel's own
// /proc/PID/fd/N, whose target RemovedLog has checked.
func lockLive(path string, mode, how int) (*os.File, error) {
	if !strings.HasPrefix(path, "/proc/") {
		mode |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, mode, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err // it names the file already
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// copyHead copies the first n bytes of f into a new temporary file beside
// path, fsynced, and returns its name.
func copyHead(f *os.File, path string, n int64) (string, error) {
	t, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".rot*")
	if err != nil {
		return "", err
	}
	name := t.Name()
	if _, err := io.Copy(t, io.NewSectionReader(f, 0, n)); err != nil {
		t.Close()
		os.Remove(name)
		return "", err
	}
	if err := t.Sync(); err != nil {
		t.Close()
		os.Remove(name)
		return "", err
	}
	return name, t.Close()
}

// appendRest appends everything of f from offset n on to the file dst (when
// keep; else it only measures it) and returns how much that was.
func appendRest(f *os.File, dst string, n int64, keep bool) (int64, error) {
	if !keep {
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return max(fi.Size()-n, 0), nil
	}
	t, err := os.OpenFile(dst, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	m, err := io.Copy(t, io.NewSectionReader(f, n, 1<<62))
	if err != nil {
		return m, err
	}
	return m, t.Sync()
}

// shift makes tmp the newest rotated file of path: path.i is renamed to
// path.i+1, and those beyond keep deleted, first. With keep 0 tmp is deleted.
// It costs a rename per rotated file that exists, whatever keep is.
func shift(path string, keep int, tmp string) error {
	if keep <= 0 {
		return os.Remove(tmp)
	}
	idx := rotatedIndexes(path)
	for j := len(idx) - 1; j >= 0; j-- {
		i := idx[j]
		var err error
		if i >= keep {
			err = os.Remove(Rotated(path, i))
		} else {
			err = os.Rename(Rotated(path, i), Rotated(path, i+1))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmp, Rotated(path, 1)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeAtomic replaces path with data (temp file, rename).
func writeAtomic(path string, data []byte) error {
	t, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := t.Write(data); err != nil {
		t.Close()
		os.Remove(t.Name())
		return err
	}
	if err := t.Close(); err != nil {
		os.Remove(t.Name())
		return err
	}
	if err := os.Rename(t.Name(), path); err != nil {
		os.Remove(t.Name())
		return err
	}
	return nil
}

// TrimTotal deletes the oldest rotated files of the given live files until
// all their rotated files together take at most max bytes; max <= 0 bounds
// nothing. It returns the files deleted.
func TrimTotal(live []string, max int64) ([]string, error) {
	if max <= 0 {
		return nil, nil
	}
	type rotated struct {
		path string
		size int64
		mod  int64
	}
	var all []rotated
	var total int64
	for _, l := range live {
		for _, r := range RotatedFiles(l) {
			if fi, err := os.Lstat(r); err == nil {
				all = append(all, rotated{r, fi.Size(), fi.ModTime().UnixNano()})
				total += fi.Size()
			}
		}
	}
	if total <= max {
		return nil, nil
	}
	// Within a stream the highest number is the oldest, and its time says
	// so too: ordering by time deletes from the end of each numbering.
	slices.SortFunc(all, func(a, b rotated) int { return cmp.Compare(a.mod, b.mod) })
	var gone []string
	for _, r := range all {
		if total <= max {
			break
		}
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return gone, err
		}
		total -= r.size
		gone = append(gone, r.path)
	}
	return gone, nil
}

// RemovedLog returns /proc/PID/fd/FD when that descriptor of process pid is
// the log file path, removed (unlinked) while the process runs: the only way
// left to its content. ok is false otherwise, and where there is no /proc.
func RemovedLog(path string, pid, fd int) (via string, ok bool) {
	if pid <= 0 {
		return "", false
	}
	via = "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd)
	target, err := os.Readlink(via)
	return via, err == nil && target == path+" (deleted)"
}

// MovedLog returns /proc/PID/fd/FD and the file it leads to when that
// descriptor of process pid is a regular file other than the one at path:
// the log was moved (logrotate without copytruncate, a user's mv), replaced
// by another file or by a link, so reading path would show something else
// or nothing (logs never follow a link at path). ok is false otherwise, for
// a removed file (RemovedLog) and where there is no /proc.
func MovedLog(path string, pid, fd int) (via, target string, ok bool) {
	if pid <= 0 {
		return "", "", false
	}
	via = "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd)
	target, err := os.Readlink(via)
	if err != nil || !strings.HasPrefix(target, "/") || strings.HasSuffix(target, " (deleted)") {
		return "", "", false
	}
	held, err := os.Stat(via)
	if err != nil || !held.Mode().IsRegular() {
		return "", "", false // a pipe (--log-time), a terminal, /dev/null
	}
	if now, err := os.Lstat(path); err == nil && os.SameFile(held, now) {
		return "", "", false
	}
	return via, target, true
}
