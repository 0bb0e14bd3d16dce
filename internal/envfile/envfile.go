// Package envfile owns the parsing of env files: the bash subset of KEY=value
// assignments that people write in env/*.env and source from their shells.
//
// The file is parsed, never executed, so anything that would need a shell to
// evaluate it (command substitution, arithmetic, arrays, control flow, source)
// is a line-numbered *SyntaxError instead of a silent difference from bash.
// It must import nothing but the standard library, and never os/exec.
package envfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/tetra/tsm/internal/redact"
)

// Var is one assignment, in file order. A key assigned twice appears twice;
// Lookup returns the last one, as sourcing the file would.
type Var struct {
	Key, Value string
	Line       int
}

// SyntaxError reports the 1-based line of unsupported or malformed syntax.
type SyntaxError struct {
	Path string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// MaxSize is the largest file, in bytes, that ReadFile and Parse take: far
// above any real env or .tsm file, far below what would take the daemon's
// memory or time (a 256 MiB env file once took 58 s and 7 GiB).
const MaxSize = 1 << 20

// ErrTooLarge is wrapped by the error of a file or input over MaxSize.
var ErrTooLarge = errors.New("larger than 1 MiB, the most tsm reads from an env or .tsm file")

// ReadFile reads a file a user named (an env file, a .tsm file). Only a
// regular file is read, at most MaxSize bytes of it: a FIFO, a device
// (/dev/zero) or a directory is an error at once, without blocking or
// reading, and so is a larger file.
func ReadFile(path string) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.Size() > MaxSize {
		return nil, fmt.Errorf("%s is %d bytes: %w", path, fi.Size(), ErrTooLarge)
	}
	return readAtMost(f, path)
}

// ReadHead reads the first n bytes at most of a regular file a user named
// (fewer if it is shorter), whatever its size: what a #! line check needs,
// without reading a large script whole. Other files are refused as by
// ReadFile.
func ReadHead(path string, n int) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(n)))
}

// openRegular opens path for reading if it is a regular file.
func openRegular(path string) (*os.File, error) {
	// O_NONBLOCK: opening a FIFO for reading would wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is %s, not a regular file; name a file", path, kind(fi.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// kind names the type of a file that is not a regular one.
func kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "special"
}

func readAtMost(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err == nil && len(data) > MaxSize {
		err = fmt.Errorf("%s: %w", what, ErrTooLarge)
	}
	return data, err
}

// Parse reads KEY=value assignments. $VAR/${VAR} expand first from earlier
// vars in the file, then from lookup (may be nil); undefined variables expand
// to "". Input over MaxSize is an error wrapping ErrTooLarge.
func Parse(r io.Reader, lookup func(string) (string, bool)) ([]Var, error) {
	data, err := readAtMost(r, "env file")
	if err != nil {
		return nil, err
	}
	src := strings.TrimPrefix(string(data), "\uFEFF")
	// Files edited on Windows must not smuggle a \r into every value.
	src = strings.ReplaceAll(src, "\r\n", "\n")
	p := &parser{src: src, line: 1, vars: map[string]string{}, lookup: lookup}
	return p.parse()
}

// Lookup returns the last value of key in vars.
func Lookup(vars []Var, key string) (string, bool) {
	for i := len(vars) - 1; i >= 0; i-- {
		if vars[i].Key == key {
			return vars[i].Value, true
		}
	}
	return "", false
}

// maxExpanded bounds the bytes all expansions of one file may produce:
// A=$A$A on successive lines doubles a value each time, and such a file
// must be an error, not a hung or out-of-memory daemon. Real env files stay
// far below it, and the kernel refuses a single env string over 128 KiB.
const maxExpanded = 1 << 20

// maxDepth bounds ${VAR:-${...}} nesting: each level recurses, and a deep
// enough file would otherwise overflow the stack, which Go cannot recover.
const maxDepth = 32

type parser struct {
	src      string
	pos      int
	line     int
	vars     map[string]string // values so far, for expansion in later lines
	lookup   func(string) (string, bool)
	out      []Var
	expanded int // bytes produced by expansions so far
	depth    int // ${ nesting at p.pos
}

