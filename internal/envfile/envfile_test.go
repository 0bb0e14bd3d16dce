package envfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// callerEnv is the lookup standing in for the caller's environment.
func callerEnv(k string) (string, bool) {
	v, ok := map[string]string{"HOME": "/home/u", "USER": "ann", "EMPTY": ""}[k]
	return v, ok
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Var
	}{
		{"empty", "", nil},
		{"blank lines and comments", "\n  \n# c\n\t# indented\nA=1\n", []Var{{"A", "1", 5}}},
		{"export", "export A=1\nexport\tB=2", []Var{{"A", "1", 1}, {"B", "2", 2}}},
		{"export alone is a no-op", "A=1\nexport A\nexport B # why not\n", []Var{{"A", "1", 1}}},
		{"variable named export", "export=1", []Var{{"export", "1", 1}}},
		{"underscore and digits", "_A_1=x", []Var{{"_A_1", "x", 1}}},
		{"empty value", "A=\nB=  # nothing\nC=''", []Var{{"A", "", 1}, {"B", "", 2}, {"C", "", 3}}},
		{"single quotes are literal", `A='$HOME \n "x" \'`, []Var{{"A", `$HOME \n "x" \`, 1}}},
		{"double quotes expand", `A="$HOME/${USER}"`, []Var{{"A", "/home/u/ann", 1}}},
		{"double quote escapes", `A="a\"b\\c\$d\` + "`" + `e\nf\x"`, []Var{{"A", "a\"b\\c$d`e\\nf\\x", 1}}},
		{"double quoted line continuation", "A=\"a\\\nb\"\nB=1", []Var{{"A", "ab", 1}, {"B", "1", 3}}},
		{"unquoted escapes one char", `A=a\ b\$c\\d\n`, []Var{{"A", `a b$c\dn`, 1}}},
		{"unquoted line continuation", "A=a\\\nb\nB=2", []Var{{"A", "ab", 1}, {"B", "2", 3}}},
		{"unquoted trailing comment", "A=x # comment\nB=y#not-a-comment", []Var{{"A", "x", 1}, {"B", "y#not-a-comment", 2}}},
		{"quoted trailing comment", `A="x y" # c`, []Var{{"A", "x y", 1}}},
		{"concatenation", `B=b` + "\n" + `A="x"'y'$B"${B}"z`, []Var{{"B", "b", 1}, {"A", "xybbz", 2}}},
		{"earlier var wins over lookup", "USER=bob\nA=$USER", []Var{{"USER", "bob", 1}, {"A", "bob", 2}}},
		{"reassignment", "A=1\nA=${A}2", []Var{{"A", "1", 1}, {"A", "12", 2}}},
		{"undefined expands to empty", `A=[$NOPE][${NOPE}]`, []Var{{"A", "[][]", 1}}},
		{"unquoted expansion is not split", "A=\"x  y\"\nB=$A", []Var{{"A", "x  y", 1}, {"B", "x  y", 2}}},
		{"default colon-dash", `A=${NOPE:-d}${EMPTY:-e}${USER:-f}`, []Var{{"A", "deann", 1}}},
		{"default dash", `A=${NOPE-d}${EMPTY-e}${USER-f}`, []Var{{"A", "dann", 1}}},
		{"default with spaces and expansion", `A=${NOPE:-x $USER}`, []Var{{"A", "x ann", 1}}},
		{"default quoted", `A="${NOPE:-"q"}"`, []Var{{"A", "q", 1}}},
		{"default single quotes literal inside double", `A="${NOPE:-'x'}"`, []Var{{"A", "'x'", 1}}},
		{"default single quotes unquoted", `A=${NOPE:-'$x'}`, []Var{{"A", "$x", 1}}},
		{"nested defaults", `A=${X:-${Y:-"${Z:-deep}"}}`, []Var{{"A", "deep", 1}}},
		{"default escaped brace", `A="${NOPE:-a\}b}"`, []Var{{"A", "a}b", 1}}},
		{"lone dollar", "A=$\nB=\"x$\"\nC=$/", []Var{{"A", "$", 1}, {"B", "x$", 2}, {"C", "$/", 3}}},
		{"multi-line double quotes", "A=\"one\ntwo\"\nB=3", []Var{{"A", "one\ntwo", 1}, {"B", "3", 3}}},
		{"multi-line single quotes", "A='one\n\ntwo'\nB=3", []Var{{"A", "one\n\ntwo", 1}, {"B", "3", 4}}},
		{"CRLF", "A=1\r\nB=\"x\"\r\n# c\r\nC=3\r\n", []Var{{"A", "1", 1}, {"B", "x", 2}, {"C", "3", 4}}},
		{"BOM", "\uFEFFA=1", []Var{{"A", "1", 1}}},
		{"tilde", "A=~\nB=~/x\nC=a~\nD='~'\nE=~x", []Var{{"A", "/home/u", 1}, {"B", "/home/u/x", 2}, {"C", "a~", 3}, {"D", "~", 4}, {"E", "~x", 5}}},
		{"utf-8", "A=héllo✓", []Var{{"A", "héllo✓", 1}}},
		{"braces and globs are literal", "A={a,b}*?[x]", []Var{{"A", "{a,b}*?[x]", 1}}},
		{"leading blanks", "   A=1", []Var{{"A", "1", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in), callerEnv)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string // substring of SyntaxError.Msg
	}{
		{"command substitution", "A=1\nB=$(date)", 2, "command substitution $(...)"},
		{"command substitution quoted", `A="$(date)"`, 1, "command substitution $(...)"},
		{"backticks", "A=`date`", 1, "command substitution (`...`)"},
		{"backticks quoted", "A=\"`date`\"", 1, "command substitution (`...`)"},
		{"backticks in default", "A=${X:-`date`}", 1, "command substitution (`...`)"},
		{"arithmetic", "A=$((1+2))", 1, "arithmetic"},
		{"source", "A=1\nsource other.env", 2, "cannot source"},
		{"dot", ". ./other.env", 1, "cannot source"},
		{"array", "A=(a b)", 1, "arrays"},
		{"array index", "A[0]=x", 1, "arrays"},
		{"append", "A+=x", 1, "+="},
		{"if", "if [ -f x ]; then", 1, `"if [ -f x ]; then" is not a variable assignment`},
		{"bare command", "\n\necho hi", 3, `"echo hi" is not a variable assignment`},
		{"bare word", "FOO", 1, "not a variable assignment"},
		{"not an identifier", "1A=x", 1, "not a variable assignment"},
		{"dash in key", "A-B=x", 1, "not a variable assignment"},
		{"space around equals", "A = b", 1, "write A=b"},
		{"space before equals", "A =b", 1, "write A=b"},
		{"space after equals", "A= b", 1, "write A=b"},
		{"space around equals with spaces in value", "A = b c", 1, `write A="b c"`},
		{"export with space around equals", "export A = b", 1, "write A=b"},
		{"export nothing", "export", 1, "not a variable assignment"},
		{"export flag", "export -n A", 1, "export must be followed by KEY=value"},
		{"export two names", "export A B", 1, "not a variable assignment"},
		{"unquoted space in value", "A=b c", 1, `unexpected "c" after the value of A`},
		{"semicolon", "A=1; B=2", 1, "unquoted ';'"},
		{"pipe", "A=1|x", 1, "unquoted '|'"},
		{"unterminated double quote", "A=1\nB=\"abc\n\nC=2", 2, "unterminated double quote"},
		{"unterminated single quote", "A='abc\nB=1", 1, "unterminated single quote"},
		{"unterminated brace", "A=${B", 1, "unterminated ${"},
		{"unterminated brace at EOF", "A=${", 1, "unterminated ${"},
		{"unterminated default", "A=${B:-x", 1, "unterminated ${"},
		{"unsupported operator", "A=${B:=x}", 1, "unsupported expansion ${B:=x}"},
		{"length", "A=${#B}", 1, "unsupported expansion"},
		{"special parameter", "A=$1", 1, "special parameter $1"},
		{"pid", `A="$$"`, 1, "special parameter $$"},
		{"ansi-c quoting", `A=$'x'`, 1, "quoting is not supported"},
		{"error line counts multi-line values", "A='x\ny'\nB=$(z)", 3, "command substitution"},
		{"error line counts CRLF", "A=1\r\n\r\nB=`x`", 3, "command substitution"},
		{"deep nesting", "A=" + strings.Repeat(`"${A:-`, 100_000), 1, "nested more than 32 deep"},
		{"exponential expansion", "A=x\n" + strings.Repeat("A=$A${A}\n", 30), 21, "more than 1048576 bytes"},
		// A secret's value is never quoted back (red team: these errors
		// showed s3cret on the terminal, in doctor and in describe).
		{"secret with a colon", "API_TOKEN: s3cret", 1, `"API_TOKEN: ..." is not a variable assignment`},
		{"secret after set", "set DB_PASSWORD=s3cret", 1, `"set DB_PASSWORD=********" is not a variable assignment`},
		{"secret with spaces around equals", "API_TOKEN = s3cret", 1, "write API_TOKEN=********"},
		{"secret with a space in its value", "DB_PASSWORD=correct s3cret", 1, `unexpected "********" after the value of DB_PASSWORD`},
		{"secret after export flag", "export -n API_KEY=s3cret", 1, "export must be followed by KEY=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), callerEnv)
			se, ok := errors.AsType[*SyntaxError](err)
			if !ok {
				t.Fatalf("Parse(%q) error = %v, want *SyntaxError", tt.in, err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) = line %d %q, want line %d containing %q", tt.in, se.Line, se.Msg, tt.line, tt.msg)
			}
			if strings.Contains(se.Msg, "s3cret") {
				t.Errorf("Parse(%q) = %q, which shows the secret", tt.in, se.Msg)
			}
		})
	}
}

