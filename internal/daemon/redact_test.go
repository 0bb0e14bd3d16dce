package daemon

import "testing"

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"export API_TOKEN=abc123 && source venv/bin/activate": "export API_TOKEN=*** && source venv/bin/activate",
		"DB_PASSWORD='hunter 2' ./run.sh":                     "DB_PASSWORD=*** ./run.sh",
		`export GITHUB_SECRET="a \"b\" c"; make`:              "export GITHUB_SECRET=***; make",
		"node server.js --password=s3cret --port 3000":        "node server.js --password=*** --port 3000",
		"app --api-key s3cret -v":                             "app --api-key *** -v",
		"python3 worker.py postgres://app:pa55@db:5432/x":     "python3 worker.py postgres://app:***@db:5432/x",
		`curl -H "Authorization: Bearer eyJabc.def" http://x`: `curl -H "Authorization: Bearer ***" http://x`,
		"aws s3 sync --profile prod AWS_ACCESS_KEY_ID=AKIA1":  "aws s3 sync --profile prod AWS_ACCESS_KEY_ID=***",
		// Nothing secret: left alone.
		"python3 -m http.server 8000":               "python3 -m http.server 8000",
		"PORT=3000 NODE_ENV=production node app.js": "PORT=3000 NODE_ENV=production node app.js",
		"source venv/bin/activate":                  "source venv/bin/activate",
		"https://example.com/path":                  "https://example.com/path",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

// TestRedactHints checks the shortcut of redact against the patterns
// alone: a string the hints pass over must be one they leave unchanged.
func TestRedactHints(t *testing.T) {
	for _, in := range []string{
		"python3 -m http.server 8000", "sleep 100000", "X=1 ./run",
		"TOKEN=abc ./run", "MyApiKey=abc", "--PASSWD x", "app -Auth x",
		"HTTP://u:p@h", "BEARER abc", "basic abc",
		"api\u212aey=abc",   // the Kelvin sign folds to k under (?i)
		"pa\u017fsword=abc", // so does the long s to s
		"na\u00efve --port 3000",
	} {
		slow := in
		for _, re := range secretPatterns() {
			slow = re.ReplaceAllString(slow, "${1}***${3}")
		}
		if got := redact(in); got != slow {
			t.Errorf("redact(%q) = %q, the patterns alone give %q", in, got, slow)
		}
		if !maySecret(in) && slow != in {
			t.Errorf("maySecret(%q) = false, but the patterns change it to %q", in, slow)
		}
	}
}
