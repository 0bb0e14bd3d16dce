package service

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
)

// Imported is one service converted from another tool's file.
type Imported struct {
	Name    string       `json:"name"`
	Fields  []Assignment `json:"fields"`
	Env     []Assignment `json:"env,omitempty"`
	Skipped []string     `json:"skipped,omitempty"` // what could not be carried over, and why
}

// Text renders the definition of im.
func (im Imported) Text(origin string) []byte { return Render(origin, im.Fields, im.Env) }

// Import is the result of converting a file: services in the file's order.
type Import struct {
	Format   string     `json:"format"` // pm2, procfile, process-compose
	Services []Imported `json:"services"`
	Skipped  []string   `json:"skipped,omitempty"` // file-level settings not carried over
}

// FormatOf names the format of a file by its name: "pm2" (a .json, .js or
// .cjs ecosystem file), "procfile", "process-compose" (.yaml/.yml), or "".
func FormatOf(path string) string {
	base := strings.ToLower(filepath.Base(path))
	switch {
	case strings.HasPrefix(base, "procfile"):
		return "procfile"
	case strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml"):
		return "process-compose"
	case strings.HasSuffix(base, ".json") || strings.HasSuffix(base, ".js") || strings.HasSuffix(base, ".cjs"):
		return "pm2"
	}
	return ""
}

var unsafeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9_.-]+`) })

// serviceName makes a definition name of s: the characters a file name and
// a process name can carry.
func serviceName(s string) string {
	s = strings.Trim(unsafeName().ReplaceAllString(s, "-"), "-.")
	if s == "" {
		return "app"
	}
	return s
}

// portFrom moves PORT from env to the TSM_PORT field: tsm sets PORT itself
// from TSM_PORT, and checks that the port is free.
func portFrom(env []Assignment) (string, []Assignment) {
	for i, e := range env {
		if e.Key == "PORT" {
			if n, err := strconv.Atoi(e.Value); err == nil && n > 0 && n < 65536 {
				return e.Value, slices.Delete(slices.Clone(env), i, i+1)
			}
		}
	}
	return "", env
}

// envList turns a JSON/YAML object of variables into assignments, sorted.
func envList(m map[string]any) []Assignment {
	var out []Assignment
	for k, v := range m {
		out = append(out, Assignment{k, scalar(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// words renders args (a string or a list of strings) as command words.
func words(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var ws []string
		for _, w := range x {
			s := scalar(w)
			if s == "" || strings.ContainsAny(s, " \t\"'$\\|&;<>()*?[]#~`") {
				s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
			}
			ws = append(ws, s)
		}
		return strings.Join(ws, " ")
	}
	return ""
}

// ImportPM2 converts a PM2 ecosystem file's JSON ({"apps": [...]}, or the
// array alone). dir is the directory of the file: relative cwds are
// resolved against it.
func ImportPM2(data []byte, dir string) (*Import, error) {
	var doc struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		var apps []map[string]any
		if json.Unmarshal(data, &apps) != nil {
			return nil, fmt.Errorf("not a PM2 ecosystem file (JSON with an \"apps\" list): %v", err)
		}
		doc.Apps = apps
	}
	if len(doc.Apps) == 0 {
		return nil, fmt.Errorf("no apps: a PM2 ecosystem file lists them as {\"apps\": [{\"name\": ..., \"script\": ...}]}")
	}
	out := &Import{Format: "pm2"}
	for i, app := range doc.Apps {
		script := scalar(app["script"])
		if script == "" {
			return nil, fmt.Errorf("app %d has no \"script\"", i+1)
		}
		name := scalar(app["name"])
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(script), filepath.Ext(script))
		}
		im := Imported{Name: serviceName(name)}
		interp := scalar(app["interpreter"])
		if interp == "" {
			switch filepath.Ext(script) {
			case ".js", ".cjs", ".mjs":
				interp = "node"
			case ".py":
				interp = "python3"
			case ".sh":
				interp = "bash"
			case ".ts":
				interp = "npx ts-node"
			}
		}
		if interp == "none" {
			interp = ""
		}
		cmd := []string{}
		if interp != "" {
			cmd = append(cmd, interp)
			if ia := words(app["interpreter_args"]); ia != "" {
				cmd = append(cmd, ia)
			} else if na := words(app["node_args"]); na != "" {
				cmd = append(cmd, na)
			}
		}
		cmd = append(cmd, script)
		if a := words(app["args"]); a != "" {
			cmd = append(cmd, a)
		}
		cwd := scalar(app["cwd"])
		if cwd == "" {
			cwd = dir
		} else if !filepath.IsAbs(cwd) {
			cwd = filepath.Join(dir, cwd)
		}
		env, _ := app["env"].(map[string]any)
		port, exports := portFrom(envList(env))
		im.Env = exports
		im.Fields = []Assignment{{"TSM_NAME", im.Name}, {"TSM_COMMAND", strings.Join(cmd, " ")}, {"TSM_CWD", cwd}, {"TSM_PORT", port}}
		keys := make([]string, 0, len(app))
		for k := range app {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if note := pm2Note(k, app[k]); note != "" {
				im.Skipped = append(im.Skipped, note)
			}
		}
		out.Services = append(out.Services, im)
	}
	return out, nil
}

