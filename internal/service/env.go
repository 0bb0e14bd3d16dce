package service

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

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
