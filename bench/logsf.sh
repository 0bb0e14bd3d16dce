#!/usr/bin/env bash
# `tsm logs -f` against a fast writer: a managed process (bench/logsf write)
# writes numbered lines of LEN bytes in 64 KiB writes as fast as it can while
# `tsm logs -f` runs, piped into bench/logsf count, which checks that every
# line came out exactly once. Per case, one JSON line: lines lost,
# duplicated, out of order, MB/s from the writer's start to the last line
# printed, and ms from the writer's end to the last line printed.
#
#   bench/logsf.sh                      # this checkout
#   BASE=main bench/logsf.sh            # and main, interleaved
#   LINES=2000000 LEN=40 ROUNDS=3 CASES="one all ts burst" bench/logsf.sh
#
# Cases: one (tsm logs -f NAME), all (tsm logs -f: merged, name prefixes,
# with a second, idle process), ts (--timestamps), burst (50 MB written at
# once in 1 MiB writes: the catch-up time). The log cap is the default
# (10 MiB), so the daemon rotates many times during a case.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
LINES=${LINES:-5000000}
LEN=${LEN:-40}
ROUNDS=${ROUNDS:-3}
CASES=${CASES:-one all ts burst}
work=$(mktemp -d /tmp/tsm-logsf.XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for b in "${tsm_bins[@]}"; do
    TSM_DIR="$work/state-${b##*/}" "$b" delete all >/dev/null 2>&1 || true
    TSM_DIR="$work/state-${b##*/}" "$b" daemon stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
source bench/build.sh
go build -o "$work/logsf" ./bench/logsf
for b in "${tsm_bins[@]}"; do
  mkdir -p "$work/state-${b##*/}" && chmod 700 "$work/state-${b##*/}"
  TSM_DIR="$work/state-${b##*/}" "$b" list >/dev/null # starts the daemon
done

# run BIN CASE: one measurement, one JSON line on stdout.
run() {
  local b=$1 c=$2 n=$LINES len=$LEN batch=65536 args=(logs -f w -n 0)
  export TSM_DIR="$work/state-${b##*/}"
  case $c in
    all) args=(logs -f -n 0); "$b" start --name idle sleep 100000 >/dev/null ;;
    ts) args=(logs -f w -n 0 --timestamps) ;;
    burst) n=$((50000000 / len)); batch=$((1 << 20)) ;;
  esac
  rm -f "$work/go" "$work/t0" "$work/t0.done"
  "$b" start --name w "$work/logsf" write -lines "$n" -len "$len" -batch "$batch" -go "$work/go" -t0 "$work/t0" >/dev/null
  rm -f "$work/pipe" && mkfifo "$work/pipe"
  "$b" "${args[@]}" >"$work/pipe" 2>>"$work/follower.err" &
  local f=$!
  pids+=("$f")
  (sleep 0.5; touch "$work/go") &
  local res
  res=$("$work/logsf" count -lines "$n" -t0 "$work/t0" <"$work/pipe")
  local cpu
  cpu=$(awk '{ print ($14 + $15) * 10 }' "/proc/$f/stat" 2>/dev/null || echo -1)
  kill "$f" 2>/dev/null || true
  wait "$f" 2>/dev/null || true
  "$b" delete all >/dev/null
  if [[ -s $work/follower.err ]]; then sed 's/^/follower: /' "$work/follower.err" >&2; : >"$work/follower.err"; fi
  echo "{\"bin\":\"$(label "$b")\",\"case\":\"$c\",\"lenBytes\":$len,\"followerCpuMs\":$cpu,\"result\":$res}"
}

for ((r = 1; r <= ROUNDS; r++)); do
  for c in $CASES; do
    for b in "${tsm_bins[@]}"; do run "$b" "$c"; done
  done
done
