package service

import (
	"bytes"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/tetra/tsm/internal/envfile"
)

// EnvFilePath is where the daemon will look for d's env file: a bare name
// like "local" is the project convention <cwd>/env/local.env, anything
// else a path relative to the service's cwd. "" when d has none.
func (d *Definition) EnvFilePath() string {
	e := d.Env
	if e == "" {
		return ""
	}
	if !strings.Contains(e, "/") && !strings.HasSuffix(e, ".env") {
		e = filepath.Join("env", e+".env")
	}
	if filepath.IsAbs(e) {
		return filepath.Clean(e)
	}
	return filepath.Join(d.Cwd, e)
}

// EnvFileVars reads d's env file for display (describe, --dry-run); the
// daemon reads it again when it starts the service.
func (d *Definition) EnvFileVars(environ []string) ([]envfile.Var, error) {
	path := d.EnvFilePath()
	if path == "" {
		return nil, nil
	}
	data, err := envfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	vars, err := envfile.Parse(bytes.NewReader(data), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	return vars, nil
}

// secretKey matches variable names whose values must not be shown.
var secretKey = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(pass|secret|token|key|auth|credential|private|cookie|session|dsn|signature|salt|cert)`)
})

// Redacted is what a secret value is shown as.
const Redacted = "********"

// Redact returns value as it may be shown for variable key: hidden when the
// name looks like a secret's, with a URL's password hidden otherwise.
func Redact(key, value string) string {
	if value == "" {
		return value
	}
	if secretKey().MatchString(key) {
		return Redacted
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return strings.Replace(u.String(), "xxxxx", Redacted, 1)
		}
	}
	return value
}

// urlPassword matches the password of a URL's user info (scheme://user:pw@).
var urlPassword = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]+@`) })

// RedactText hides URL passwords in free text such as a command line.
func RedactText(s string) string {
	return urlPassword().ReplaceAllString(s, "${1}"+Redacted+"@")
}
