#!/usr/bin/env bash
# `tsm stop all` of N (default 100) supervised `sleep`s, ROUNDS times
# (default 10), this checkout and (with BASE) an earlier tsm interleaved
# round by round: wall time of the CLI, and the CPU time the daemon spent
# (utime+stime from /proc, 10 ms ticks) — on 2 shared cores the second is
# the steadier figure. Each round starts the N again with --no-wait.
#
#   bench/stopall.sh
#   BASE=main N=1000 ROUNDS=3 bench/stopall.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${N:-100}
ROUNDS=${ROUNDS:-10}
work=$(mktemp -d /tmp/tsm-bench.XXXX)
cleanup() {
  for bin in "${tsm_bins[@]}"; do
    TSM_DIR="$work/state-${bin##*/}" "$bin" delete all >/dev/null 2>&1 || true
    TSM_DIR="$work/state-${bin##*/}" "$bin" daemon stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
tsm_bins=()
trap cleanup EXIT
. bench/build.sh

cpu_ms() { awk '{print ($14 + $15) * 10}' "/proc/$1/stat"; }
for _ in $(seq "$ROUNDS"); do
  for bin in "${tsm_bins[@]}"; do
    export TSM_DIR="$work/state-${bin##*/}"
    seq 1 "$N" | xargs -P 4 -I{} "$bin" start --no-wait --name "s{}" sleep 100000 >/dev/null
    sleep 0.5
    pid=$(cat "$TSM_DIR/daemon.pid")
    c0=$(cpu_ms "$pid")
    t0=$(date +%s%N)
    "$bin" stop all >/dev/null
    t1=$(date +%s%N)
    echo "${bin##*/} $(((t1 - t0) / 1000000)) $(($(cpu_ms "$pid") - c0))"
    "$bin" delete all >/dev/null
  done
done >"$work/rounds"
for bin in "${tsm_bins[@]}"; do
  awk -v b="${bin##*/}" -v name="$(label "$bin")" -v n="$N" '$1 == b { w[++k] = $2; c += $3 }
    END {
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (w[j] < w[i]) { t = w[i]; w[i] = w[j]; w[j] = t }
      med = (k % 2) ? w[(k + 1) / 2] : (w[k / 2] + w[k / 2 + 1]) / 2
      printf "%-22s stop all of %d: median %s ms (min %s, max %s; %d rounds), daemon CPU %.0f ms a round\n", name, n, med, w[1], w[k], k, c / k
    }' "$work/rounds"
done
