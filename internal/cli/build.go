package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetra/tsm/internal/envfile"
	"github.com/tetra/tsm/internal/paths"
	"github.com/tetra/tsm/internal/service"
)

// findEnvToml is path, else ./tsm/env.toml, else ./env.toml.
func (a *App) findEnvToml(path string) (string, error) {
	cwd, err := a.Getwd()
	if err != nil {
		return "", err
	}
	if path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(cwd, path)
		}
		return path, nil
	}
	for _, p := range []string{filepath.Join(cwd, "tsm", "env.toml"), filepath.Join(cwd, "env.toml")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", &exitError{code: ExitMissingFile, err: fmt.Errorf("no env.toml here (looked for ./tsm/env.toml and ./env.toml); give its path: tsm build <env> path/to/env.toml")}
}

func (a *App) newBuildCmd() *cobra.Command {
	var dryRun, force bool
	var outDir string
	cmd := &cobra.Command{
		Use:   "build <env>... [path/to/env.toml]",
		Short: "Build <name>-<env>.tsm definitions from an env.toml",
		Long: `Build reads an env.toml (./tsm/env.toml, else ./env.toml, or the path given)
and writes one definition per environment, <name>-<env>.tsm, next to it
(or in -o DIR):

  [service]   name and command (required), description, org
  [shared]    variables for every environment
  [<env>]     an environment's variables; cwd sets the working directory,
              inherit = "<env>" the environment it builds on. Without
              inherit: local → dev → staging → prod, any other name on local.
  [secrets]   KEY = "$NAME": NAME's value from $TETRA_DIR/orgs/<org>/secrets.env
              (parsed, never sourced) or your environment

Variables merge [shared], the inheritance chain, then [secrets]; PORT
defaults to 8080; values starting with ./ or ../ become absolute paths in
the project (the directory of env.toml, or its parent when that directory
is tsm/); $KEY in command is replaced when KEY is one of the variables.
env.toml is real TOML: string values are quoted (key = "value"), which the
bash TSM's line reader did not require. A file with secrets is written
mode 0600; --dry-run prints the files with secret values hidden.

Then: tsm promote <file> (or tsm start ./tsm/<name>-<env>.tsm).`,
		Example: "  tsm build dev\n  tsm build dev prod --dry-run\n  tsm build staging -o /tmp/out path/to/env.toml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var envs []string
			path := ""
			for _, arg := range args {
				if strings.HasSuffix(arg, ".toml") || strings.Contains(arg, "/") {
					path = arg
				} else {
					envs = append(envs, arg)
				}
			}
			if len(envs) == 0 {
				return usageError("build needs at least one environment: tsm build <env>... [path/to/env.toml]")
			}
			path, err := a.findEnvToml(path)
			if err != nil {
				return err
			}
			t, err := service.LoadEnvToml(path, a.Getenv("TETRA_ORG"))
			if err != nil {
				return serviceError(err)
			}
			r := a.registry()
			secrets, err := service.LoadSecrets(t.SecretsFile(r.TetraDir))
			if err != nil {
				return &exitError{code: ExitBadData, err: err}
			}
			if outDir == "" {
				outDir = filepath.Dir(t.Path)
			} else if outDir, err = filepath.Abs(outDir); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "building %s from %s into %s\n", t.Name, t.Path, outDir)
			var failed []error
			for _, env := range envs {
				b, err := t.Build(env, secrets, a.Environ())
				if err != nil {
					fmt.Fprintf(out, "  ✘ %s: %v\n", env, err)
					failed = append(failed, err)
					continue
				}
				dest := filepath.Join(outDir, b.FileName)
				fmt.Fprintf(out, "  %s → %s (chain: %s)\n", env, dest, strings.Join(b.Chain, " → "))
				if dryRun {
					fmt.Fprintf(out, "%s\n", b.Redacted)
					continue
				}
				if old, err := os.ReadFile(dest); err == nil && !service.IsBuilt(old) && !force {
					err := fmt.Errorf("%s exists and was not built by tsm build; pass --force to replace it", dest)
					fmt.Fprintf(out, "  ✘ %s: %v\n", env, err)
					failed = append(failed, err)
					continue
				}
				mode := os.FileMode(0o644)
				if b.Secret {
					mode = 0o600
				}
				if err := writeFileMode(dest, b.Text, mode); err != nil {
					return fmt.Errorf("writing %s: %w", dest, err)
				}
			}
			if len(failed) > 0 {
				fmt.Fprintln(out, "done, with errors")
				if len(failed) == 1 {
					return serviceError(failed[0])
				}
				return quiet1
			}
			if dryRun {
				fmt.Fprintln(out, "dry run: nothing was written")
			} else {
				fmt.Fprintf(out, "done; next: tsm promote %s, then tsm enable %s-%s\n", filepath.Join(outDir, t.Name+"-"+envs[0]+".tsm"), t.Name, envs[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "print the definitions (secrets hidden) and write nothing")
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "directory to write to (default: env.toml's)")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "replace a file that tsm build did not write")
	return cmd
}

func (a *App) newPromoteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "promote [file.tsm]",
		Short: "Register a built definition: link it into services-available",
		Long: `Promote links a definition written by ` + "`tsm build`" + ` into
$TSM_DIR/services-available, so that ` + "`tsm start <name>`, `tsm enable <name>`" + `
and stacks find it; rebuilding updates it in place. Without a file it takes
the one built file in ./tsm/. A regular file of the same name there is
never replaced.`,
		Example: "  tsm build prod && tsm promote tsm/api-prod.tsm && tsm enable api-prod",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cwd, err := a.Getwd()
			if err != nil {
				return err
			}
			var path string
			if len(args) == 1 {
				path = args[0]
				if !filepath.IsAbs(path) {
					path = filepath.Join(cwd, path)
				}
			} else {
				files, _ := filepath.Glob(filepath.Join(cwd, "tsm", "*.tsm"))
				var built []string
				for _, f := range files {
					if data, err := envfile.ReadFile(f); err == nil && service.IsBuilt(data) {
						built = append(built, f)
					}
				}
				if len(built) != 1 {
					return usageError("found %d built definitions in ./tsm (%s); name the one to promote", len(built), strings.Join(built, ", "))
				}
				path = built[0]
			}
			data, err := envfile.ReadFile(path)
			if err != nil {
				return serviceError(err)
			}
			if !service.IsBuilt(data) {
				return fmt.Errorf("%s was not written by tsm build; for a hand-written definition, copy it into %s", path, paths.ServicesAvailable(a.root))
			}
			if _, err := service.Parse(path, "", data, a.Environ()); err != nil {
				return serviceError(err)
			}
			dir := paths.ServicesAvailable(a.root)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			link := filepath.Join(dir, filepath.Base(path))
			if info, err := os.Lstat(link); err == nil {
				if info.Mode()&fs.ModeSymlink == 0 {
					return fmt.Errorf("%s is a regular file; remove it first if %s should replace it", link, path)
				}
				if err := os.Remove(link); err != nil {
					return err
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := os.Symlink(path, link); err != nil {
				return err
			}
			name := strings.TrimSuffix(filepath.Base(path), ".tsm")
			fmt.Fprintf(cmd.OutOrStdout(), "✔ promoted %s → %s\n  start it: tsm start %s · at boot: tsm enable %s\n", name, path, name, name)
			return nil
		},
	}
}

// writeFileMode writes path whole or not at all, with mode.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
