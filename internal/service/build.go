package service

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"

	"github.com/tetra/tsm/internal/envfile"
	"github.com/tetra/tsm/internal/redact"
)

// BuiltMarker starts the header of every file tsm build writes (the bash
// TSM's marker, which `tsm promote` looks for).
const BuiltMarker = "Generated from env.toml"

// envOrder is the implicit inheritance chain of env names.
var envOrder = []string{"local", "dev", "staging", "prod"}

// EnvToml is a parsed env.toml: a [service] section, [shared] and
// [secrets] variables, and one section per environment.
type EnvToml struct {
	Path        string // absolute
	Project     string // the project directory relative paths resolve against
	Name        string
	Command     string
	Description string
	Org         string
	shared      map[string]string
	secrets     map[string]string
	envs        map[string]map[string]string
	src         []string // lines, for line numbers of errors
}

// envNames lists the environment sections.
func (t *EnvToml) envNames() []string {
	names := make([]string, 0, len(t.envs))
	for n := range t.envs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lineOf finds the line of key in [section] (0 if not found).
func (t *EnvToml) lineOf(section, key string) int {
	cur := ""
	assign := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	for i, l := range t.src {
		if m := sectionRe().FindStringSubmatch(l); m != nil {
			cur = m[1]
			if key == "" && cur == section {
				return i + 1
			}
			continue
		}
		if cur == section && key != "" && assign.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

func (t *EnvToml) errorf(section, key, format string, a ...any) error {
	return &SyntaxError{Path: t.Path, Line: t.lineOf(section, key), Msg: fmt.Sprintf(format, a...)}
}

// LoadEnvToml reads an env.toml. It is real TOML (a strict superset of the
// bash TSM's line grammar, except that TOML wants strings quoted:
// `key = some words` must become `key = "some words"`). Values are strings,
// numbers or booleans; errors are *SyntaxError with the line.
func LoadEnvToml(path, tetraOrg string) (*EnvToml, error) {
	data, err := envfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// A byte order mark (Windows editors write one) is no TOML;
	// BurntSushi/toml, which read env.toml before, skipped it.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			msg := strings.TrimPrefix(de.Error(), "toml: ")
			if lines := strings.Split(string(data), "\n"); row >= 1 && row <= len(lines) && bareValue(lines[row-1]) {
				msg += ` (env.toml is TOML: quote string values, key = "value"; the bash TSM's line reader accepted them bare)`
			}
			return nil, &SyntaxError{Path: abs, Line: row, Msg: msg}
		}
		return nil, &SyntaxError{Path: abs, Msg: err.Error()}
	}
	t := &EnvToml{Path: abs, envs: map[string]map[string]string{}, src: strings.Split(string(data), "\n")}
	t.Project = filepath.Dir(abs)
	if filepath.Base(t.Project) == "tsm" {
		// The convention: <project>/tsm/env.toml.
		t.Project = filepath.Dir(t.Project)
	}
	for section, v := range raw {
		table, ok := v.(map[string]any)
		if !ok {
			return nil, t.errorf("", section, "%s = ... is outside any section; put it under [service], [shared], [secrets] or an environment like [dev]", section)
		}
		vars := map[string]string{}
		for k, val := range table {
			switch x := val.(type) {
			case string:
				vars[k] = x
			case int64:
				vars[k] = strconv.FormatInt(x, 10)
			case float64:
				vars[k] = strconv.FormatFloat(x, 'f', -1, 64)
			case bool:
				vars[k] = strconv.FormatBool(x)
			default:
				return nil, t.errorf(section, k, "[%s] %s: only strings, numbers and booleans are supported, not %T", section, k, val)
			}
		}
		switch section {
		case "service":
			for k := range vars {
				if !slices.Contains([]string{"name", "command", "description", "org"}, k) {
					return nil, t.errorf(section, k, "[service] has name, command, description and org, not %s", k)
				}
			}
			t.Name, t.Command, t.Description, t.Org = vars["name"], vars["command"], vars["description"], vars["org"]
		case "shared":
			t.shared = vars
		case "secrets":
			t.secrets = vars
		default:
			t.envs[section] = vars
		}
	}
	if t.Name == "" {
		return nil, t.errorf("service", "", "[service] needs name = \"...\"")
	}
	if !validName(t.Name) {
		return nil, t.errorf("service", "name", "[service] name %q must be letters, digits, '.', '_' and '-'", t.Name)
	}
	if strings.TrimSpace(t.Command) == "" {
		return nil, t.errorf("service", "", "[service] needs command = \"...\"")
	}
	if t.Org == "" {
		t.Org = tetraOrg
	}
	if t.Org == "" {
		t.Org = "tetra"
	}
	return t, nil
}

// bareValue reports whether line assigns a value that TOML cannot read but
// the bash TSM's line reader took as a string: key = some words.
func bareValue(line string) bool {
	_, v, ok := strings.Cut(line, "=")
	v = strings.TrimSpace(v)
	if !ok || v == "" || strings.ContainsRune(`"'[{+-.0123456789`, rune(v[0])) {
		return false
	}
	word, _, _ := strings.Cut(v, " ")
	return !slices.Contains([]string{"true", "false", "inf", "nan"}, word)
}

// Chain returns the environments env inherits from, oldest first, ending
// with env: an explicit inherit = "<env>" (followed recursively), else the
// implicit local → dev → staging → prod order (sections that exist), and
// local for any other name.
func (t *EnvToml) Chain(env string) ([]string, error) {
	if _, ok := t.envs[env]; !ok {
		return nil, fmt.Errorf("%s has no [%s] section (it has: %s)", t.Path, env, strings.Join(t.envNames(), ", "))
	}
	var rev []string
	seen := map[string]bool{}
	for cur := env; cur != ""; {
		if seen[cur] {
			return nil, t.errorf(cur, "inherit", "inheritance cycle: %s", strings.Join(append(rev, cur), " → "))
		}
		seen[cur] = true
		rev = append(rev, cur)
		vars := t.envs[cur]
		if parent, ok := vars["inherit"]; ok {
			if _, exists := t.envs[parent]; !exists {
				return nil, t.errorf(cur, "inherit", "[%s] inherits %q, which has no section", cur, parent)
			}
			cur = parent
			continue
		}
		i := slices.Index(envOrder, cur)
		next := ""
		switch {
		case i == -1 && cur != "local":
			next = "local"
		case i > 0:
			for j := i - 1; j >= 0; j-- {
				if _, ok := t.envs[envOrder[j]]; ok {
					next = envOrder[j]
					break
				}
			}
		}
		if _, ok := t.envs[next]; !ok {
			next = ""
		}
		cur = next
	}
	slices.Reverse(rev)
	return rev, nil
}

// Built is one environment's definition, ready to write.
type Built struct {
	Env      string
	FileName string   // <name>-<env>.tsm
	Chain    []string // inheritance, oldest first
	Text     []byte
	// Redacted is Text with the values of [secrets] hidden (for --dry-run).
	Redacted []byte
	// Secret: Text holds values from [secrets] (write it 0600).
	Secret bool
}

var (
	sectionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*\[\s*([^\]\s]+)\s*\]`) })
	varName   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
)

var varRef = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
})

// Build renders env. [shared], then the chain oldest first, then [secrets]
// (each "$VAR" in them from secrets.env vars, then environ; a missing one is
// an error); PORT defaults to 8080; values starting with ./ or ../ (or . and
// ..) become absolute paths in the project; $KEY in the command is replaced
// when KEY is one of the variables, and left for the shell otherwise.
func (t *EnvToml) Build(env string, secretVars []envfile.Var, environ []string) (*Built, error) {
	chain, err := t.Chain(env)
	if err != nil {
		return nil, err
	}
	merged := map[string]string{}
	for k, v := range t.shared {
		merged[k] = v
	}
	for _, e := range chain {
		for k, v := range t.envs[e] {
			if k != "inherit" {
				merged[k] = v
			}
		}
	}
	lookup := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			lookup[k] = v
		}
	}
	for _, v := range secretVars {
		lookup[v.Key] = v.Value
	}
	secretKeys := map[string]bool{}
	for k, v := range t.secrets {
		var missing []string
		val := varRef().ReplaceAllStringFunc(v, func(ref string) string {
			name := strings.Trim(ref, "${}")
			x, ok := lookup[name]
			if !ok {
				missing = append(missing, name)
			}
			return x
		})
		if len(missing) > 0 {
			return nil, t.errorf("secrets", k, "[secrets] %s needs %s, set in neither secrets.env nor your environment", k, strings.Join(missing, ", "))
		}
		merged[k], secretKeys[k] = val, true
	}
	if merged["PORT"] == "" {
		merged["PORT"] = "8080"
	}
	for k, v := range merged {
		if v == "." || v == ".." || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../") {
			merged[k] = filepath.Join(t.Project, v)
		}
	}
	cwd := t.Project
	if c, ok := merged["cwd"]; ok {
		// "$HOME/src/x" is left for the reader of the built file to expand.
		if !filepath.IsAbs(c) && !strings.HasPrefix(c, "$") {
			c = filepath.Join(t.Project, c)
		}
		cwd = c
		delete(merged, "cwd")
	}
	// hide: a [secrets] value the command names is shown as the mask, as
	// its export is (--dry-run printed TSM_COMMAND with the secret in it).
	command := func(hide bool) string {
		return varRef().ReplaceAllStringFunc(t.Command, func(ref string) string {
			k := strings.Trim(ref, "${}")
			if v, ok := merged[k]; ok {
				if hide && secretKeys[k] {
					return redact.Mask
				}
				return v
			}
			return ref
		})
	}
	port := merged["PORT"]
	if n, err := strconv.Atoi(strings.TrimSuffix(port, "+")); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("%s: PORT %q for %s is not a port", t.Path, port, env)
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		if !varName().MatchString(k) {
			return nil, t.errorf(env, k, "%s is not a variable name (letters, digits and _)", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := &Built{Env: env, FileName: t.Name + "-" + env + ".tsm", Chain: chain, Secret: len(secretKeys) > 0}
	render := func(hide bool) []byte {
		var w bytes.Buffer
		fmt.Fprintf(&w, "#!/usr/bin/env bash\n# %s (env: %s) by tsm build; edit env.toml, not this file.\n", BuiltMarker, env)
		fmt.Fprintf(&w, "# Regenerate: tsm build %s\n# Source: %s\n# Inheritance: %s\n", env, t.Path, strings.Join(chain, " → "))
		fmt.Fprintf(&w, "TSM_NAME=%s\nTSM_COMMAND=%s\nTSM_PORT=%s\nTSM_CWD=%s\n", quote(t.Name+"-"+env), quoteExpand(command(hide)), port, quoteExpand(cwd))
		if t.Description != "" {
			fmt.Fprintf(&w, "TSM_DESCRIPTION=%s\n", quoteExpand(t.Description))
		}
		for _, k := range keys {
			v := quoteExpand(merged[k])
			switch {
			case hide && secretKeys[k]:
				v = redact.Mask
			case secretKeys[k]:
				// A resolved secret is literal: a $ in it is not a variable.
				v = quote(merged[k])
			}
			fmt.Fprintf(&w, "export %s=%s\n", k, v)
		}
		return w.Bytes()
	}
	b.Text, b.Redacted = render(false), render(true)
	if _, err := Parse(b.FileName, "/", b.Text, nil); err != nil {
		return nil, fmt.Errorf("%s: the built definition for %s would not read back: %v", t.Path, env, err)
	}
	return b, nil
}

// SecretsFile is where [secrets] values come from:
// $TETRA_DIR/orgs/<org>/secrets.env (parsed, never sourced).
func (t *EnvToml) SecretsFile(tetraDir string) string {
	return filepath.Join(tetraDir, "orgs", t.Org, "secrets.env")
}

// LoadSecrets parses path; a missing file gives no variables.
func LoadSecrets(path string) ([]envfile.Var, error) {
	data, err := envfile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	vars, err := envfile.Parse(bytes.NewReader(data), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}

// IsBuilt reports whether data is a file tsm build (or the bash TSM's
// build) wrote.
func IsBuilt(data []byte) bool { return bytes.Contains(data, []byte(BuiltMarker)) }
