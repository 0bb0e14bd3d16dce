package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tetra/tsm/internal/paths"
)

// Registry finds definitions in $TSM_DIR/services-available and in every
// $TETRA_DIR/orgs/<org>/tsm/services-available, and keeps the enabled set
// as links in $TSM_DIR/services-enabled (the bash TSM's layout).
type Registry struct {
	Root     string   // the state directory ($TSM_DIR)
	TetraDir string   // $TETRA_DIR, else ~/tetra
	Home     string   // a definition without TSM_CWD runs here
	Environ  []string // expansion of $HOME, $TETRA_DIR, ... in definitions
}

// NotFoundError: no definition has that name.
type NotFoundError struct {
	ID     string
	Looked []string // the directories searched
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no service %q (looked in %s); `tsm list available` shows the services there, `tsm save %s <command>` writes one",
		e.ID, strings.Join(e.Looked, ", "), e.ID)
}

// AmbiguousError: a bare name exists in several places.
type AmbiguousError struct {
	ID         string
	Candidates []string // their org/name IDs
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("service %q exists in several places: %s; name one of them", e.ID, strings.Join(e.Candidates, ", "))
}

type place struct{ org, dir string }

// places lists the definition directories: $TSM_DIR's first, then the
// orgs' in name order.
func (r *Registry) places() []place {
	out := []place{{"", paths.ServicesAvailable(r.Root)}}
	orgs, _ := filepath.Glob(filepath.Join(r.TetraDir, "orgs", "*", "tsm", "services-available"))
	sort.Strings(orgs)
	for _, d := range orgs {
		org := filepath.Base(filepath.Dir(filepath.Dir(d)))
		out = append(out, place{org, d})
	}
	return out
}