// pm2Note says why an app field is not carried over ("" when it is).
func pm2Note(k string, v any) string {
	if v == nil || v == false {
		return "" // off, as in tsm
	}
	switch k {
	case "name", "script", "args", "cwd", "interpreter", "interpreter_args", "node_args", "env":
		return ""
	case "instances":
		if n := scalar(v); n == "1" || n == "" {
			return ""
		}
		return fmt.Sprintf("instances=%s: tsm runs one process per definition; save more definitions, each with its own port", scalar(v))
	case "exec_mode":
		if scalar(v) == "fork" || scalar(v) == "fork_mode" {
			return ""
		}
		return "exec_mode=" + scalar(v) + ": tsm has no cluster mode; each process is a plain fork"
	case "autorestart":
		if scalar(v) == "false" {
			return "autorestart=false: start it with `tsm start --restart never`"
		}
		return ""
	case "max_restarts", "min_uptime", "kill_timeout":
		flag := strings.ReplaceAll(k, "_", "-")
		return fmt.Sprintf("%s=%s: give `tsm start --%s` (definitions carry no restart settings)", k, scalar(v), flag)
	case "max_memory_restart":
		return fmt.Sprintf("%s=%s: give `tsm start --max-memory %s` (definitions carry no limits)", k, scalar(v), scalar(v))
	case "cron_restart":
		return fmt.Sprintf("%s=%s: give `tsm start --cron-restart '%s'` (definitions carry no schedules)", k, scalar(v), scalar(v))
	case "watch", "ignore_watch":
		return k + ": definitions carry no watch settings; give `tsm start --watch[=PATHS] --watch-ignore PATTERN`"
	case "out_file", "error_file", "log_file", "merge_logs", "log_date_format", "combine_logs", "pid_file":
		return k + ": tsm keeps logs in the process directory (`tsm logs`)"
	}
	if strings.HasPrefix(k, "env_") {
		return k + ": only env is carried over; for another environment save another definition or use `tsm build` with an env.toml"
	}
	return k + ": not supported by tsm"
}

// ImportProcfile converts a Procfile (`name: command` lines). A command that
// uses $PORT gets TSM_PORT 5000+ (foreman's base); a .env next to the
// Procfile becomes the env file, as foreman would load it.
func ImportProcfile(data []byte, dir string) (*Import, error) {
	out := &Import{Format: "procfile"}
	envFile := ""
	if info, err := os.Stat(filepath.Join(dir, ".env")); err == nil && info.Mode().IsRegular() {
		envFile = filepath.Join(dir, ".env")
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(cmd) == "" || strings.ContainsAny(strings.TrimSpace(name), " \t") {
			return nil, fmt.Errorf("line %d: %q is not `name: command`", i+1, line)
		}
		cmd, name = strings.TrimSpace(cmd), strings.TrimSpace(name)
		if name == "release" {
			out.Skipped = append(out.Skipped, "release: Heroku's release phase is a one-off command, not a service; run it by hand before starting")
			continue
		}
		im := Imported{Name: serviceName(name)}
		port := ""
		if strings.Contains(cmd, "$PORT") || strings.Contains(cmd, "${PORT}") {
			port = "5000+"
		}
		im.Fields = []Assignment{{"TSM_NAME", im.Name}, {"TSM_COMMAND", cmd}, {"TSM_CWD", dir}, {"TSM_PORT", port}, {"TSM_ENV", envFile}}
		out.Services = append(out.Services, im)
	}
	if len(out.Services) == 0 {
		return nil, fmt.Errorf("no `name: command` lines")
	}
	return out, nil
}