func TestParseNilLookup(t *testing.T) {
	got, err := Parse(strings.NewReader("A=$HOME${B:-x}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Var{{"A", "x", 1}}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestSyntaxErrorWithoutPath(t *testing.T) {
	err := &SyntaxError{Line: 3, Msg: "boom"}
	if got, want := err.Error(), "line 3: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestLookup(t *testing.T) {
	vars := []Var{{"A", "1", 1}, {"B", "2", 2}, {"A", "3", 3}}
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{{"A", "3", true}, {"B", "2", true}, {"C", "", false}}
	for _, tt := range tests {
		if got, ok := Lookup(vars, tt.key); got != tt.want || ok != tt.wantOK {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"A=1\n", "export A=\"x $B ${C:-d}\"\n", "A='multi\nline'", "A=${B-\"q\"}",
		"# c\r\nA=x # y\r\n", "A = b", "A=$(x)", "\uFEFFA=~/x", `A="a\"b\\c"`, "A=${B:-${C:-'x'}}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		vars, err := Parse(strings.NewReader(in), callerEnv)
		if err != nil {
			if _, ok := errors.AsType[*SyntaxError](err); !ok && !(errors.Is(err, ErrTooLarge) && len(in) > MaxSize) {
				t.Fatalf("Parse(%q) returned %T, want *SyntaxError", in, err)
			}
			return
		}
		for _, v := range vars {
			if !validKey(v.Key) {
				t.Fatalf("Parse(%q) returned invalid key %q", in, v.Key)
			}
			if v.Line < 1 || v.Line > strings.Count(in, "\n")+1 {
				t.Fatalf("Parse(%q) returned line %d out of range", in, v.Line)
			}
		}
	})
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isNameStart(k[i]) && (i == 0 || !isDigit(k[i])) {
			return false
		}
	}
	return true
}

// A file named by the user is read only if it is a regular file of at most
// MaxSize bytes; anything else is an error at once, never a hang (FIFO) or
// an endless read (/dev/zero).
func TestReadFileGuards(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.env")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.env")
	os.WriteFile(big, []byte("A="+strings.Repeat("x", MaxSize)+"\n"), 0o600)
	edge := filepath.Join(dir, "edge.env")
	os.WriteFile(edge, []byte("A="+strings.Repeat("x", MaxSize-3)+"\n"), 0o600)
	for path, want := range map[string]string{
		fifo: "not a regular file", "/dev/zero": "not a regular file", dir: "not a regular file",
		big: "larger than 1 MiB", filepath.Join(dir, "missing"): "no such file",
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ReadFile(%s) = %v, want %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadFile(%s) blocks", path)
		}
	}
	if b, err := ReadFile(edge); err != nil || len(b) != MaxSize {
		t.Errorf("a file of exactly MaxSize: %d bytes, %v", len(b), err)
	}
	if _, err := Parse(strings.NewReader("A="+strings.Repeat("x", MaxSize)), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse over MaxSize: %v", err)
	}
}

// ReadHead reads the start of a file of any size (a #! line of a script
// over MaxSize is still checked) and refuses what ReadFile refuses, at once.
func TestReadHead(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.sh")
	os.WriteFile(big, []byte("#!/bin/bash\r\n"+strings.Repeat("echo x\n", 2*MaxSize/7)), 0o700)
	if b, err := ReadHead(big, 256); err != nil || len(b) != 256 || !strings.HasPrefix(string(b), "#!/bin/bash\r\n") {
		t.Errorf("ReadHead(big) = %q…, %v", b[:min(len(b), 16)], err)
	}
	fifo := filepath.Join(dir, "fifo.sh")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadHead(fifo, 256); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadHead(fifo) = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadHead(fifo) blocks")
	}
}
