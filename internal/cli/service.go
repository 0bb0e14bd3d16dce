package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/api"
	"github.com/tetra/tsm/internal/execctx"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/redact"
	"github.com/tetra/tsm/internal/service"
)

// registry is the service registry of this invocation's state directory.
func (a *App) registry() *service.Registry {
	home := a.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	tetra := a.Getenv("TETRA_DIR")
	if tetra == "" {
		tetra = filepath.Join(home, "tetra")
	}
	return &service.Registry{Root: a.root, TetraDir: tetra, Home: home, Environ: a.Environ()}
}

// serviceError gives definition errors their exit codes: 65 for a file
// that does not parse, 66 for a missing file.
func serviceError(err error) error {
	if err == nil {
		return nil
	}
	var se *service.SyntaxError
	switch {
	case errors.As(err, &se):
		return &exitError{code: ExitBadData, err: err}
	case service.IsNotExist(err):
		return &exitError{code: ExitMissingFile, err: err}
	}
	return err
}

// isDefinitionPath reports whether a start argument names a .tsm file.
func isDefinitionPath(arg string) bool { return strings.HasSuffix(arg, ".tsm") }

// loadDefinition reads a definition named on the command line: a path to a
// .tsm file, or a service name (org/name) from the registry. ok is false
// when arg is neither (then it is a command, for tsm start).
func (a *App) loadDefinition(arg string) (d *service.Definition, ok bool, err error) {
	if isDefinitionPath(arg) {
		cwd, err := a.Getwd()
		if err != nil {
			return nil, false, err
		}
		path := arg
		if !filepath.IsAbs(path) {
			path = filepath.Join(cwd, path)
		}
		d, err := service.Load(path, "", a.Environ())
		if err != nil {
			if service.IsNotExist(err) {
				err = fmt.Errorf("definition %s not found: %w", path, err)
			}
			return nil, true, serviceError(err)
		}
		return d, true, nil
	}
	d, err = a.registry().Find(arg)
	var nf *service.NotFoundError
	if errors.As(err, &nf) {
		return nil, false, err
	}
	if err != nil {
		return nil, true, serviceError(err)
	}
	return d, true, nil
}

// findDefinition is loadDefinition for commands that take only services.
func (a *App) findDefinition(arg string) (*service.Definition, error) {
	d, _, err := a.loadDefinition(arg)
	return d, err
}

// startRequest turns a definition into the daemon's start request: the
// definition's cwd, env file, pre-hook, port and name, and the caller's
// environment with the definition's exports on top.
func (a *App) startRequest(d *service.Definition) api.StartRequest {
	env := a.Environ()
	for _, v := range d.Exports {
		env = append(env, v.Key+"="+v.Value)
	}
	command, assigned := splitAssignments(d.Command)
	ctx := execctx.Capture()
	return api.StartRequest{
		Argv: []string{command}, Cwd: d.Cwd, Env: append(env, assigned...), Name: d.Name, Port: d.Port,
		EnvFile: d.EnvFilePath(), PreHook: d.PreCommand, Context: &ctx,
		Health: definitionHealth(d.HealthCheck),
	}
}

var assignWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=[^ \t]*$`) })

// splitAssignments moves leading VAR=value words of a plain command (as in
// built files' "PORT=8410 node server.js") into the environment, which is
// what a shell would do with them; the daemon would take VAR=value for the
// program. A command with other shell syntax runs under bash, which does it.
func splitAssignments(command string) (string, []string) {
	if strings.ContainsAny(command, "$`|&;<>()*?[]'\"\\~{}#") {
		return command, nil
	}
	words := strings.Fields(command)
	i := 0
	for i < len(words) && assignWord().MatchString(words[i]) {
		i++
	}
	if i == 0 || i == len(words) {
		return command, nil
	}
	return strings.Join(words[i:], " "), words[:i]
}

