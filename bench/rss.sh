#!/usr/bin/env bash
# Daemon memory: VmRSS of the tsm daemon supervising N `sleep` processes
# (default 0, 100 and 1000), each N with a fresh daemon. Two figures per N:
# "after starts" is sampled 1 s after the last process is up, as
# bench/compare.sh samples it (before the idle trim); "at rest" is the median
# of 5 samples 1 s apart from 4 s later (after the idle trim). It ends with
# the growth per process between the two largest N (the target of issue 12:
# ≤ 8 KiB per process from 100 to 1000).
#
#   bench/rss.sh
#   COUNTS="100" bench/rss.sh
#   BASE=main bench/rss.sh          # tsm at main too, interleaved per N
#   PPROF=1 bench/rss.sh            # also goroutines and live heap per N
#                                   # (a -tags tsmprofile build, see
#                                   # internal/daemon/profile.go; its own RSS
#                                   # is not the release binary's; main
#                                   # before issue 12 serves no profiles)
#   PPROF=1 KEEP=/tmp/h bench/rss.sh  # keeps the heap profiles as
#                                   # /tmp/h.BIN.N.heap (go tool pprof)
#   MIX=1 bench/rss.sh              # every 10th process a python3 -m
#                                   # http.server on its own port, as
#                                   # bench/compare.sh runs them
# Each figure also says how much of it is anonymous memory (heap, stacks,
# the runtime's own) and how much file pages (the executable's code), from
# /proc/PID/smaps_rollup.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
COUNTS=${COUNTS:-"0 100 1000"}
work=$(mktemp -d /tmp/tsm-bench.XXXX)
export TSM_DIR="$work/tsm"
cur=""
cleanup() {
  if [[ -n $cur ]]; then "$cur" delete all >/dev/null 2>&1 || true; "$cur" daemon stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
. bench/build.sh
if [[ -n ${PPROF:-} ]]; then
  for b in "${tsm_bins[@]}"; do
    src=.; [[ $b == */tsm-base ]] && src=$work/base-src
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -tags tsmprofile -o "$b" ./cmd/tsm)
  done
  export TSM_PPROF="$work/pprof.sock"
fi
declare -A names # labels now: the tree may change (a commit) while this runs
for b in "${tsm_bins[@]}"; do names[$b]=$(label "$b"); done
kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# anon+file KiB of the resident set, e.g. "6120a+1410f".
split() { awk '/^Anonymous:/ {a=$2} /^Rss:/ {r=$2} END {printf "%da+%df", a, r-a}' "/proc/$1/smaps_rollup"; }
# argv of the i-th managed process.
workload() {
  if [[ -n ${MIX:-} ]] && (($1 % 10 == 0)); then
    echo "python3 -m http.server $((${PORT0:-23000} + $1 / 10)) --bind 127.0.0.1"
  else
    echo "sleep 100000"
  fi
}
declare -A rest started
for n in $COUNTS; do
  for tsm in "${tsm_bins[@]}"; do
    cur=$tsm
    name=${names[$tsm]}
    "$tsm" list >/dev/null # starts the daemon
    for ((i = 0; i < n; i++)); do echo "$i $(workload "$i")"; done |
      xargs -r -P 20 -L 1 bash -c 'exec "$0" start --name "s$1" "${@:2}" >/dev/null' "$tsm"
    pid=$(cat "$TSM_DIR/daemon.pid")
    sleep 1
    after=$(kib "$pid") aftersplit=$(split "$pid")
    if [[ -n ${PPROF:-} ]]; then
      ms=$(curl -s --unix-socket "$TSM_PPROF" http://x/debug/memstats | awk '{printf "%s %.1fM ", $1, $2 / 1048576}')
    fi
    sleep 3
    samples=()
    for _ in 1 2 3 4 5; do
      samples+=("$(kib "$pid")")
      sleep 1
    done
    med=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p) restsplit=$(split "$pid")
    rest[$name/$n]=$med started[$name/$n]=$after
    extra=""
    if [[ -n ${PPROF:-} ]]; then
      g=$(curl -s --unix-socket "$TSM_PPROF" 'http://x/debug/pprof/goroutine?debug=1' | sed -n 's/^goroutine profile: total \([0-9]*\).*/\1/p')
      curl -s --unix-socket "$TSM_PPROF" 'http://x/debug/pprof/heap?gc=1' -o "$work/heap"
      heap=$(go tool pprof -sample_index=inuse_space -top "$work/heap" 2>/dev/null | sed -n 's/.* of \([0-9.]*[kMG]*B\) total.*/\1/p')
      extra=$(printf '  goroutines %s, live heap %s' "$g" "$heap")
      [[ -n ${KEEP:-} ]] && cp "$work/heap" "${KEEP}.$(basename "$tsm").$n.heap"
    fi
    printf '%-18s N=%-4s RSS after starts %6.1f MiB (%s), at rest %6.1f MiB (%s; KiB: %s)%s\n' "$name" "$n" \
      "$(echo "$after / 1024" | bc -l)" "$aftersplit" "$(echo "$med / 1024" | bc -l)" "$restsplit" "${samples[*]}" "$extra"
    [[ -n ${PPROF:-} ]] && printf '%-18s N=%-4s 1 s after starts: %s\n' "$name" "$n" "$ms"
    "$tsm" delete all >/dev/null
    "$tsm" daemon stop >/dev/null
    cur=""
  done
done
set -- $COUNTS
if (($# >= 2)); then
  lo=${@: -2:1} hi=${@: -1}
  for tsm in "${tsm_bins[@]}"; do
    name=${names[$tsm]}
    printf '%-18s growth per process, N=%s→%s: %.1f KiB after starts, %.1f KiB at rest\n' "$name" "$lo" "$hi" \
      "$(echo "(${started[$name/$hi]} - ${started[$name/$lo]}) / ($hi - $lo)" | bc -l)" \
      "$(echo "(${rest[$name/$hi]} - ${rest[$name/$lo]}) / ($hi - $lo)" | bc -l)"
  done
fi
