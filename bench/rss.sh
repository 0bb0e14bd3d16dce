#!/usr/bin/env bash
# Daemon memory: VmRSS of the tsm daemon, idle, supervising N `sleep`
# processes (default 0, 10 and 100), sampled 5 times 1 s apart after all
# are up — the method of ../shared/reference/anchor-bench.md §3.
#
#   bench/rss.sh
#   COUNTS="100" bench/rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
COUNTS=${COUNTS:-"0 10 100"}
work=$(mktemp -d /tmp/tsm-bench.XXXX)
export TSM_DIR="$work/tsm"
trap '"$work/tsm-bin" delete all >/dev/null 2>&1; "$work/tsm-bin" daemon stop >/dev/null 2>&1; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/tsm-bin" ./cmd/tsm
tsm="$work/tsm-bin"
for n in $COUNTS; do
  "$tsm" delete all >/dev/null 2>&1 || true
  "$tsm" daemon stop >/dev/null 2>&1 || true
  seq 1 "$n" | xargs -P 8 -I{} "$tsm" start --name "s{}" sleep 100000 >/dev/null
  "$tsm" list >/dev/null   # a fresh daemon has served every kind of request
  pid=$(cat "$TSM_DIR/daemon.pid")
  sleep 3
  samples=()
  for _ in 1 2 3 4 5; do
    samples+=("$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")")
    sleep 1
  done
  printf 'N=%-4s daemon RSS (KiB): %s  → %.1f MiB\n' "$n" "${samples[*]}" "$(echo "${samples[4]} / 1024" | bc -l)"
done
