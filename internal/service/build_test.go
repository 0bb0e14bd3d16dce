package service

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tetra/tsm/internal/envfile"
)

func TestBuild(t *testing.T) {
	secrets := []envfile.Var{{Key: "SPACES_KEY", Value: "AKIA123"}, {Key: "SPACES_SECRET", Value: "s3cr$t"}}
	for _, tt := range []struct {
		toml  string
		envs  []string
		chain map[string]string
	}{
		{"shop", []string{"local", "dev", "prod", "canary", "qa"}, map[string]string{
			"local": "local", "dev": "local dev", "prod": "local dev prod", "canary": "local dev prod canary", "qa": "local qa"}},
		{"terrain", []string{"local"}, map[string]string{"local": "local"}},
	} {
		path, _ := filepath.Abs(filepath.Join("testdata", "build", tt.toml, "tsm", "env.toml"))
		et, err := LoadEnvToml(path, "")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, env := range tt.envs {
			out, err := et.Build(env, secrets, []string{"HOME=/home/ann"})
			if err != nil {
				t.Fatalf("%s %s: %v", tt.toml, env, err)
			}
			if got := strings.Join(out.Chain, " "); got != tt.chain[env] {
				t.Errorf("%s %s: chain %q, want %q", tt.toml, env, got, tt.chain[env])
			}
			if out.Secret != (tt.toml == "shop") {
				t.Errorf("%s %s: Secret = %v", tt.toml, env, out.Secret)
			}
			if strings.Contains(string(out.Redacted), "AKIA123") {
				t.Errorf("%s %s: the redacted text shows a secret", tt.toml, env)
			}
			// Golden files must not depend on where the checkout is.
			text := strings.ReplaceAll(string(out.Text), filepath.Dir(filepath.Dir(path)), "<project>")
			fmt.Fprintf(&b, "==> %s\n%s", out.FileName, text)
		}
		golden(t, filepath.Join("build", tt.toml+".golden"), b.String())
	}
}

// A built file reads back with the values the environment should get.
func TestBuildReadsBack(t *testing.T) {
	path, _ := filepath.Abs(filepath.Join("testdata", "build", "shop", "tsm", "env.toml"))
	et, err := LoadEnvToml(path, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := et.Build("local", []envfile.Var{{Key: "SPACES_KEY", Value: "k"}, {Key: "SPACES_SECRET", Value: "a$b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse("/x/shop-local.tsm", "", out.Text, []string{"HOME=/home/ann"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range d.Exports {
		got[v.Key] = v.Value
	}
	want := map[string]string{"DATA_DIR": "/home/ann/shop/data", "PORT": "2600", "S3_ACCESS_KEY": "k", "S3_BUCKET": "shop-assets",
		"S3_SECRET_KEY": "a$b", "SHOP_ENV": "local", "STATIC_TOKEN": "literal-$-kept"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exports (-want +got)\n%s", diff)
	}
	if d.Cwd != "/home/ann/src/shop/server" || d.Port != "2600" || d.Command != "node server.js --port 2600" || d.Name != "shop-local" {
		t.Errorf("got %+v", d)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tt := range []struct {
		name, src, env string
		line           int
		msg            string
	}{
		{"bare value upstream accepted", "[service]\nname = shop\ncommand = \"x\"\n", "", 2, "quote string values"},
		{"no name", "[service]\ncommand = \"x\"\n[local]\n", "", 1, "needs name"},
		{"no command", "[service]\nname = \"x\"\n", "", 1, "needs command"},
		{"key outside a section", "name = \"x\"\n[service]\nname = \"x\"\ncommand = \"y\"\n", "", 1, "outside any section"},
		{"unknown service key", "[service]\nname = \"x\"\ncommand = \"y\"\nport = 1\n", "", 4, "not port"},
		{"array", "[service]\nname = \"x\"\ncommand = \"y\"\n[local]\nHOSTS = [\"a\"]\n", "", 5, "only strings"},
		{"cycle", "[service]\nname = \"x\"\ncommand = \"y\"\n[a]\ninherit = \"b\"\n[b]\ninherit = \"a\"\n", "a", 5, "inheritance cycle"},
		{"inherit missing", "[service]\nname = \"x\"\ncommand = \"y\"\n[a]\ninherit = \"zz\"\n", "a", 5, "which has no section"},
		{"missing secret", "[service]\nname = \"x\"\ncommand = \"y\"\n[secrets]\nK = \"$NOPE\"\n[local]\n", "local", 5, "needs NOPE"},
		{"missing env", "[service]\nname = \"x\"\ncommand = \"y\"\n[local]\n", "prod", 0, "no [prod] section"},
		// A byte order mark is skipped, as BurntSushi/toml did (red team:
		// go-toml refused it at line 1); lines still count from the mark's.
		{"byte order mark", "\uFEFF[service]\r\nname = \"x\"\r\ncommand = \"y\"\r\nport = 1\r\n", "", 4, "not port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "env.toml")
			writeFile(t, path, tt.src)
			et, err := LoadEnvToml(path, "")
			if err == nil {
				_, err = et.Build(tt.env, nil, nil)
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %q", err, tt.msg)
			}
			var se *SyntaxError
			if tt.line > 0 && (!errors.As(err, &se) || se.Line != tt.line) {
				t.Errorf("got %v, want line %d", err, tt.line)
			}
		})
	}
}

// A [secrets] value the command names is written into the built file's
// TSM_COMMAND, and shown as the mask by --dry-run, as its export is (red
// team: the dry run printed it).
func TestBuildHidesSecretsInTheCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env.toml")
	writeFile(t, path, "[service]\nname = \"api\"\ncommand = \"node app.js $API_TOKEN --port $PORT\"\n[shared]\nPORT = \"3000\"\n[secrets]\nAPI_TOKEN = \"$ACME_TOKEN\"\n[dev]\n")
	et, err := LoadEnvToml(path, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := et.Build("dev", []envfile.Var{{Key: "ACME_TOKEN", Value: "tok-999"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Text), `TSM_COMMAND="node app.js tok-999 --port 3000"`) {
		t.Errorf("the built file:\n%s", out.Text)
	}
	if !strings.Contains(string(out.Redacted), `TSM_COMMAND="node app.js ******** --port 3000"`) || strings.Contains(string(out.Redacted), "tok-999") {
		t.Errorf("the dry run shows:\n%s", out.Redacted)
	}
}
