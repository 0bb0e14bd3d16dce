package spec

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tetra/tsm/internal/envfile"
)

const maxNameLen = 100

// processName implements rule 9: --name, else the env file's NAME, else a
// name derived from the project and command; then "-<port>" when there is a
// port, and sanitising, because the name becomes a directory name.
func processName(flagName string, vars []envfile.Var, cwd string, c command, port int) string {
	base := flagName
	if base == "" {
		base, _ = envfile.Lookup(vars, "NAME")
	}
	if base == "" {
		base = derivedName(cwd, c)
	}
	name := sanitize(base)
	if port == 0 {
		return shorten(name, maxNameLen)
	}
	suffix := "-" + strconv.Itoa(port)
	// A base that already ends in -<port> (a restart passing its own name
	// back) must not grow a second suffix.
	name = strings.TrimSuffix(name, suffix)
	return shorten(name, maxNameLen-len(suffix)) + suffix
}

// derivedName names a process after its project and what it runs:
// <dir>-<module> for python -m, <dir>-<script> for python and node scripts
// (the seed's rules), the script's own name for other interpreters
// (`bash deploy.sh` is deploy, not bash), otherwise the program's name.
func derivedName(cwd string, c command) string {
	switch {
	case c.module != "":
		first, _, _ := strings.Cut(c.module, ".")
		return projectDir(cwd) + "-" + first
	case (c.typ == "python" || c.typ == "node") && c.scriptPath != "":
		return projectDir(cwd) + "-" + trimScriptExt(filepath.Base(c.scriptPath))
	case c.scriptPath != "":
		return trimScriptExt(filepath.Base(c.scriptPath))
	}
	return trimScriptExt(filepath.Base(c.first))
}

// projectDir is the basename of dir, skipping build and source
// subdirectories so that running from ~/api/dist still names the project api.
func projectDir(dir string) string {
	for isBuildDir(filepath.Base(dir)) && filepath.Dir(dir) != "/" {
		dir = filepath.Dir(dir)
	}
	if dir == "/" {
		return ""
	}
	return filepath.Base(dir)
}

func isBuildDir(base string) bool {
	switch base {
	case "dist", "build", "out", "output", "src", "lib", "app", "public", "static", "assets", "bin", "pkg", "target", "node_modules":
		return true
	}
	return false
}

func trimScriptExt(name string) string {
	if scriptType(name) != "" {
		return strings.TrimSuffix(name, filepath.Ext(name))
	}
	return name
}

// sanitize makes s safe as a directory name and readable in a shell: runs of
// other characters become "-", and it never starts or ends with "-" or "."
// (no hidden directories, no "..").
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	if name := strings.Trim(b.String(), "-."); name != "" {
		return name
	}
	return "tsm"
}

// shorten cuts a sanitised (ASCII) name to at most n bytes.
func shorten(name string, n int) string {
	if len(name) <= n {
		return name
	}
	return strings.TrimRight(name[:n], "-.")
}
