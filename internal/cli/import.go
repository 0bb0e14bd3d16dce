package cli

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/envfile"
	"github.com/tetra/tsm/internal/service"
)

func (a *App) newImportCmd() *cobra.Command {
	var allowExec, dryRun, force, asJSON bool
	var stackName string
	cmd := &cobra.Command{
		Use:   "import <ecosystem.config.json|Procfile|process-compose.yaml>",
		Short: "Turn a PM2 ecosystem file, a Procfile or a process-compose.yaml into service definitions",
		Long: `Import writes one definition per app or process to $TSM_DIR/services-available,
and, when there are several, a stack of them to $TSM_DIR/stacks/<name>.stack
(the name of the file's directory, or --stack). It reports every setting it
could not carry over. Existing files are never replaced without --force, and
nothing is written if any would be.

  PM2          ecosystem.config.json ({"apps": [...]}): name, script, args,
               interpreter, cwd, env (env.PORT becomes the port). A .js or
               .cjs file is JavaScript: tsm reads it only by running
               ` + "`node`" + ` on it, and only with --allow-exec.
  Procfile     name: command lines; a command using $PORT gets port 5000+,
               a .env beside the Procfile becomes the env file.
  process-compose.yaml
               command, working_dir, environment, depends_on (TSM_DEPS),
               readiness_probe (http_get or exec: TSM_HEALTH_CHECK).

Then: tsm stack start <name> (or tsm start <service>).`,
		Example: `  tsm import ecosystem.config.json && tsm stack start myapp
  tsm import --allow-exec ecosystem.config.js
  tsm import Procfile --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cwd, err := a.Getwd()
			if err != nil {
				return err
			}
			path := args[0]
			if !filepath.IsAbs(path) {
				path = filepath.Join(cwd, path)
			}
			format := service.FormatOf(path)
			if format == "" {
				return usageError("%s: tsm imports a PM2 ecosystem file (.json, or .js/.cjs with --allow-exec), a Procfile, or a process-compose .yaml", args[0])
			}
			dir := filepath.Dir(path)
			var data []byte
			if ext := filepath.Ext(path); format == "pm2" && (ext == ".js" || ext == ".cjs") {
				if !allowExec {
					return usageError("%s is JavaScript: tsm can read it only by running it with node, which executes whatever it contains; pass --allow-exec to allow that, or convert it to .json", args[0])
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "tsm: running node to evaluate %s (--allow-exec)\n", path)
				if data, err = evalWithNode(cmd.Context(), path); err != nil {
					return err
				}
			} else if data, err = envfile.ReadFile(path); err != nil {
				return serviceError(err)
			}
			var im *service.Import
			switch format {
			case "pm2":
				im, err = service.ImportPM2(data, dir)
			case "procfile":
				im, err = service.ImportProcfile(data, dir)
			default:
				im, err = service.ImportCompose(data, dir)
			}
			if err != nil {
				return &exitError{code: ExitBadData, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			return a.writeImport(cmd, im, filepath.Base(path), stackName, dir, dryRun, force, asJSON)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&allowExec, "allow-exec", false, "allow running node to read a .js/.cjs ecosystem file")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "print the definitions and write nothing")
	f.BoolVarP(&force, "force", "f", false, "replace existing definitions and stack")
	f.StringVar(&stackName, "stack", "", "name of the stack of several services (default: the file's directory name)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// evalWithNode prints a CommonJS ecosystem file's exports as JSON.
func evalWithNode(ctx context.Context, path string) ([]byte, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not installed, and it is needed to read %s; convert it to .json instead", path)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, node, "-e", "process.stdout.write(JSON.stringify(require(process.argv[1])))", path)
	c.Dir = filepath.Dir(path)
	out, err := c.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("node could not evaluate %s: %v %s", path, err, msg)
	}
	return out, nil
}

type importedFile struct {
	service.Imported
	Path string `json:"path"`
}

func (a *App) writeImport(cmd *cobra.Command, im *service.Import, file, stackName, dir string, dryRun, force, asJSON bool) error {
	r, out := a.registry(), cmd.OutOrStdout()
	origin := "imported from " + file + " by tsm import on " + time.Now().Format("2006-01-02")
	var stack []byte
	if len(im.Services) > 1 {
		if stackName == "" {
			stackName = filepath.Base(dir)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# %s\n", origin)
		for _, s := range im.Services {
			b.WriteString(s.Name + "\n")
		}
		stack = []byte(b.String())
	}
	// All or nothing: every name is checked, and every file parsed, first.
	// Two services of the file may end up with one name (a name given
	// twice, or two that differ only in characters a name cannot carry):
	// the second would overwrite the first.
	seen := map[string]bool{}
	for _, s := range im.Services {
		if seen[s.Name] {
			return &exitError{code: ExitBadData, err: fmt.Errorf("%s: two services would both be named %s; rename one in %s, nothing was written", file, s.Name, file)}
		}
		seen[s.Name] = true
	}
	var taken []string
	files := make([]importedFile, 0, len(im.Services))
	for _, s := range im.Services {
		path, exists := r.Exists(s.Name, ".tsm")
		if exists {
			taken = append(taken, path)
		}
		if _, err := service.Parse(path, "/", s.Text(origin), a.Environ()); err != nil {
			return &exitError{code: ExitBadData, err: fmt.Errorf("%s: the definition of %s would not read back: %v", file, s.Name, err)}
		}
		files = append(files, importedFile{s, path})
	}
	stackPath := ""
	if stack != nil {
		var exists bool
		if stackPath, exists = r.Exists(stackName, ".stack"); exists {
			taken = append(taken, stackPath)
		}
	}
	if len(taken) > 0 && !force && !dryRun {
		return fmt.Errorf("already there: %s; pass --force to replace, nothing was written", strings.Join(taken, ", "))
	}
	if asJSON && dryRun {
		return printJSON(out, map[string]any{"format": im.Format, "services": files, "stack": stackPath, "skipped": im.Skipped})
	}
	for _, f := range files {
		if dryRun {
			fmt.Fprintf(out, "# --- %s ---\n%s", f.Path, f.Text(origin))
			continue
		}
		if _, err := r.Write(f.Name, f.Text(origin), force); err != nil {
			return err
		}
	}
	if stack != nil {
		if dryRun {
			fmt.Fprintf(out, "# --- %s ---\n%s", stackPath, stack)
		} else if _, err := r.WriteStack(stackName, stack, force); err != nil {
			return err
		}
	}
	if asJSON {
		return printJSON(out, map[string]any{"format": im.Format, "services": files, "stack": stackPath, "skipped": im.Skipped})
	}
	verb := "wrote"
	if dryRun {
		verb = "would write"
	}
	for _, f := range files {
		fmt.Fprintf(out, "✔ %s %s → %s\n", verb, f.Name, f.Path)
		for _, s := range f.Skipped {
			fmt.Fprintf(out, "    not carried over: %s\n", s)
		}
	}
	for _, s := range im.Skipped {
		fmt.Fprintf(out, "  not carried over: %s\n", s)
	}
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing was written")
		return nil
	}
	if stack != nil {
		fmt.Fprintf(out, "✔ %s stack %s → %s\nnext: tsm stack start %s · at boot: tsm enable %s && tsm startup install\n",
			verb, stackName, stackPath, stackName, strings.Join(service.ImportedNames(im), " "))
	} else {
		n := im.Services[0].Name
		fmt.Fprintf(out, "next: tsm start %s · at boot: tsm enable %s && tsm startup install\n", n, n)
	}
	return nil
}
