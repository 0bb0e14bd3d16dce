#!/usr/bin/env bash
# Respawn latency: the median gap between a crashing service's exit and its
# next instance's start, over CYCLES crashes (default 50), under tsm and,
# when installed, PM2 (npm install -g pm2) side by side, with two probes:
#   sh  bench/crash.sh: sh + date, the method of anchor-bench.md §4 (adds
#       1-2 ms of shell start-up to every figure);
#   c   bench/crash.c built static (needs gcc): measures the manager alone.
#
#   bench/respawn.sh            # tsm from this checkout, plus pm2 if on PATH
#   CYCLES=20 PROBES=sh bench/respawn.sh
#   BASE=f755722 bench/respawn.sh   # also an earlier tsm, side by side
#
# The service runs 1.2 s before crashing, longer than tsm's min-uptime, so
# every restart is immediate (no backoff) — the same for PM2 (its default
# restart delay is 0).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
CYCLES=${CYCLES:-50}
work=$(mktemp -d /tmp/tsm-bench.XXXX)
trap 'cleanup' EXIT
cleanup() {
  for bin in "$work"/tsm-*; do
    [[ -x $bin ]] || continue
    TSM_DIR="$work/state-${bin##*/}" "$bin" delete all >/dev/null 2>&1 || true
    TSM_DIR="$work/state-${bin##*/}" "$bin" daemon stop >/dev/null 2>&1 || true
  done
  if command -v pm2 >/dev/null; then PM2_HOME="$work/pm2" pm2 kill >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
. bench/build.sh

# wait_cycles LOG: until LOG holds CYCLES exit→start pairs.
wait_cycles() {
  local log=$1 deadline=$((SECONDS + CYCLES * 3 + 30))
  while (( $(grep -c '^start' "$log" 2>/dev/null || echo 0) <= CYCLES )); do
    (( SECONDS < deadline )) || { echo "timed out waiting for $CYCLES restarts in $log" >&2; exit 1; }
    sleep 1
  done
}

# gaps LOG: prints median, min and max of exit→next start, in ms.
gaps() {
  awk '/^exit/ {e=$2} /^start/ && e {printf "%.3f\n", ($2-e)/1e6; e=0}' "$1" | sort -n |
    awk '{a[NR]=$1} END {printf "median %.2f ms  (min %.2f, max %.2f, n=%d)\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR], NR}'
}

echo "respawn latency, $CYCLES crashes each, $(nproc) CPUs, $(uname -sr)"
PROBES=${PROBES:-"sh c"}
for probe in $PROBES; do
  case $probe in
    sh) cmd=(bench/crash.sh) pm2cmd=(bench/crash.sh --interpreter sh) ;;
    c)
      command -v gcc >/dev/null || { echo "probe c needs gcc; skipped"; continue; }
      gcc -O2 -static -o "$work/crash" bench/crash.c
      cmd=("$work/crash") pm2cmd=("$work/crash" --interpreter none) ;;
    *) echo "unknown probe $probe" >&2; exit 64 ;;
  esac
  for bin in "${tsm_bins[@]}"; do
    export CRASH_LOG="$work/log-${bin##*/}-$probe.log"
    TSM_DIR="$work/state-${bin##*/}" "$bin" start --name crash "${cmd[@]}" >/dev/null
    wait_cycles "$CRASH_LOG"
    TSM_DIR="$work/state-${bin##*/}" "$bin" delete crash >/dev/null
    printf '%-6s %-22s %s\n' "$probe" "$(label "$bin")" "$(gaps "$CRASH_LOG")"
  done

  if command -v pm2 >/dev/null; then
    export CRASH_LOG="$work/pm2-$probe.log"
    PM2_HOME="$work/pm2" pm2 start "${pm2cmd[@]}" --name crash >/dev/null
    wait_cycles "$CRASH_LOG"
    PM2_HOME="$work/pm2" pm2 delete crash >/dev/null
    printf '%-6s %-22s %s\n' "$probe" "pm2 $(PM2_HOME="$work/pm2" pm2 --version 2>/dev/null | tail -1)" "$(gaps "$CRASH_LOG")"
  else
    echo "pm2 not installed (npm install -g pm2): tsm only"
  fi
done
