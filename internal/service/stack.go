package service

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tetra/tsm/internal/envfile"
	"github.com/tetra/tsm/internal/paths"
)

// Stack is a <name>.stack file: service names in start order, one a line
// (the first word counts), with # comments and blank lines.
type Stack struct {
	Name     string   `json:"name"`
	Org      string   `json:"org,omitempty"`
	Path     string   `json:"path"`
	Services []string `json:"services"`
	lines    []int    // line of each service, for errors
}

// ID is name, or org/name for an org's stack.
func (s *Stack) ID() string { return idOf(s.Org, s.Name) }

// loadStack reads a stack file (a regular file of at most envfile.MaxSize bytes).
func loadStack(path string) (*Stack, error) {
	data, err := envfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &Stack{Name: strings.TrimSuffix(filepath.Base(path), ".stack"), Path: path}
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		word := strings.Fields(l)[0]
		if !depNameRe().MatchString(word) {
			return nil, &SyntaxError{Path: path, Line: i + 1, Msg: fmt.Sprintf("%q is not a service name (one name or org/name a line)", word)}
		}
		s.Services = append(s.Services, word)
		s.lines = append(s.lines, i+1)
	}
	return s, nil
}

// stackPlaces lists the stack directories: $TSM_DIR/stacks, then each
// org's tsm/stacks (where the bash TSM kept them) in name order.
func (r *Registry) stackPlaces() []place {
	out := []place{{"", paths.Stacks(r.Root)}}
	orgs, _ := filepath.Glob(filepath.Join(r.TetraDir, "orgs", "*", "tsm", "stacks"))
	sort.Strings(orgs)
	for _, d := range orgs {
		out = append(out, place{filepath.Base(filepath.Dir(filepath.Dir(d))), d})
	}
	return out
}

// Stacks returns every stack file; unreadable ones are in problems.
func (r *Registry) Stacks() (stacks []*Stack, problems []error) {
	for _, p := range r.stackPlaces() {
		files, _ := filepath.Glob(filepath.Join(p.dir, "*.stack"))
		for _, f := range files {
			s, err := loadStack(f)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			s.Org = p.org
			stacks = append(stacks, s)
		}
	}
	return stacks, problems
}

// FindStack returns the stack named id (name or org/name), or a path to a
// .stack file. Errors as for Find.
func (r *Registry) FindStack(id string) (*Stack, error) {
	if strings.HasSuffix(id, ".stack") {
		return loadStack(id)
	}
	org, name, hasOrg := strings.Cut(id, "/")
	if !hasOrg {
		name, org = org, ""
	}
	stacks, problems := r.Stacks()
	var found []*Stack
	for _, s := range stacks {
		if s.Name == name && (!hasOrg || s.Org == org) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		for _, err := range problems {
			if strings.TrimSuffix(filepath.Base(errPath(err)), ".stack") == name {
				return nil, err
			}
		}
		var looked []string
		for _, p := range r.stackPlaces() {
			looked = append(looked, p.dir)
		}
		return nil, fmt.Errorf("no stack %q (looked in %s); write %s with one service a line",
			id, strings.Join(looked, ", "), filepath.Join(paths.Stacks(r.Root), name+".stack"))
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, s := range found {
		ids = append(ids, s.ID())
	}
	return nil, &AmbiguousError{ID: id, Candidates: ids}
}

func errPath(err error) string {
	if se, ok := err.(*SyntaxError); ok {
		return se.Path
	}
	return ""
}

// Order resolves a stack's services and their TSM_DEPS (transitively) to
// definitions in start order: each after its dependencies, otherwise in the
// order the stack lists them. A dependency cycle or an unknown service is
// an error naming it.
func (r *Registry) Order(s *Stack) ([]*Definition, error) {
	var out []*Definition
	done := map[string]bool{} // by file path
	visiting := map[string]bool{}
	var visit func(id string, chain []string) error
	visit = func(id string, chain []string) error {
		d, err := r.Find(id)
		if err != nil {
			if len(chain) > 0 {
				return fmt.Errorf("%s (a dependency of %s): %w", id, chain[len(chain)-1], err)
			}
			return err
		}
		if done[d.Path] {
			return nil
		}
		chain = append(chain, d.ID())
		if visiting[d.Path] {
			return fmt.Errorf("dependency cycle: %s; fix TSM_DEPS in one of them", strings.Join(chain, " → "))
		}
		visiting[d.Path] = true
		for _, dep := range d.Deps {
			if err := visit(dep, chain); err != nil {
				return err
			}
		}
		visiting[d.Path] = false
		done[d.Path] = true
		out = append(out, d)
		return nil
	}
	for i, id := range s.Services {
		if err := visit(id, nil); err != nil {
			return nil, fmt.Errorf("stack %s, line %d: %w", s.Path, s.lines[i], err)
		}
	}
	return out, nil
}

// DepOrder orders defs so that each comes after those of its TSM_DEPS that
// are among defs (by org/name, or by a bare name in any org), otherwise
// keeping their order: how startup and patrol start enabled services. A
// dependency outside defs is not added, and a cycle is broken where it
// closes (stack start reports cycles; a boot must still start everything).
func DepOrder(defs []*Definition) []*Definition {
	out := make([]*Definition, 0, len(defs))
	state := map[*Definition]int{} // 1 visiting, 2 done
	var visit func(d *Definition)
	visit = func(d *Definition) {
		if state[d] != 0 {
			return
		}
		state[d] = 1
		for _, dep := range d.Deps {
			for _, e := range defs {
				if e != d && (e.ID() == dep || e.fileName() == dep) {
					visit(e)
				}
			}
		}
		state[d] = 2
		out = append(out, d)
	}
	for _, d := range defs {
		visit(d)
	}
	return out
}