// portSuffix matches the "-PORT" the daemon appends to a base name.
var portSuffix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-[0-9]{1,5}$`) })

// processesOf returns the processes started from d: named d.Name, or
// d.Name-PORT (the daemon's naming of a process with a port).
func processesOf(d *service.Definition, procs []api.Process) []api.Process {
	var out []api.Process
	for _, p := range procs {
		if p.Name == d.Name || strings.HasPrefix(p.Name, d.Name) && portSuffix().MatchString(p.Name[len(d.Name):]) {
			out = append(out, p)
		}
	}
	return out
}

// active reports whether a process is running or about to: nothing should
// start another copy of it.
func active(p api.Process) bool {
	switch p.Row().StateWord() {
	case "online", "starting", "stopping", "backoff":
		return true
	}
	return false
}

// runningOf returns the first active process of d, if any.
func runningOf(d *service.Definition, procs []api.Process) (api.Process, bool) {
	for _, p := range processesOf(d, procs) {
		if active(p) {
			return p, true
		}
	}
	return api.Process{}, false
}

// startDefinition starts d and records the definition it started from.
func (a *App) startDefinition(ctx context.Context, d *service.Definition, req api.StartRequest) (api.Process, error) {
	p, err := a.client.Start(ctx, req)
	if err != nil {
		return p, fmt.Errorf("service %s: %w", d.ID(), err)
	}
	a.recordStarted(p.Name, d)
	return p, nil
}

// recordStarted keeps d as started under process name, for restart's
// "what changed". Losing it only loses that report, so errors are ignored.
func (a *App) recordStarted(name string, d *service.Definition) {
	dir := paths.ServicesStarted(a.root)
	if data, err := json.Marshal(d); err == nil && os.MkdirAll(dir, 0o700) == nil {
		writeFileMode(filepath.Join(dir, name+".json"), data, 0o600)
	}
}

// forgetStarted drops what recordStarted kept for a deleted process, so a
// later process of that name is not compared with a definition it never
// ran from.
func (a *App) forgetStarted(name string) {
	os.Remove(filepath.Join(paths.ServicesStarted(a.root), name+".json"))
}

// startedAs returns the definition process name was last started from.
func (a *App) startedAs(name string) (*service.Definition, bool) {
	data, err := os.ReadFile(filepath.Join(paths.ServicesStarted(a.root), name+".json"))
	if err != nil {
		return nil, false
	}
	var d service.Definition
	if json.Unmarshal(data, &d) != nil {
		return nil, false
	}
	return &d, true
}

// changes lists what differs between two versions of a definition, never
// with the values of variables.
func changes(old, cur *service.Definition) []string {
	var out []string
	field := func(name, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s: %q → %q", name, a, b))
		}
	}
	field("command", redact.Command(old.Command), redact.Command(cur.Command))
	field("cwd", old.Cwd, cur.Cwd)
	field("port", old.Port, cur.Port)
	field("env file", old.EnvFilePath(), cur.EnvFilePath())
	field("pre-hook", redact.Command(old.PreCommand), redact.Command(cur.PreCommand))
	oldEnv, curEnv := map[string]string{}, map[string]string{}
	for _, v := range old.Exports {
		oldEnv[v.Key] = v.Value
	}
	var vars []string
	for _, v := range cur.Exports {
		curEnv[v.Key] = v.Value
		if ov, ok := oldEnv[v.Key]; !ok {
			vars = append(vars, "+"+v.Key)
		} else if ov != v.Value {
			vars = append(vars, "~"+v.Key)
		}
	}
	for _, v := range old.Exports {
		if _, ok := curEnv[v.Key]; !ok {
			vars = append(vars, "-"+v.Key)
		}
	}
	if len(vars) > 0 {
		out = append(out, "environment: "+strings.Join(vars, " "))
	}
	return out
}

// restartService stops what runs from d, then starts it from the file as
// it is now, saying what changed since it was started.
func (a *App) restartService(cmd *cobra.Command, d *service.Definition) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	list, err := a.client.List(ctx)
	if err != nil {
		return err
	}
	old, running := runningOf(d, list.Processes)
	if running {
		if prev, ok := a.startedAs(old.Name); ok {
			if ch := changes(prev, d); len(ch) > 0 {
				fmt.Fprintf(out, "%s changed since it was started:\n", d.ID())
				for _, c := range ch {
					fmt.Fprintf(out, "  %s\n", c)
				}
			} else {
				fmt.Fprintf(out, "%s is unchanged since it was started\n", d.ID())
			}
		}
		if _, err := a.client.Stop(ctx, api.TargetsRequest{Targets: []string{strconv.Itoa(old.TsmID)}}); err != nil {
			return err
		}
	}
	p, err := a.startDefinition(ctx, d, a.startRequest(d))
	if err != nil {
		return err
	}
	if running && p.Name != old.Name {
		// A new port renamed it; the old entry would linger as stopped.
		if _, err := a.client.Delete(ctx, api.TargetsRequest{Targets: []string{strconv.Itoa(old.TsmID)}}); err == nil {
			a.forgetStarted(old.Name)
		}
	}
	fmt.Fprintf(out, "✔ restarted %s as %s  (id %d, pid %d%s)\n", d.ID(), p.Name, p.TsmID, p.PID, portNote(p))
	return nil
}

// describeView is what describe and --dry-run show, also as JSON.
type describeView struct {
	Service     string     `json:"service"`
	File        string     `json:"file"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Command     string     `json:"command"`
	Cwd         string     `json:"cwd"`
	Port        string     `json:"port"`
	EnvFile     string     `json:"env_file,omitempty"`
	PreHook     string     `json:"pre_hook,omitempty"`
	Deps        []string   `json:"deps,omitempty"`
	HealthCheck string     `json:"health_check,omitempty"`
	Environment []envEntry `json:"environment"`
	Enabled     bool       `json:"enabled"`
	Running     string     `json:"running,omitempty"` // process name when it runs
	Problems    []string   `json:"problems,omitempty"`
}

