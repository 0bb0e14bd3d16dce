package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

const (
	// DefaultPollInterval is how often Follow looks at its files when the
	// Follower does not say: fast enough to feel live, rare enough to cost
	// nothing.
	DefaultPollInterval = 100 * time.Millisecond

	// followChunk bounds one read, so a large backlog (a file that appeared
	// with megabytes in it) neither takes that much memory nor delays a
	// cancellation until it is all read.
	followChunk = 64 << 10
)

// Follower follows log files by polling them, and on Linux also looks as soon
// as inotify says a file in their directories changed. Polling behaves the
// same on Linux and macOS and sees every kind of rotation; inotify only
// wakes it early, so a missed or coalesced event costs at most PollInterval
// of latency, never a line. While a file is written faster than it is read,
// Follow reads on without waiting.
type Follower struct {
	// PollInterval is the time between two looks at the files;
	// zero or less means DefaultPollInterval.
	PollInterval time.Duration
	// FlushPartialAfter is how long a line without its newline is held before
	// it is emitted as it is; zero or less means until its newline comes (or
	// it reaches the line length limit), so a line written slowly, in pieces,
	// is shown whole, as Tail shows it.
	FlushPartialAfter time.Duration
	// Flush, if set, is called whenever Follow has emitted every line there
	// was and is about to wait, and at least every PollInterval while lines
	// keep coming: a caller that buffers what emit writes (one write(2)
	// for many lines) writes it out there. An error ends the follow, as
	// one from emit does.
	Flush func() error
	// Borrow, if set, makes the Text of a Line given to emit share
	// Follow's read buffer instead of a string of its own: it is valid
	// only until emit returns, and an emit that keeps it must copy it
	// (strings.Clone). It spares an allocation a line, which is most of
	// the follower's cost under a fast writer of short lines.
	Borrow bool
}

// Follow follows sources with the default Follower.
func Follow(ctx context.Context, sources []Source, emit func(Line) error) error {
	return Follower{}.Follow(ctx, sources, emit)
}

// Follow calls emit with every complete line appended to any of the sources
// after Follow is called, until ctx is done, and then returns nil. Files that
// exist are followed from the start of their last, unterminated line (from
// their end when the last line is complete), so a line being written when
// Follow starts is emitted whole, once; a file that does not exist yet is
// followed from its start once it appears.
//
// Lines of one source are emitted in file order; lines of different sources in
// the order the polls find them, which is arrival order to within a poll
// interval. A "\r" before a newline is kept, and lines longer than 64 KiB are
// cut as Tail cuts them. A line without its newline is held until the newline
// arrives (or, with FlushPartialAfter, emitted as it is once it has waited
// that long; whatever follows it then arrives as a new line).
//
// A file whose head Rotate took away is followed on where it was (what was
// not read yet is read from the newest rotated file), by its Base. Any other
// file that shrinks (truncated, or rotated by copy-truncate) is read again
// from its start. A file whose path now names another file (rotated by rename,
// or deleted and created again) is read to its end and then the new file is
// read from its start; until a new file appears the old one is still followed,
// since the process may still be writing to it. A truncation that is followed
// by more writes than the file held before, all within one poll interval,
// cannot be told from an append and loses the start of the new content.
//
// emit is only ever called from the goroutine that called Follow. If emit
// returns an error, Follow stops and returns it, so a reader that went away
// (EPIPE) ends the follow. Other errors (a file that cannot be opened or read)
// also end it, wrapped.
func (fl Follower) Follow(ctx context.Context, sources []Source, emit func(Line) error) error {
	f, err := fl.Open(sources)
	if err != nil {
		return err
	}
	return f.Run(ctx, emit)
}

// Following is a Follow whose starting points are taken but that has not
// run yet: show the tail up to Start(i) with TailTo, then Run, and no line
// written in between is lost or shown twice.
type Following struct{ w *follow }

