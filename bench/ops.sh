#!/usr/bin/env bash
# Everyday command latency with N (default 100) supervised `sleep`
# processes, tsm and (when installed) PM2 side by side: `list` (median of
# RUNS calls, default 20) and `stop all` (until the CLI returns, then until
# no process is left). Wall clock from a new CLI process each time.
#
#   bench/ops.sh
#   N=10 RUNS=50 bench/ops.sh
#   BASE=f755722 bench/ops.sh      # also an earlier tsm, side by side
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${N:-100}
RUNS=${RUNS:-20}
work=$(mktemp -d /tmp/tsm-bench.XXXX)
export PM2_HOME="$work/pm2" BENCH_TAG="tsm-ops-$$"
cleanup() {
  for bin in "$work"/tsm-*; do
    [[ -x $bin ]] || continue
    TSM_DIR="$work/state-${bin##*/}" "$bin" delete all >/dev/null 2>&1 || true
    TSM_DIR="$work/state-${bin##*/}" "$bin" daemon stop >/dev/null 2>&1 || true
  done
  if command -v pm2 >/dev/null; then pm2 kill >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
. bench/build.sh

now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b-a)/1e6}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# tagged counts the live sleeps this run started (they carry BENCH_TAG;
# so does this shell, hence the check of the command name).
tagged() {
  local n=0 f
  for f in $(grep -l "BENCH_TAG=$BENCH_TAG" /proc/[0-9]*/environ 2>/dev/null); do
    [[ $(cat "${f%/environ}/comm" 2>/dev/null) == sleep ]] && n=$((n + 1))
  done
  echo "$n"
}

# measure NAME LIST-CMD... : list latency, then stop-all latency via $stop.
measure() {
  local name=$1; shift
  local samples=()
  "$@" >/dev/null # warm
  for _ in $(seq "$RUNS"); do
    local t0; t0=$(now); "$@" >/dev/null; samples+=("$(ms "$t0" "$(now)")")
  done
  local list; list=$(printf '%s\n' "${samples[@]}" | median)
  local t0; t0=$(now)
  $stop >/dev/null 2>&1
  local cli; cli=$(ms "$t0" "$(now)")
  while (( $(tagged) > 0 )); do sleep 0.005; done
  local gone; gone=$(ms "$t0" "$(now)")
  printf '%-22s list %6s ms (median of %d)   stop all: CLI %7s ms, all gone %7s ms\n' "$name" "$list" "$RUNS" "$cli" "$gone"
}

echo "N=$N sleep processes, $(nproc) CPUs, $(uname -sr)"
for bin in "${tsm_bins[@]}"; do
  export TSM_DIR="$work/state-${bin##*/}"
  seq 1 "$N" | xargs -P 8 -I{} "$bin" start --name "s{}" sleep 100000 >/dev/null
  stop="$bin stop all"
  measure "$(label "$bin")" "$bin" list
  "$bin" delete all >/dev/null
  "$bin" daemon stop >/dev/null
done

if command -v pm2 >/dev/null; then
  for i in $(seq 1 "$N"); do pm2 start sleep --name "s$i" -- 100000 >/dev/null; done
  stop="pm2 stop all"
  measure "pm2 $(pm2 --version | tail -1)" pm2 jlist
else
  echo "pm2 not installed (npm install -g pm2): tsm only"
fi