type envEntry struct {
	Key    string `json:"key"`
	Value  string `json:"value"` // secret-looking values are redacted
	Source string `json:"source"`
}

func (a *App) describe(ctx context.Context, d *service.Definition) describeView {
	v := describeView{
		Service: d.ID(), File: d.Path, Name: d.Name, Description: d.Description, Command: redact.Command(d.Command),
		Cwd: d.Cwd, Port: d.Port, EnvFile: d.EnvFilePath(), PreHook: redact.Command(d.PreCommand), Deps: d.Deps,
		HealthCheck: redact.Command(d.HealthCheck), Enabled: a.registry().IsEnabled(d), Environment: []envEntry{},
	}
	if v.Port == "" {
		v.Port = "none"
	}
	if info, err := os.Stat(d.Cwd); err != nil || !info.IsDir() {
		v.Problems = append(v.Problems, fmt.Sprintf("directory %s does not exist", d.Cwd))
	}
	vars, err := d.EnvFileVars(a.Environ())
	if err != nil {
		v.Problems = append(v.Problems, err.Error())
	}
	for _, e := range vars {
		v.Environment = append(v.Environment, envEntry{e.Key, redact.Value(e.Key, e.Value), "env file"})
	}
	for _, e := range d.Exports {
		v.Environment = append(v.Environment, envEntry{e.Key, redact.Value(e.Key, e.Value), "export"})
	}
	if a.client.Running(ctx) {
		if list, err := a.client.List(ctx); err == nil {
			if p, ok := runningOf(d, list.Processes); ok {
				v.Running = fmt.Sprintf("%s (id %d, pid %d)", p.Name, p.TsmID, p.PID)
			}
		}
	}
	return v
}

func printDescribe(w io.Writer, v describeView) error {
	tw := api.NewColumns(w)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, val)
		}
	}
	row("service", v.Service)
	row("file", v.File)
	row("name", v.Name)
	row("description", v.Description)
	row("command", v.Command)
	row("cwd", v.Cwd)
	if v.Running == "" {
		row("port", portHint(v.Port))
	} else {
		row("port", v.Port)
	}
	row("env file", v.EnvFile)
	row("pre-hook", v.PreHook)
	row("deps", strings.Join(v.Deps, ", "))
	row("health check", v.HealthCheck)
	if v.File != "" { // a definition, not a command
		row("enabled", yesNo(v.Enabled))
	}
	if v.Running == "" {
		row("running", "no")
	} else {
		row("running", v.Running)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Environment) > 0 {
		fmt.Fprintln(w, "environment (besides yours; PORT is set to the port):")
		for _, e := range v.Environment {
			fmt.Fprintf(w, "  %s=%s  (%s)\n", e.Key, e.Value, e.Source)
		}
	}
	for _, p := range v.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *App) newDescribeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "describe <service|file.tsm>",
		Short: "Show what a service definition would run, without starting it",
		Long: `Describe reads a service definition (a name from services-available, org/name,
or a path to a .tsm file) and shows what ` + "`tsm start`" + ` would run: command,
working directory, port, env file, pre-hook and the environment it adds.
Values of variables whose names look secret (PASSWORD, TOKEN, KEY, SECRET,
...) and passwords in URLs are shown as ` + redact.Mask + `.`,
		Example: "  tsm describe devpages\n  tsm describe ./api.tsm --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.findDefinition(args[0])
			if err != nil {
				return err
			}
			v := a.describe(cmd.Context(), d)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return printDescribe(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the description as JSON")
	return cmd
}

// overlay applies the flags given to `tsm start <service>` over the
// definition's request.
func overlay(cmd *cobra.Command, req *api.StartRequest, flags api.StartRequest) {
	f := cmd.Flags()
	if f.Changed("name") {
		req.Name = flags.Name
	}
	if f.Changed("port") {
		req.Port = flags.Port
	}
	if f.Changed("env") {
		req.EnvFile = flags.EnvFile
	}
	if f.Changed("pre-hook") {
		req.PreHook = flags.PreHook
	}
	if f.Changed("cwd") {
		req.WorkDir = flags.WorkDir
	}
	req.Stdin, req.Context = flags.Stdin, flags.Context
	req.Restart, req.MaxRestarts, req.MinUptimeMillis, req.WaitMillis = flags.Restart, flags.MaxRestarts, flags.MinUptimeMillis, flags.WaitMillis
	req.StopSignal, req.KillSignal, req.KillTimeoutMillis = flags.StopSignal, flags.KillSignal, flags.KillTimeoutMillis
	overlayWatchers(cmd, req, flags) // limits.go
}