// Open takes the starting point of each source (see Follow).
func (fl Follower) Open(sources []Source) (*Following, error) {
	w, err := fl.start(sources)
	if err != nil {
		return nil, err
	}
	return &Following{w: w}, nil
}

// Start is the absolute stream offset (see Base) at which source i is
// followed: TailStream up to it, then Run, shows every line once.
func (f *Following) Start(i int) int64 { return f.w.files[i].base + f.w.files[i].off }

// Run follows until ctx is done or emit fails (see Follow), then closes the
// files.
func (f *Following) Run(ctx context.Context, emit func(Line) error) error {
	defer f.w.close()
	return f.w.run(ctx, emit)
}

// follow is one Follow call. Its state is only touched by that call's
// goroutine, so it needs no locking.
type follow struct {
	interval   time.Duration
	flushAfter time.Duration
	flush      func() error
	files      []*followed
	buf        []byte // read buffer shared by all files: they are read one at a time
	// behind is set by a read that filled buf: the writer is ahead, so the
	// next round of polls comes at once instead of after a wait.
	behind bool
}

// followed is one source and how far it has been read.
type followed struct {
	Source
	file       *os.File    // nil while the path does not exist
	info       os.FileInfo // identity of file, to notice the path naming another one
	off        int64       // bytes of file already consumed
	base       int64       // Base of the file when off was last set
	index      int         // of the Source among those followed
	partial    []byte      // unterminated line read so far, at most lineKeep bytes
	partialAt  time.Time   // when partial got its first byte
	partialOff int64       // absolute stream offset of partial's first byte
	borrow     bool        // see Follower.Borrow
	// awaited: the file did not exist when the follow began, and base is
	// the stream offset it began at; what was written and rotated away
	// before the first look at the file is read from the rotated files.
	awaited bool
}

// start records where each source begins: the end of the file if it exists.
// It is separate from run so tests can know when the starting point is taken.
func (fl Follower) start(sources []Source) (*follow, error) {
	w := &follow{
		interval:   fl.PollInterval,
		flushAfter: fl.FlushPartialAfter,
		flush:      fl.Flush,
		buf:        make([]byte, followChunk),
	}
	if w.interval <= 0 {
		w.interval = DefaultPollInterval
	}
	for i, src := range sources {
		s := &followed{Source: src, index: i, borrow: fl.Borrow}
		w.files = append(w.files, s)
		if err := s.open(); err != nil {
			w.close()
			return nil, err
		}
		if s.file != nil {
			s.off = lineStart(s.file, s.info.Size())
		} else {
			s.base, s.awaited = Base(s.live()), true
		}
	}
	return w, nil
}

func (w *follow) close() {
	for _, s := range w.files {
		s.closeFile()
	}
}

func (w *follow) run(ctx context.Context, emit func(Line) error) error {
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	dirs := make([]string, len(w.files))
	for i, s := range w.files {
		dirs[i] = filepath.Dir(s.live())
	}
	wake, stop := watchDirs(dirs)
	defer stop()
	flushed := time.Now()
	for {
		if ctx.Err() != nil {
			return nil
		}
		w.behind = false
		for _, s := range w.files {
			if err := w.poll(ctx, s, emit); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		if w.behind && time.Since(flushed) < w.interval {
			continue
		}
		if w.flush != nil {
			if err := w.flush(); err != nil {
				return err
			}
			flushed = time.Now()
		}
		if w.behind {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-wake:
		}
	}
}

// watchDirs returns a channel that receives (coalesced) when a file in one
// of dirs is created, written, renamed or removed, and a function that stops
// watching. Where inotify or kqueue cannot watch them, the channel never
// receives and following falls back to polling alone.
func watchDirs(dirs []string) (<-chan struct{}, func()) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, func() {}
	}
	for _, d := range dirs {
		fsw.Add(d) // a directory that cannot be watched is polled
	}
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case _, ok := <-fsw.Events:
				if !ok {
					return
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			case _, ok := <-fsw.Errors:
				if !ok {
					return
				}
			}
		}
	}()
	return wake, func() { fsw.Close(); <-done }
}

