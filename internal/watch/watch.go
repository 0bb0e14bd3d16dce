// Package watch owns file watching for --watch: one fsnotify watcher
// (inotify on Linux, kqueue on macOS) shared by every watched process of
// the daemon, recursive over directories, with ignore patterns and a
// debounce per subscriber. It knows nothing of processes: a subscriber is
// a key and a function to call with what changed. It imports no tsm
// package.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultIgnore is what is never watched: version control, dependency
// trees and caches that change without the program changing.
var DefaultIgnore = []string{".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", "*.pyc", "*.swp", "*~", ".DS_Store"}

// Watcher is the daemon's one file watcher. Its zero value is not usable:
// call New.
type Watcher struct {
	debounce time.Duration
	log      *slog.Logger

	mu     sync.Mutex // guards everything below; never held while calling a subscriber
	fsw    *fsnotify.Watcher
	closed bool // Close was called: no new watches
	subs   map[string]*sub
	dirs   map[string]int // watched directory → how many subscribers watch it
}

type sub struct {
	key     string
	roots   []string // absolute, cleaned
	ignore  []string
	dirs    []string // the directories this subscriber added
	fn      func(changed []string)
	pending []string
	timer   *time.Timer
}

// New returns a watcher whose subscribers hear of changes once the files
// were quiet for debounce.
func New(debounce time.Duration, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{debounce: debounce, log: log, subs: map[string]*sub{}, dirs: map[string]int{}}
}

// Add watches roots (directories, recursively, or files) for key,
// replacing what key watched before, and calls fn — never more than once
// per quiet debounce period — with the paths that changed. Paths whose
// base name or any directory name matches one of ignore (filepath.Match
// patterns: "node_modules", "*.log"), or that lie under an absolute
// ignore path, are neither watched nor reported. A root that does not
// exist, or a system limit on watches, is an error that says what to do.
func (w *Watcher) Add(key string, roots, ignore []string, fn func(changed []string)) error {
	s := &sub{key: key, ignore: ignore, fn: fn}
	for _, r := range roots {
		s.roots = append(s.roots, filepath.Clean(r))
	}
	w.Remove(key)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("the file watcher is closed (the daemon is stopping)")
	}
	if w.fsw == nil {
		fsw, err := fsnotify.NewWatcher()
		if err != nil {
			return explain(err)
		}
		w.fsw = fsw
		go w.loop(fsw)
	}
	for _, root := range s.roots {
		fi, err := os.Stat(root)
		if err != nil {
			w.dropLocked(s)
			return fmt.Errorf("watch %s: %w", root, err)
		}
		if !fi.IsDir() {
			// Its directory: editors replace a file by renaming another
			// over it, which would end a watch on the file itself.
			if err := w.addDirLocked(s, filepath.Dir(root)); err != nil {
				w.dropLocked(s)
				return err
			}
			continue
		}
		// Its parent too: a root removed and made again (a build that
		// cleans dist/) is then seen coming back, and watched again.
		if err := w.addDirLocked(s, filepath.Dir(root)); err != nil {
			w.dropLocked(s)
			return err
		}
		if err := w.addTreeLocked(s, root); err != nil {
			w.dropLocked(s)
			return err
		}
	}
	w.subs[key] = s
	return nil
}

// Remove stops watching for key.
func (w *Watcher) Remove(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.subs[key]; ok {
		delete(w.subs, key)
		w.dropLocked(s)
	}
}

// Close ends the watcher and every subscription; Add fails afterwards.
func (w *Watcher) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.subs {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	w.subs = map[string]*sub{}
	w.dirs = map[string]int{}
	w.closed = true
	if w.fsw != nil {
		w.fsw.Close()
		w.fsw = nil
	}
}

func (w *Watcher) addTreeLocked(s *sub, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // vanished or unreadable: not ours to watch
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && ignored(path, root, s.ignore) {
			return filepath.SkipDir
		}
		return w.addDirLocked(s, path)
	})
}

func (w *Watcher) addDirLocked(s *sub, dir string) error {
	if slices.Contains(s.dirs, dir) {
		return nil
	}
	if w.dirs[dir] == 0 {
		if err := w.fsw.Add(dir); err != nil {
			return fmt.Errorf("watch %s: %w", dir, explain(err))
		}
	}
	w.dirs[dir]++
	s.dirs = append(s.dirs, dir)
	return nil
}

func (w *Watcher) dropLocked(s *sub) {
	if s.timer != nil {
		s.timer.Stop()
	}
	for _, d := range s.dirs {
		if w.dirs[d]--; w.dirs[d] <= 0 {
			delete(w.dirs, d)
			if w.fsw != nil {
				w.fsw.Remove(d)
			}
		}
	}
	s.dirs = nil
}