// Find returns the definition named id: "name" or "org/name". A bare name
// found in more than one place is an *AmbiguousError; none is a
// *NotFoundError; a file that does not parse is its *SyntaxError.
func (r *Registry) Find(id string) (*Definition, error) {
	org, name, hasOrg := strings.Cut(id, "/")
	if !hasOrg {
		name, org = org, ""
	}
	if !validName(name) || (hasOrg && !validName(org)) {
		// Not a name a definition can have (a path, a command line).
		return nil, &NotFoundError{ID: id, Looked: []string{paths.ServicesAvailable(r.Root)}}
	}
	var found []place
	var looked []string
	for _, p := range r.places() {
		if hasOrg && p.org != org {
			continue
		}
		looked = append(looked, p.dir)
		if _, err := os.Stat(filepath.Join(p.dir, name+".tsm")); err == nil {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		if hasOrg && len(looked) == 0 {
			looked = []string{filepath.Join(r.TetraDir, "orgs", org, "tsm", "services-available")}
		}
		return nil, &NotFoundError{ID: id, Looked: looked}
	case 1:
		return r.load(found[0], filepath.Join(found[0].dir, name+".tsm"))
	}
	var ids []string
	for _, p := range found {
		ids = append(ids, idOf(p.org, name))
	}
	return nil, &AmbiguousError{ID: id, Candidates: ids}
}

func idOf(org, name string) string {
	if org == "" {
		return name
	}
	return org + "/" + name
}

func validName(s string) bool {
	return s != "" && s != "." && s != ".." && depNameRe().MatchString(s) && !strings.Contains(s, "/")
}

func (r *Registry) load(p place, path string) (*Definition, error) {
	if err := checkOwned(path); err != nil {
		return nil, err
	}
	d, err := Load(path, r.Home, r.Environ)
	if err != nil {
		return nil, err
	}
	d.Org = p.org
	return d, nil
}

// Available returns every definition, $TSM_DIR's first, each place in name
// order. A file that cannot be read or parsed is reported in problems and
// skipped.
func (r *Registry) Available() (defs []*Definition, problems []error) {
	for _, p := range r.places() {
		files, _ := filepath.Glob(filepath.Join(p.dir, "*.tsm"))
		for _, f := range files {
			d, err := r.load(p, f)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			defs = append(defs, d)
		}
	}
	return defs, problems
}

// Enabled returns the definitions linked from $TSM_DIR/services-enabled, in
// link name order. A dangling link or a bad file is reported in problems.
func (r *Registry) Enabled() (defs []*Definition, problems []error) {
	links, _ := filepath.Glob(filepath.Join(paths.ServicesEnabled(r.Root), "*.tsm"))
	for _, l := range links {
		target, err := filepath.EvalSymlinks(l)
		if err != nil {
			problems = append(problems, fmt.Errorf("enabled service %s points to a missing file; `tsm disable %s` removes it", l, strings.TrimSuffix(filepath.Base(l), ".tsm")))
			continue
		}
		d, err := r.load(r.placeOf(target), target)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		defs = append(defs, d)
	}
	return defs, problems
}

// placeOf names the org whose services-available holds path ("" otherwise).
func (r *Registry) placeOf(path string) place {
	dir := filepath.Dir(path)
	for _, p := range r.places() {
		if real, err := filepath.EvalSymlinks(p.dir); err == nil && real == dir || p.dir == dir {
			return p
		}
	}
	return place{dir: dir}
}

// enabledLinks returns the links in services-enabled that lead to d's file.
func (r *Registry) enabledLinks(d *Definition) []string {
	want, err := filepath.EvalSymlinks(d.Path)
	if err != nil {
		return nil
	}
	links, _ := filepath.Glob(filepath.Join(paths.ServicesEnabled(r.Root), "*.tsm"))
	var out []string
	for _, l := range links {
		if t, err := filepath.EvalSymlinks(l); err == nil && t == want {
			out = append(out, l)
		}
	}
	return out
}

// IsEnabled reports whether a link in services-enabled leads to d's file.
func (r *Registry) IsEnabled(d *Definition) bool { return len(r.enabledLinks(d)) > 0 }

// Enable links d into services-enabled: <name>.tsm, relative, for
// $TSM_DIR's definitions (the bash TSM's own link), <org>-<name>.tsm,
// absolute, for an org's, <name>.tsm, absolute, for a file elsewhere. It
// reports false when d was enabled already.
func (r *Registry) Enable(d *Definition) (bool, error) {
	if r.IsEnabled(d) {
		return false, nil
	}
	if err := r.checkRoot(); err != nil {
		return false, err
	}
	dir := paths.ServicesEnabled(r.Root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	link, target := filepath.Join(dir, d.fileName()+".tsm"), d.Path
	switch {
	case d.Org != "":
		link = filepath.Join(dir, d.Org+"-"+d.fileName()+".tsm")
	case filepath.Dir(d.Path) == paths.ServicesAvailable(r.Root):
		target = filepath.Join("..", "services-available", filepath.Base(d.Path))
	}
	if err := os.Symlink(target, link); err != nil {
		if errors.Is(err, fs.ErrExist) {
			old, _ := os.Readlink(link)
			return false, fmt.Errorf("%s already exists and leads to %s, not %s; remove it first", link, old, d.Path)
		}
		return false, err
	}
	return true, nil
}

// Disable removes every link in services-enabled that leads to d's file. It
// reports false when there was none.
func (r *Registry) Disable(d *Definition) (bool, error) {
	links := r.enabledLinks(d)
	for _, l := range links {
		if err := os.Remove(l); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return len(links) > 0, nil
}

// DisableMissing removes the enabled link named name whose file is gone (a
// dangling link `tsm list enabled` reported). It reports whether it did.
func (r *Registry) DisableMissing(name string) bool {
	l := filepath.Join(paths.ServicesEnabled(r.Root), name+".tsm")
	if _, err := os.Lstat(l); err != nil {
		return false
	}
	if _, err := os.Stat(l); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return os.Remove(l) == nil
}

// Write stores content as $TSM_DIR/services-available/<name>.tsm. An
// existing file is an error (wrapping fs.ErrExist) unless force; the file is
// written whole or not at all.
func (r *Registry) Write(name string, content []byte, force bool) (string, error) {
	if err := r.checkRoot(); err != nil {
		return "", err
	}
	return writeNew(paths.ServicesAvailable(r.Root), name, ".tsm", content, force)
}

// WriteStack stores content as $TSM_DIR/stacks/<name>.stack, as Write does.
func (r *Registry) WriteStack(name string, content []byte, force bool) (string, error) {
	if err := r.checkRoot(); err != nil {
		return "", err
	}
	return writeNew(paths.Stacks(r.Root), name, ".stack", content, force)
}

// Exists reports whether Write or WriteStack (ext ".tsm" or ".stack")
// would find name taken.
func (r *Registry) Exists(name, ext string) (string, bool) {
	dir := paths.ServicesAvailable(r.Root)
	if ext == ".stack" {
		dir = paths.Stacks(r.Root)
	}
	path := filepath.Join(dir, name+ext)
	_, err := os.Lstat(path)
	return path, err == nil
}

func writeNew(dir, name, ext string, content []byte, force bool) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("%q is not a valid name: use letters, digits, '.', '_' and '-'", name)
	}
	// Private, as the rest of the state: a definition holds a command, a
	// pre-command and exports, any of which may carry a secret.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+ext)
	exists := fmt.Errorf("%s already exists; pass --force to replace it: %w", path, fs.ErrExist)
	if _, err := os.Lstat(path); err == nil && !force {
		return "", exists
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if force {
		return path, os.Rename(tmp.Name(), path)
	}
	// Link, not rename: it fails if the file appeared since the check.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", exists
		}
		return "", err
	}
	return path, nil
}

// Lock takes the exclusive services lock (paths.ServicesLock), waiting for
// a pass of startup or patrol in another process to finish. The returned
// function releases it.
func (r *Registry) Lock() (func(), error) {
	if err := r.checkRoot(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Root, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(paths.ServicesLock(r.Root), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the services lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// Names returns the IDs of defs.
func Names(defs []*Definition) []string {
	out := make([]string, 0, len(defs))
	for _, d := range defs {
		out = append(out, d.ID())
	}
	return slices.Clip(out)
}

// checkOwned refuses a definition that someone else could have written:
// startup runs what it says, as the caller (root, at boot). The file (after
// links) and its directory must belong to the caller and not be writable
// by group or others, as ssh demands of ~/.ssh.
func checkOwned(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for _, p := range []string{real, filepath.Dir(real)} {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		switch {
		case !ok:
		case int(st.Uid) != os.Geteuid():
			return fmt.Errorf("refusing %s: %s belongs to uid %d, not to you (uid %d); tsm starts only definitions of your own", path, p, st.Uid, os.Geteuid())
		case fi.Mode().Perm()&0o022 != 0:
			return fmt.Errorf("refusing %s: others can write to %s (mode %o); run `chmod go-w %s`", path, p, fi.Mode().Perm(), p)
		}
	}
	return nil
}

// checkRoot is paths.CheckPrivate before anything is created in the state
// directory.
func (r *Registry) checkRoot() error { return paths.CheckPrivate(r.Root) }