// poll emits what has been appended to s since the last poll, following s to
// a new file if its path names one now.
func (w *follow) poll(ctx context.Context, s *followed, emit func(Line) error) error {
	if s.file != nil {
		fi, err := os.Stat(s.Path)
		switch {
		case err == nil && !os.SameFile(fi, s.info):
			// Rotated: the old file may have got its last lines since the
			// previous poll, and they come before anything in the new one.
			if err := w.read(ctx, s, emit); err != nil {
				return err
			}
			if err := s.flush(emit); err != nil {
				return err
			}
			s.closeFile()
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("logs: follow: %w", err)
		}
	}
	if s.file == nil {
		base := s.base
		if err := s.open(); err != nil {
			return err
		}
		if s.file == nil {
			return nil
		}
		if s.awaited {
			s.base, s.awaited = base, false // read detects a head taken since
		}
	}
	if err := w.read(ctx, s, emit); err != nil {
		return err
	}
	if len(s.partial) > 0 && w.flushAfter > 0 && time.Since(s.partialAt) >= w.flushAfter {
		return s.flush(emit)
	}
	return nil
}

// read emits the lines of s between the last read and the current end of the
// file. It stops at the end as it was when it began, so that a file written
// faster than it can be read does not starve the others.
func (w *follow) read(ctx context.Context, s *followed, emit func(Line) error) error {
	fi, err := s.file.Stat()
	if err != nil {
		return fmt.Errorf("logs: follow: %w", err)
	}
	if fi.Size() == s.off && Base(s.live()) == s.base {
		// The common idle case. Base too: a rotation may have left the
		// file exactly as long as what was read of it.
		return nil
	}
	// At most as many chunks as there were bytes when the read began; at
	// least one, so a file now shorter than what was read of it (its head
	// collapsed away) is noticed by readChunk.
	for chunks := max(fi.Size()-s.off, 0)/followChunk + 1; chunks >= 0; chunks-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := w.readChunk(s)
		if err != nil {
			return fmt.Errorf("logs: follow: %w", err)
		}
		if n < 0 {
			if err := w.moved(ctx, s, emit); err != nil {
				return err
			}
			continue
		}
		if n == 0 {
			return nil
		}
		s.off += int64(n)
		w.behind = w.behind || n == len(w.buf)
		if err := s.consume(w.buf[:n], s.base+s.off-int64(n), emit); err != nil {
			return err
		}
	}
	return nil
}

