#!/usr/bin/env bash
# Runs every test of tsm under the race detector: unit tests, and the
# end-to-end scripts that drive the real tsm binary against real processes.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
go test -race -count=1 -timeout 15m ./... "$@"