// ImportCompose converts a process-compose.yaml: command, working_dir,
// environment, depends_on (TSM_DEPS) and an http_get or exec readiness
// probe (TSM_HEALTH_CHECK). Errors carry the line.
func ImportCompose(data []byte, dir string) (*Import, error) {
	var doc yaml.MapSlice
	if err := yaml.UnmarshalWithOptions(data, &doc, yaml.UseOrderedMap()); err != nil {
		return nil, fmt.Errorf("%s", yaml.FormatError(err, false, true))
	}
	out := &Import{Format: "process-compose"}
	var procs yaml.MapSlice
	var shared []Assignment
	for _, item := range doc {
		switch k := scalar(item.Key); k {
		case "processes":
			procs, _ = item.Value.(yaml.MapSlice)
		case "environment":
			shared = composeEnv(item.Value)
		case "version", "is_strict":
		default:
			out.Skipped = append(out.Skipped, k+": not supported by tsm")
		}
	}
	if len(procs) == 0 {
		return nil, fmt.Errorf("no processes: a process-compose file lists them under `processes:`")
	}
	for _, item := range procs {
		name := scalar(item.Key)
		p, _ := item.Value.(yaml.MapSlice)
		im := Imported{Name: serviceName(name)}
		var cmd, cwd, health string
		var deps []string
		env := slices.Clone(shared)
		for _, f := range p {
			switch k := scalar(f.Key); k {
			case "command":
				cmd = scalar(f.Value)
			case "working_dir":
				cwd = scalar(f.Value)
			case "environment":
				env = append(env, composeEnv(f.Value)...)
			case "depends_on":
				d, _ := f.Value.(yaml.MapSlice)
				for _, dep := range d {
					deps = append(deps, serviceName(scalar(dep.Key)))
					if c := scalar(lookup(dep.Value, "condition")); c == "process_completed_successfully" || c == "process_completed" {
						im.Skipped = append(im.Skipped, fmt.Sprintf("depends_on %s: %s: tsm starts it after %s is ready, not after it has finished", scalar(dep.Key), c, scalar(dep.Key)))
					}
				}
			case "readiness_probe":
				if h := lookup(f.Value, "http_get"); h != nil {
					scheme, host, path := scalar(lookup(h, "scheme")), scalar(lookup(h, "host")), scalar(lookup(h, "path"))
					if scheme == "" {
						scheme = "http"
					}
					if host == "" {
						host = "127.0.0.1"
					}
					health = fmt.Sprintf("%s://%s:%s%s", scheme, host, scalar(lookup(h, "port")), path)
				} else if e := lookup(f.Value, "exec"); e != nil {
					health = scalar(lookup(e, "command"))
				}
			case "namespace", "description":
			default:
				im.Skipped = append(im.Skipped, k+": not supported by tsm")
			}
		}
		if strings.TrimSpace(cmd) == "" {
			return nil, fmt.Errorf("process %s has no command", name)
		}
		switch {
		case cwd == "":
			cwd = dir
		case !filepath.IsAbs(cwd):
			cwd = filepath.Join(dir, cwd)
		}
		port, exports := portFrom(env)
		im.Env = exports
		im.Fields = []Assignment{{"TSM_NAME", im.Name}, {"TSM_COMMAND", cmd}, {"TSM_CWD", cwd}, {"TSM_PORT", port},
			{"TSM_DEPS", strings.Join(deps, " ")}, {"TSM_HEALTH_CHECK", health}}
		out.Services = append(out.Services, im)
	}
	return out, nil
}

// composeEnv reads process-compose's environment: a list of "K=V".
func composeEnv(v any) []Assignment {
	var out []Assignment
	list, _ := v.([]any)
	for _, e := range list {
		if k, val, ok := strings.Cut(scalar(e), "="); ok {
			out = append(out, Assignment{k, val})
		}
	}
	return out
}

// lookup returns key's value in an ordered YAML map, nil if absent.
func lookup(v any, key string) any {
	m, _ := v.(yaml.MapSlice)
	for _, it := range m {
		if scalar(it.Key) == key {
			return it.Value
		}
	}
	return nil
}

// ImportedNames lists the names of im's services.
func ImportedNames(im *Import) []string {
	out := make([]string, 0, len(im.Services))
	for _, s := range im.Services {
		out = append(out, s.Name)
	}
	return out
}