// readChunk reads the next chunk of s into w.buf under a shared flock, so
// that Rotate cannot take the head of the file between the check that the
// content has not moved (Base and size) and the read. n < 0 reports that it
// has: Base changed, or the file is shorter than what was read of it. The
// lock is never held while lines are emitted to a reader that may be slow.
func (w *follow) readChunk(s *followed) (n int, err error) {
	fd := int(s.file.Fd())
	unix.Flock(fd, unix.LOCK_SH)
	defer unix.Flock(fd, unix.LOCK_UN)
	fi, err := s.file.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() < s.off || Base(s.live()) != s.base {
		return -1, nil
	}
	n, err = s.file.ReadAt(w.buf[:min(int64(len(w.buf)), fi.Size()-s.off)], s.off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// moved finds where to go on in a file whose content moved under what was
// read of it. If Rotate or Flush took its head (Base grew), the part not read
// yet went to the rotated files: it is read from there and the live file from
// where that part ended in it; of a part older than the rotated files kept,
// what they still hold is read (a follower far behind loses only what
// rotation deleted). Otherwise the file was truncated: what was
// held belonged to the old content, which the writer finished with, and the
// file is read from its start.
func (w *follow) moved(ctx context.Context, s *followed, emit func(Line) error) error {
	// The rotated files are opened under the lock (so no rotation renames
	// them meanwhile) and read after it, as a reader may be slow.
	fd := int(s.file.Fd())
	unix.Flock(fd, unix.LOCK_SH)
	base := Base(s.live())
	abs := s.base + s.off
	var behind multiReader
	if base != s.base && abs < base {
		var files []*os.File
		var have int64
		for _, r := range RotatedFiles(s.live()) {
			f, err := os.Open(r)
			if err != nil {
				break
			}
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				break
			}
			files = append(files, f)
			if have += fi.Size(); have >= base-abs {
				break
			}
		}
		for i := len(files) - 1; i >= 0; i-- {
			defer files[i].Close()
			behind.add(files[i])
		}
	}
	unix.Flock(fd, unix.LOCK_UN)
	from := behind.size - (base - abs)
	if base == s.base || from < 0 {
		// Truncated, or what was held is followed by a part already deleted.
		if err := s.flush(emit); err != nil {
			return err
		}
	}
	if base == s.base {
		s.off, s.base = 0, base
		return nil
	}
	for off := max(from, 0); off < behind.size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := behind.ReadAt(w.buf[:min(int64(len(w.buf)), behind.size-off)], off)
		if err := s.consume(w.buf[:n], base-behind.size+off, emit); err != nil {
			return err
		}
		off += int64(n)
		if err != nil || n == 0 {
			break
		}
	}
	s.off, s.base = max(abs-base, 0), base
	return nil
}

// lineStart returns where the last line of the first size bytes of f starts
// if it has no newline yet (looking back at most lineKeep bytes), else size.
func lineStart(f *os.File, size int64) int64 {
	from := max(size-lineKeep, 0)
	b := make([]byte, size-from)
	n, _ := f.ReadAt(b, from)
	b = b[:n]
	if len(b) == 0 || b[len(b)-1] == '\n' {
		return size
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return from + int64(i) + 1
	}
	if from == 0 {
		return 0
	}
	return size
}

// consume splits data, which starts at absolute stream offset at, into lines,
// completing the held partial line first and holding any unterminated rest.
func (s *followed) consume(data []byte, at int64, emit func(Line) error) error {
	now := time.Now()
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.hold(data, at, now)
			return nil
		}
		var text string
		off := at
		switch {
		case len(s.partial) == 0 && s.borrow && i <= maxLineLen:
			text = unsafe.String(unsafe.SliceData(data), i)
		case len(s.partial) == 0:
			text = lineString(data[:i], maxLineLen)
		default:
			s.hold(data[:i], at, now)
			text, off = lineString(s.partial, maxLineLen), s.partialOff
			s.partial = s.partial[:0]
		}
		if err := emit(Line{Stream: s.Stream, Text: text, Source: s.index, Off: off, Seen: now}); err != nil {
			return err
		}
		data, at = data[i+1:], at+int64(i)+1
	}
	return nil
}

func (s *followed) hold(data []byte, at int64, now time.Time) {
	if len(s.partial) == 0 {
		s.partialAt, s.partialOff = now, at
	}
	s.partial = appendCapped(s.partial, data, lineKeep)
}

// flush emits the held partial line, if any, as a line.
func (s *followed) flush(emit func(Line) error) error {
	if len(s.partial) == 0 {
		return nil
	}
	text := lineString(s.partial, maxLineLen)
	s.partial = s.partial[:0]
	return emit(Line{Stream: s.Stream, Text: text, Source: s.index, Off: s.partialOff, Seen: time.Now()})
}

// open opens the file at s.Path from its start; a missing file leaves s.file
// nil without an error, as it may appear later.
func (s *followed) open() error {
	f, err := os.Open(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logs: follow: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("logs: follow: %w", err)
	}
	s.file, s.info, s.off, s.base = f, fi, 0, Base(s.live())
	return nil
}

func (s *followed) closeFile() {
	if s.file != nil {
		s.file.Close()
		s.file, s.info = nil, nil
	}
}
