#!/usr/bin/env bash
# Builds and installs tsm into $GOBIN (default ~/go/bin), then shows it
# working: starts a real Python HTTP server, lists it, reads its logs and
# stops it again, in a private state directory.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=$(git describe --always --dirty 2>/dev/null || echo dev)
CGO_ENABLED=0 go install -trimpath -ldflags "-X github.com/tetra/tsm/internal/release.Build=$version" ./cmd/tsm
bin="$(go env GOPATH)/bin/tsm"
[[ -n "$(go env GOBIN)" ]] && bin="$(go env GOBIN)/tsm"
echo "installed $bin ($("$bin" version))"
[[ "${1:-}" == "--no-demo" ]] && exit 0

demo=$(mktemp -d /tmp/tsm-demo.XXXX)
export TSM_DIR="$demo/state"
mkdir -p "$demo/my-api" && cd "$demo/my-api"
echo "<h1>hello from tsm</h1>" > index.html
trap '"$bin" delete all >/dev/null 2>&1; "$bin" daemon stop >/dev/null 2>&1; rm -rf "$demo"' EXIT
run() { echo; echo "\$ $*"; "$@"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run "$bin" start python3 -m http.server "$port" --bind 127.0.0.1
run curl -s "http://127.0.0.1:$port/"
run "$bin" list
run "$bin" logs my-api --lines 5
run "$bin" stop my-api
echo
echo "tsm works. Add $(dirname "$bin") to your PATH and try: tsm --help"