// dryRun prints what a start would run. For a definition that is its
// description; for a command, what the daemon resolves it to now (name,
// port, program), as a start would, starting nothing.
func (a *App) dryRun(cmd *cobra.Command, d *service.Definition, req api.StartRequest, asJSON bool) error {
	if d == nil {
		plan, err := a.client.Plan(cmd.Context(), req)
		if errors.Is(err, errors.ErrUnsupported) {
			return fmt.Errorf("the running daemon predates start --dry-run (%v), so nothing was started; `tsm daemon stop` (services keep running) lets the next command start this version's daemon", err)
		}
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), plan)
		}
		printPlan(cmd.OutOrStdout(), plan)
		fmt.Fprintln(cmd.OutOrStdout(), "dry run: nothing was started")
		return nil
	}
	d.Name, d.Port, d.PreCommand = req.Name, req.Port, req.PreHook
	if req.EnvFile != d.EnvFilePath() {
		d.Env = req.EnvFile
	}
	v := a.describe(cmd.Context(), d)
	if asJSON {
		return printJSON(cmd.OutOrStdout(), v)
	}
	if err := printDescribe(cmd.OutOrStdout(), v); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "dry run: nothing was started")
	return nil
}

// printPlan shows how a command would start, as describe shows a service.
func printPlan(w io.Writer, p api.Plan) {
	port := "none"
	if p.Port > 0 {
		port = strconv.Itoa(p.Port)
		if p.PortSource != "" {
			port += " (from " + p.PortSource + ")"
		}
	}
	rows := [][2]string{{"name", p.Name}, {"command", p.Command}, {"program", p.Program}, {"type", p.Type}, {"cwd", p.Cwd}, {"port", port}}
	if p.EnvFile != "" {
		rows = append(rows, [2]string{"env file", p.EnvFile})
	}
	if p.PreHook != "" {
		rows = append(rows, [2]string{"pre-hook", p.PreHook})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-9s %s\n", r[0], r[1])
	}
}

// sortedIDs is for messages listing definitions.
func sortedIDs(defs []*service.Definition) []string {
	ids := service.Names(defs)
	slices.Sort(ids)
	return ids
}

// startArgs serves `tsm start` for what is not a plain command: a service
// name or a .tsm file (started from its definition, with the start flags
// given on top), and --dry-run. handled is false for a plain command to
// start; a dry run returns handled with a zero Process.
func (a *App) startArgs(cmd *cobra.Command, flags api.StartRequest, dryRun bool) (p api.Process, handled bool, err error) {
	var d *service.Definition
	if arg := flags.Argv[0]; len(flags.Argv) == 1 && (isDefinitionPath(arg) || !strings.ContainsAny(arg, " \t")) {
		var isDef bool
		if d, isDef, err = a.loadDefinition(arg); err != nil && isDef {
			return p, true, err
		}
	}
	asJSON, _ := cmd.Flags().GetBool("json")
	if d == nil {
		if dryRun {
			return p, true, a.dryRun(cmd, nil, flags, asJSON)
		}
		return p, false, nil
	}
	req := a.startRequest(d)
	overlay(cmd, &req, flags)
	list, err := a.client.List(cmd.Context())
	if err != nil {
		return p, true, err
	}
	if old, ok := runningOf(d, list.Processes); ok {
		// A dry run fails as the start would.
		return p, true, fmt.Errorf("service %s is already running as %s (id %d, pid %d); `tsm restart %s` re-reads its definition",
			d.ID(), old.Name, old.TsmID, old.PID, d.ID())
	}
	if dryRun {
		return p, true, a.dryRun(cmd, d, req, asJSON)
	}
	p, err = a.startDefinition(cmd.Context(), d, req)
	return p, true, err
}

// portHint says what a start would get from port ("N", "N+", "none") now:
// whether N is free, and which port N+ would take.
func portHint(port string) string {
	base, plus := strings.CutSuffix(port, "+")
	n, err := strconv.Atoi(base)
	if err != nil {
		return port
	}
	if !plus {
		if !portFree(n) {
			return port + " (busy now: the start would fail until it is free)"
		}
		return port
	}
	for p := n; p <= 65535 && p < n+1000; p++ {
		if portFree(p) {
			return fmt.Sprintf("%s (the first free port from %d: %d now)", port, n, p)
		}
	}
	return port + " (the first free port from " + base + ")"
}

// portFree probes port as the daemon does: nothing listens on it.
func portFree(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
