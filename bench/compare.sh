#!/usr/bin/env bash
# tsm beside PM2, supervisord and process-compose in one run; writes
# bench/RESULTS.md, bench/results.json and bench/scaling.svg.
#
#   bench/compare.sh                      # N = 0,10,100,1000 (peers up to 100)
#   N=0,10 RUNS=5 FOREIGN=50 bench/compare.sh   # a quick try
#   BASE=main bench/compare.sh            # also tsm at BASE, side by side
#   STOPS=5 (default): stop-all samples per manager and N, interleaved
#
# Missing peers are installed through their ordinary clients (npm install
# -g pm2; apt-get install supervisor; process-compose: go mod download of
# a tagged version, then go build, since `go install …@latest` is refused
# by the module proxy here). A peer that cannot be had is skipped, and the
# run says so. Everything runs on loopback, each manager in its own state
# directory under a scratch dir; every process carries BENCH_TAG, and the
# program stops each manager through its own command, then kills by PID
# whatever tagged process is left.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
PC_VERSION=${PC_VERSION:-v1.85.0}
work=$(mktemp -d /tmp/tsm-compare.XXXX)
trap 'rm -rf "$work"' EXIT

if ! command -v pm2 >/dev/null; then
  echo "compare: installing pm2 (npm install -g pm2)" >&2
  npm install -g pm2 >&2 || echo "compare: could not install pm2; it will be skipped" >&2
fi
if ! command -v supervisord >/dev/null; then
  echo "compare: installing supervisor (apt-get install supervisor)" >&2
  { apt-get update && apt-get install -y supervisor; } >&2 || echo "compare: could not install supervisor; it will be skipped" >&2
fi
pc=$(command -v process-compose || true)
if [[ -z $pc ]]; then
  echo "compare: building process-compose $PC_VERSION from the Go module proxy" >&2
  if dir=$(cd "$work" && go mod download -json "github.com/f1bonacc1/process-compose@$PC_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') && [[ -n $dir ]] &&
    (cd "$dir" && go build -o "$work/process-compose" .); then
    pc=$work/process-compose
  else
    echo "compare: could not build process-compose; it will be skipped" >&2
    pc=process-compose
  fi
fi

. bench/build.sh
bins=()
for b in "${tsm_bins[@]}"; do bins+=("$(label "$b" | tr ' ' '-')=$b"); done
go build -o "$work/compare" ./bench/compare
go build -o "$work/logsf" ./bench/logsf
"$work/compare" -logsf "$work/logsf" -tsm "$(IFS=,; echo "${bins[*]}")" -process-compose "$pc" -process-compose-version "$PC_VERSION" \
  -n "${N:-0,10,100,1000}" -runs "${RUNS:-20}" -starts "${STARTS:-5}" -stops "${STOPS:-5}" -foreign "${FOREIGN:-1000}" \
  -work "$work/state" -out bench
echo "compare: wrote bench/RESULTS.md, bench/results.json, bench/scaling.svg" >&2