func syntaxErr(line int, format string, args ...any) error {
	return &SyntaxError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse() ([]Var, error) {
	for {
		p.skipBlanks()
		if p.pos == len(p.src) {
			return p.out, nil
		}
		switch p.src[p.pos] {
		case '\n':
			p.pos++
			p.line++
		case '#':
			p.skipComment()
		default:
			if err := p.statement(); err != nil {
				return nil, err
			}
		}
	}
}

// statement parses one assignment line; p.pos is at its first non-blank byte.
func (p *parser) statement() error {
	line, lineStart := p.line, p.pos
	key := p.name()
	if key == "export" && p.atBlank() {
		p.skipBlanks()
		key = p.name()
		if key == "" {
			return syntaxErr(line, "export must be followed by KEY=value (got %q)", shown(p.restOfLine()))
		}
		if !p.at('=') && p.lineEnds() {
			// "export KEY" only marks a variable for export, and every
			// variable of the file reaches the process anyway.
			return nil
		}
	}
	if key == "" || !p.at('=') {
		return p.notAssignment(line, lineStart, key)
	}
	p.pos++
	emptyBeforeBlank := p.atBlank()
	value, err := p.value(key)
	if err != nil {
		return err
	}
	if !p.lineEnds() {
		if emptyBeforeBlank {
			return syntaxErr(line, "spaces around '=' are not allowed; write %s", suggest(key, p.restOfLine()))
		}
		rest := p.restOfLine()
		if redact.SecretName(key) {
			rest = redact.Mask // the rest of a secret, as often as not
		}
		return syntaxErr(line, "unexpected %q after the value of %s; quote values that contain spaces (%s=\"...\")", rest, key, key)
	}
	p.vars[key] = value
	p.out = append(p.out, Var{Key: key, Value: value, Line: line})
	return nil
}

// notAssignment explains why the statement starting at lineStart, whose
// leading identifier (if any) is key, is not KEY=value.
func (p *parser) notAssignment(line, lineStart int, key string) error {
	rest := p.restOfLine()
	switch {
	case key != "" && strings.HasPrefix(strings.TrimLeft(rest, " \t"), "="):
		value := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(rest), "="))
		return syntaxErr(line, "spaces around '=' are not allowed; write %s", suggest(key, value))
	case key != "" && strings.HasPrefix(rest, "+="):
		return syntaxErr(line, "appending with += is not supported; write %s=value", key)
	case key != "" && strings.HasPrefix(rest, "["):
		return syntaxErr(line, "arrays are not supported; use a plain %s=value", key)
	}
	p.pos = lineStart
	text := p.restOfLine()
	if word, _, _ := strings.Cut(text, " "); word == "source" || word == "." {
		return syntaxErr(line, "%q: env files are parsed, not executed, so they cannot source other files; copy the variables into this file", text)
	}
	return syntaxErr(line, "%q is not a variable assignment; env files support only KEY=value, export KEY=value and # comments", shown(text))
}

// shown returns a line that is not KEY=value as an error may quote it: its
// secret-looking values masked (set DB_PASSWORD=********), and only its
// first word when it names a secret in a form the masks do not know
// (API_TOKEN: abc).
func shown(text string) string {
	if masked := redact.Command(text); masked != text || !redact.SecretName(text) {
		return masked
	}
	word, _, _ := strings.Cut(text, " ")
	return word + " ..."
}

// lineEnds consumes blanks and a trailing comment and reports whether the
// line ends there.
func (p *parser) lineEnds() bool {
	p.skipBlanks()
	if p.at('#') {
		p.skipComment()
	}
	return p.pos == len(p.src) || p.at('\n')
}

func suggest(key, value string) string {
	if redact.SecretName(key) {
		return key + "=" + redact.Mask
	}
	if strings.ContainsAny(value, " \t") && !strings.ContainsAny(value, `"'`) {
		value = `"` + value + `"`
	}
	return key + "=" + value
}