// forgetLocked drops a watched directory that was removed or moved away:
// the kernel ended its watch, and one made again at the same path must
// be watched anew (addDirLocked skips a directory it still counts).
func (w *Watcher) forgetLocked(dir string) {
	if _, ok := w.dirs[dir]; !ok {
		return
	}
	delete(w.dirs, dir)
	w.fsw.Remove(dir) // gone already, or moved: either way not ours now
	for _, s := range w.subs {
		s.dirs = slices.DeleteFunc(s.dirs, func(d string) bool { return d == dir })
	}
}

// explain turns the kernel's "no more watches" into what to do about it.
func explain(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
		return fmt.Errorf("%w: the system's limit on watched directories is reached; raise it (sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512), or watch fewer directories (--watch=src, --watch-ignore)", err)
	}
	return err
}

func (w *Watcher) loop(fsw *fsnotify.Watcher) {
	for {
		select {
		case ev, ok := <-fsw.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case err, ok := <-fsw.Errors:
			if !ok {
				return
			}
			w.log.Warn("file watcher", "err", err)
		}
	}
}

// handle routes an event to the subscribers whose roots hold it, watches
// a directory created inside a watched tree, and (re)starts their
// debounce timers.
func (w *Watcher) handle(ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod {
		return // atime-like noise (and Spotlight on macOS)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename) {
		w.forgetLocked(ev.Name)
	}
	for _, s := range w.subs {
		root := s.rootOf(ev.Name)
		if root == "" || ignored(ev.Name, root, s.ignore) {
			continue
		}
		if ev.Op.Has(fsnotify.Create) {
			if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
				w.addTreeLocked(s, ev.Name)
			}
		}
		if !slices.Contains(s.pending, ev.Name) {
			s.pending = append(s.pending, ev.Name)
		}
		if s.timer == nil {
			s.timer = time.AfterFunc(w.debounce, func() { w.fire(s) })
		} else {
			s.timer.Reset(w.debounce)
		}
	}
}

// fire calls the subscriber with what changed, outside the lock.
func (w *Watcher) fire(s *sub) {
	w.mu.Lock()
	if w.subs[s.key] != s {
		w.mu.Unlock()
		return // removed or replaced meanwhile
	}
	changed := s.pending
	s.pending, s.timer = nil, nil
	w.mu.Unlock()
	if len(changed) > 0 {
		slices.Sort(changed)
		s.fn(changed)
	}
}

// rootOf returns the root of s that holds path, "" when none does.
func (s *sub) rootOf(path string) string {
	for _, r := range s.roots {
		if path == r || strings.HasPrefix(path, r+string(filepath.Separator)) {
			return r
		}
	}
	return ""
}

// CheckPattern reports a malformed ignore pattern (an unclosed [ or a
// trailing \): matching would treat it as never matching, so a typo would
// silently ignore nothing.
func CheckPattern(p string) error {
	if filepath.IsAbs(p) && !strings.ContainsAny(p, "*?[") {
		return nil // a path prefix, not a pattern
	}
	if _, err := filepath.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a valid pattern (%v); patterns use *, ? and [a-z] as in shell globs", p, err)
	}
	return nil
}

// AbsPattern makes an ignore pattern that names a path — it holds a
// separator: out/gen, ./build, dist/*.map — absolute against dir (the
// process's working directory), as --watch paths are: a relative pattern
// is matched against single names, which a path never equals, so it would
// silently ignore nothing. Others are returned as they are.
func AbsPattern(p, dir string) string {
	if filepath.IsAbs(p) || !strings.ContainsRune(p, filepath.Separator) {
		return p
	}
	return filepath.Join(dir, p)
}

// ignored reports whether path (below root) matches an ignore pattern: an
// absolute pattern is a path prefix, or, with *, ? or [, a glob matched
// against path and each directory above it (so what a matching directory
// holds is ignored too); any other is matched against each name below
// root.
func ignored(path, root string, patterns []string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for _, p := range patterns {
		if filepath.IsAbs(p) {
			p = filepath.Clean(p)
			if path == p || strings.HasPrefix(path, p+string(filepath.Separator)) {
				return true
			}
			if strings.ContainsAny(p, "*?[") {
				for q := path; q != filepath.Dir(q); q = filepath.Dir(q) {
					if ok, _ := filepath.Match(p, q); ok {
						return true
					}
				}
			}
			continue
		}
		for _, part := range parts {
			if ok, _ := filepath.Match(p, part); ok {
				return true
			}
		}
	}
	return false
}
