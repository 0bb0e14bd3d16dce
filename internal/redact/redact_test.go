package redact

import "testing"

func TestCommand(t *testing.T) {
	for in, want := range map[string]string{
		"export API_TOKEN=abc123 && source venv/bin/activate": "export API_TOKEN=******** && source venv/bin/activate",
		"DB_PASSWORD='hunter 2' ./run.sh":                     "DB_PASSWORD=******** ./run.sh",
		`export GITHUB_SECRET="a \"b\" c"; make`:              "export GITHUB_SECRET=********; make",
		"node server.js --password=s3cret --port 3000":        "node server.js --password=******** --port 3000",
		"app --api-key s3cret -v":                             "app --api-key ******** -v",
		"python3 worker.py postgres://app:pa55@db:5432/x":     "python3 worker.py postgres://app:********@db:5432/x",
		`curl -H "Authorization: Bearer eyJabc.def" http://x`: `curl -H "Authorization: Bearer ********" http://x`,
		"aws s3 sync --profile prod AWS_ACCESS_KEY_ID=AKIA1":  "aws s3 sync --profile prod AWS_ACCESS_KEY_ID=********",
		// Every part of a value that is one shell word, as a recorded
		// command quotes it (red team: these showed its second half).
		`/bin/echo '--password=correct horse battery' -v`: `/bin/echo '--password=********' -v`,
		`app --token 'ab'\''cd' -v`:                       "app --token ******** -v",
		`app 'API_KEY=x'\''y' 'other z'`:                  `app 'API_KEY=********' 'other z'`,
		`export DB_PASS=abc\ def X_TOKEN=ab"cd"ef; true`:  "export DB_PASS=******** X_TOKEN=********; true",
		`export HOOK_SECRET=s9; true && run`:              "export HOOK_SECRET=********; true && run",
		`bash -c 'app --token "a b" --port 1'`:            `bash -c 'app --token ******** --port 1'`,
		// Names the environment's rules hid and the command's did not.
		"STRIPE_KEY=sk_live_1 node app.js":           "STRIPE_KEY=******** node app.js",
		"SESSION_COOKIE=c0 SENTRY_DSN=d1 ./serve":    "SESSION_COOKIE=******** SENTRY_DSN=******** ./serve",
		"./api --signing-salt pepper --cert-pass pw": "./api --signing-salt ******** --cert-pass ********",
		// Nothing secret: left alone.
		"python3 -m http.server 8000":               "python3 -m http.server 8000",
		"PORT=3000 NODE_ENV=production node app.js": "PORT=3000 NODE_ENV=production node app.js",
		"source venv/bin/activate":                  "source venv/bin/activate",
		"https://example.com/path":                  "https://example.com/path",
	} {
		if got := Command(in); got != want {
			t.Errorf("Command(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

// TestCommandHints checks the shortcut of Command against the patterns
// alone: a string the hints pass over must be one they leave unchanged.
func TestCommandHints(t *testing.T) {
	for _, in := range []string{
		"python3 -m http.server 8000", "sleep 100000", "X=1 ./run",
		"TOKEN=abc ./run", "MyApiKey=abc", "--PASSWD x", "app -Auth x",
		"HTTP://u:p@h", "BEARER abc", "basic abc", "A_DSN=x", "--Cookie y",
		"api\u212aey=abc",   // the Kelvin sign folds to k under (?i)
		"pa\u017fsword=abc", // so does the long s to s
		"na\u00efve --port 3000",
	} {
		slow := in
		for _, re := range commandREs() {
			slow = maskAll(re, slow)
		}
		if got := Command(in); got != slow {
			t.Errorf("Command(%q) = %q, the patterns alone give %q", in, got, slow)
		}
		if !maySecret(in) && slow != in {
			t.Errorf("maySecret(%q) = false, but the patterns change it to %q", in, slow)
		}
	}
}

func TestValue(t *testing.T) {
	for _, tt := range []struct{ key, value, want string }{
		{"API_TOKEN", "tok", Mask},
		{"DB_PASSWORD", "pw", Mask},
		{"AWS_SECRET_ACCESS_KEY", "x", Mask},
		{"SENTRY_DSN", "https://k@sentry.io/1", Mask},
		{"MODE", "dev", "dev"},
		{"DATABASE_URL", "postgres://app:hunter2@db:5432/app", "postgres://app:" + Mask + "@db:5432/app"},
		{"URL", "https://example.org/a", "https://example.org/a"},
		{"EMPTY_SECRET", "", ""},
	} {
		if got := Value(tt.key, tt.value); got != tt.want {
			t.Errorf("Value(%s, %q) = %q, want %q", tt.key, tt.value, got, tt.want)
		}
	}
}

// Every name that Value hides, Command hides in an assignment too: one set
// of rules for every view.
func TestCommandHidesWhatValueHides(t *testing.T) {
	for _, name := range []string{"API_TOKEN", "DB_PASS", "STRIPE_KEY", "X_AUTH", "GCP_CREDENTIALS", "PRIVATE_PEM", "COOKIE_JAR", "SESSION_ID", "SENTRY_DSN", "HMAC_SIGNATURE", "PW_SALT", "TLS_CERT", "MY_SECRET"} {
		if Value(name, "v4lue") != Mask {
			t.Errorf("Value(%s) shows the value", name)
		}
		if got := Command(name + "=v4lue ./run"); got != name+"="+Mask+" ./run" {
			t.Errorf("Command(%s=v4lue ./run) = %q", name, got)
		}
	}
}