// value parses the word after '=': quoted and unquoted parts concatenated up
// to the first unquoted blank or newline.
func (p *parser) value(key string) (string, error) {
	var b strings.Builder
	if p.at('(') {
		return "", syntaxErr(p.line, "arrays (%s=(...)) are not supported", key)
	}
	// bash expands a leading ~ in an assignment; leaving it literal would hand
	// the process a path no program understands.
	if p.at('~') && (p.pos+1 == len(p.src) || strings.IndexByte("/ \t\n", p.src[p.pos+1]) >= 0) {
		home, _ := p.get("HOME")
		b.WriteString(home)
		p.pos++
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case ' ', '\t', '\n':
			return b.String(), nil
		case '\'':
			s, err := p.singleQuoted()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case '"':
			s, err := p.doubleQuoted()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case '$':
			s, err := p.dollar(false)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case '\\':
			p.pos++
			switch {
			case p.pos == len(p.src):
				b.WriteByte('\\')
			case p.at('\n'): // line continuation
				p.pos++
				p.line++
			default:
				b.WriteByte(p.src[p.pos])
				p.pos++
			}
		case '`':
			return "", syntaxErr(p.line, "command substitution (`...`) is not supported: env files are parsed, not executed")
		case ';', '&', '|', '<', '>', '(', ')':
			return "", syntaxErr(p.line, "unquoted %q in the value of %s; quote the value (%s=\"...\")", c, key, key)
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return b.String(), nil
}

func (p *parser) singleQuoted() (string, error) {
	line := p.line
	p.pos++
	end := strings.IndexByte(p.src[p.pos:], '\'')
	if end < 0 {
		return "", syntaxErr(line, "unterminated single quote")
	}
	s := p.src[p.pos : p.pos+end]
	p.line += strings.Count(s, "\n")
	p.pos += end + 1
	return s, nil
}

func (p *parser) doubleQuoted() (string, error) {
	line := p.line
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if s, ok := p.quotedEscape(`"\$` + "`"); ok {
				b.WriteString(s)
				continue
			}
			b.WriteByte('\\')
			p.pos++
		case '$':
			s, err := p.dollar(true)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case '`':
			return "", syntaxErr(p.line, "command substitution (`...`) is not supported: env files are parsed, not executed")
		default:
			if c == '\n' {
				p.line++
			}
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", syntaxErr(line, "unterminated double quote")
}

// quotedEscape handles a backslash inside double quotes, where bash removes it
// only before one of special or a newline; anything else (\n included) keeps it.
func (p *parser) quotedEscape(special string) (string, bool) {
	if p.pos+1 == len(p.src) {
		return "", false
	}
	switch n := p.src[p.pos+1]; {
	case n == '\n':
		p.pos += 2
		p.line++
		return "", true
	case strings.IndexByte(special, n) >= 0:
		p.pos += 2
		return string(n), true
	}
	return "", false
}

// dollar expands the parameter at p.pos ('$'). quoted says whether it is
// inside double quotes, where $'...' and $"..." have no special meaning.
func (p *parser) dollar(quoted bool) (string, error) {
	line := p.line
	p.pos++
	if p.pos == len(p.src) {
		return "$", nil
	}
	c := p.src[p.pos]
	switch {
	case strings.HasPrefix(p.src[p.pos:], "(("):
		return "", syntaxErr(line, "arithmetic expansion $((...)) is not supported: env files are parsed, not executed")
	case c == '(':
		return "", syntaxErr(line, "command substitution $(...) is not supported: env files are parsed, not executed")
	case c == '{':
		p.pos++
		v, err := p.braced(line, quoted)
		if err != nil {
			return "", err
		}
		return v, p.spend(line, v)
	case isNameStart(c):
		v, _ := p.get(p.name())
		return v, p.spend(line, v)
	case isDigit(c) || strings.IndexByte("@*#?$!-", c) >= 0:
		return "", syntaxErr(line, "special parameter $%c is not supported in env files", c)
	case !quoted && (c == '\'' || c == '"'):
		return "", syntaxErr(line, "$%c...%c quoting is not supported; use plain quotes", c, c)
	}
	return "$", nil
}

// braced expands ${VAR}, ${VAR:-default} and ${VAR-default}; p.pos is after '{'.
func (p *parser) braced(line int, quoted bool) (string, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return "", syntaxErr(line, "${...} nested more than %d deep", maxDepth)
	}
	if p.pos == len(p.src) {
		return "", syntaxErr(line, "unterminated ${")
	}
	key := p.name()
	if key == "" {
		return "", syntaxErr(line, "unsupported expansion ${%s; only ${VAR}, ${VAR:-default} and ${VAR-default} are supported", p.restOfLine())
	}
	value, set := p.get(key)
	rest := p.src[p.pos:]
	switch {
	case strings.HasPrefix(rest, "}"):
		p.pos++
		return value, nil
	case strings.HasPrefix(rest, ":-"):
		p.pos += 2
		set = set && value != ""
	case strings.HasPrefix(rest, "-"):
		p.pos++
	case p.pos == len(p.src):
		return "", syntaxErr(line, "unterminated ${")
	default:
		return "", syntaxErr(line, "unsupported expansion ${%s%s; only ${VAR}, ${VAR:-default} and ${VAR-default} are supported", key, p.restOfLine())
	}
	def, err := p.defaultWord(line, quoted)
	if err != nil || set {
		return value, err
	}
	return def, nil
}

