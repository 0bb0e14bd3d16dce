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
