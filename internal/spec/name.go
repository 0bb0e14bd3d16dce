package spec

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tetra/tsm/internal/envfile"
)

const maxNameLen = 100

// processName implements rule 9: --name, else the env file's NAME, else a
// name derived from the project and command; then "-<port>" when there is a
// port. A name the user gave is kept exactly or refused (checkUserName): a
// silently changed name is one `tsm info <name>` cannot find. A derived name
// is sanitised, because it becomes a directory name.
func processName(flagName string, vars []envfile.Var, envPath, cwd string, c command, port int) (string, error) {
	suffix := ""
	if port > 0 {
		suffix = "-" + strconv.Itoa(port)
	}
	given, from := flagName, "--name"
	if given == "" {
		given, _ = envfile.Lookup(vars, "NAME")
		from = "NAME in " + envPath
	}
	if given != "" {
		if err := checkUserName(given, from, len(suffix)); err != nil {
			return "", err
		}
		// A base that already ends in -<port> (a restart passing its own
		// name back) must not grow a second suffix.
		return strings.TrimSuffix(given, suffix) + suffix, nil
	}
	name := sanitize(derivedName(cwd, c))
	// A derived base that already ends in -<port> must not grow a second
	// suffix either.
	name = strings.TrimSuffix(name, suffix)
	return shorten(name, maxNameLen-len(suffix)) + suffix, nil
}

// checkUserName refuses a user-given name that tsm could not keep exactly
// or that a target could misread: all digits (an ID), "all" (every
// process), a leading "-" (a flag) or "." (hidden, or ".."). Letters and
// digits of any script are fine: the name is a directory name, and only
// "/" and NUL are special there; other punctuation and blanks are refused
// because the name is also typed in shells. from says where the name came
// from (--name, or NAME in an env file); reserve is the length of the
// "-<port>" suffix it will get.
func checkUserName(name, from string, reserve int) error {
	kind := ErrUsage
	if from != "--name" {
		kind = ErrBadData
	}
	refuse := func(why, suggestion string) error {
		return errorf(kind, "name %q (from %s) cannot be used: %s; choose another name, e.g. %s", name, from, why, suggestion)
	}
	for _, r := range name {
		if !nameRune(r) {
			return refuse(fmt.Sprintf("%q is not allowed (names hold letters, digits, \".\", \"_\" and \"-\")", r), suggestName(name))
		}
	}
	switch {
	case strings.HasPrefix(name, "-") || strings.HasPrefix(name, "."):
		return refuse("it starts with \""+name[:1]+"\", which reads as a flag or a hidden file", suggestName(name))
	case strings.Trim(name, "0123456789") == "":
		return refuse("a name of digits only would be taken for a process ID", "app-"+name)
	case strings.EqualFold(name, "all"):
		return refuse("\"all\" means every process in tsm stop, restart and delete", "all-apps")
	case len(name)+reserve > maxNameLen:
		return refuse(fmt.Sprintf("it is longer than %d bytes", maxNameLen-reserve), shorten(sanitize(name), min(20, maxNameLen-reserve)))
	}
	return nil
}

func nameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || r == '.' || r == '_' || r == '-'
}

// suggestName turns name into one checkUserName accepts: refused runs
// become "-", like a derived name, but letters of any script stay.
func suggestName(name string) string {
	if s := dashRuns(name); s != "" && strings.Trim(s, "0123456789") != "" {
		return s
	}
	return "app"
}

// derivedName names a process after its project and what it runs:
// <dir>-<module> for python -m, <dir>-<script> for python and node scripts
// (the seed's rules), the script's own name for other interpreters
// (`bash deploy.sh` is deploy, not bash), <dir>-<script> for a package
// manager's script or binary (npm start in ~/shop is shop-start, so two
// projects never collide on "npm"), otherwise the program's name.
func derivedName(cwd string, c command) string {
	switch {
	case c.launcher != nil:
		return projectDir(cwd) + "-" + trimScriptExt(filepath.Base(c.launcher.script))
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

// sanitize makes s safe as a directory name and readable in a shell: it
// keeps what a user-given name may hold (letters and digits of any script,
// ".", "_", "-"), runs of other characters become "-", and it never starts
// or ends with "-" or "." (no hidden directories, no ".."). Letters of any
// script, because a project in ~/проект must not lose its name and collide
// with every other such project (npm start in each was "start").
func sanitize(s string) string {
	if name := dashRuns(s); name != "" {
		return name
	}
	return "tsm"
}

// dashRuns keeps the runes of s that nameRune accepts, turns each run of
// other runes into one "-", and trims "-" and "." from both ends.
func dashRuns(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if nameRune(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-.")
}

// shorten cuts a sanitised name to at most n bytes, at a character
// boundary.
func shorten(name string, n int) string {
	if len(name) <= n {
		return name
	}
	for n > 0 && !utf8.RuneStart(name[n]) {
		n--
	}
	return strings.TrimRight(name[:n], "-.")
}