// defaultWord parses the default of ${VAR:-default} up to the closing brace;
// it is expanded like the text around it.
func (p *parser) defaultWord(line int, quoted bool) (string, error) {
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		var s string
		var err error
		switch {
		case c == '}':
			p.pos++
			return b.String(), nil
		case c == '\\' && quoted:
			if esc, ok := p.quotedEscape(`"\$}` + "`"); ok {
				s = esc
			} else {
				s = `\`
				p.pos++
			}
		case c == '\\' && p.pos+1 < len(p.src):
			s = p.src[p.pos+1 : p.pos+2]
			p.pos += 2
		case c == '$':
			s, err = p.dollar(quoted)
		case c == '"':
			s, err = p.doubleQuoted()
		case c == '\'' && !quoted:
			s, err = p.singleQuoted()
		case c == '`':
			err = syntaxErr(p.line, "command substitution (`...`) is not supported: env files are parsed, not executed")
		default:
			if c == '\n' {
				p.line++
			}
			s = string(c)
			p.pos++
		}
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return "", syntaxErr(line, "unterminated ${")
}

func (p *parser) spend(line int, expansion string) error {
	p.expanded += len(expansion)
	if p.expanded > maxExpanded {
		return syntaxErr(line, "variable expansions in this file produce more than %d bytes; is a variable defined in terms of itself?", maxExpanded)
	}
	return nil
}

// get resolves a variable: the file's own earlier assignments win over lookup.
func (p *parser) get(key string) (string, bool) {
	if v, ok := p.vars[key]; ok {
		return v, true
	}
	if p.lookup == nil {
		return "", false
	}
	return p.lookup(key)
}

// name consumes an identifier [A-Za-z_][A-Za-z0-9_]* and returns it, or "".
func (p *parser) name() string {
	start := p.pos
	if p.pos < len(p.src) && isNameStart(p.src[p.pos]) {
		p.pos++
		for p.pos < len(p.src) && (isNameStart(p.src[p.pos]) || isDigit(p.src[p.pos])) {
			p.pos++
		}
	}
	return p.src[start:p.pos]
}

func (p *parser) at(c byte) bool { return p.pos < len(p.src) && p.src[p.pos] == c }

func (p *parser) atBlank() bool { return p.at(' ') || p.at('\t') }

func (p *parser) skipBlanks() {
	for p.atBlank() {
		p.pos++
	}
}

func (p *parser) skipComment() {
	if i := strings.IndexByte(p.src[p.pos:], '\n'); i >= 0 {
		p.pos += i
	} else {
		p.pos = len(p.src)
	}
}

// restOfLine returns the text from p.pos to the end of the line, for messages.
func (p *parser) restOfLine() string {
	rest, _, _ := strings.Cut(p.src[p.pos:], "\n")
	return strings.TrimRight(rest, " \t")
}

func isNameStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
