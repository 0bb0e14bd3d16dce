#!/usr/bin/env bash
# Log loss during rotation: a service writes numbered lines (1..LINES, one
# write(2) per line, as an unbuffered service logs) as fast as it can while the tsm daemon rotates its current.out through many
# rotations; then the rotated files and the live file, read as one stream,
# are checked for missing and duplicated lines. Prints the rotations, the
# largest live file seen (against the cap), the lines missing/duplicated and
# the writer's throughput.
#
#   bench/logloss.sh                       # state dir on /tmp (ext4 here: collapse)
#   DIR=/dev/shm bench/logloss.sh          # tmpfs: the copy-and-truncate fallback
#   LINES=5000000 CAP=1M bench/logloss.sh
#   KEEPWORK=1 bench/logloss.sh            # keep the files (the process directory copied) to inspect
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
LINES=${LINES:-5000000}
CAP=${CAP:-4M}
work=$(mktemp -d "${DIR:-/tmp}/tsm-logloss.XXXX")
export TSM_DIR="$work/state"
trap 'cleanup' EXIT
cleanup() {
  [[ -n ${KEEPWORK:-} ]] && cp -r "$TSM_DIR/runtime/processes/seq" "$work/seq-copy"
  "$work/tsm-now" delete all >/dev/null 2>&1 || true
  "$work/tsm-now" daemon stop >/dev/null 2>&1 || true
  [[ -n ${KEEPWORK:-} ]] && echo "kept $work" >&2 || rm -rf "$work"
}
source bench/build.sh
tsm="$work/tsm-now"
mkdir -p "$TSM_DIR" && chmod 700 "$TSM_DIR"
# Keep every rotated file (no size bound) so that all lines can be counted.
printf '[logs]\nmax_size = "%s"\nkeep = 100000\ntotal_max_size = 0\n' "$CAP" > "$TSM_DIR/config.toml"
fs=$(df --output=fstype "$work" | tail -1)
"$tsm" list >/dev/null   # starts the daemon
out="$TSM_DIR/runtime/processes/seq/current.out"
start=$(date +%s%N)
"$tsm" start --name seq --restart never perl -e '$|=1; print "$_\n" for 1..$ARGV[0]' "$LINES" >/dev/null
biggest=0
while :; do
  size=$(stat -c %s "$out" 2>/dev/null || echo 0)
  (( size > biggest )) && biggest=$size
  state=$("$tsm" info seq --json | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p')
  [[ $state == exited || $state == crashed ]] && break
  sleep 0.05
done
end=$(date +%s%N)
# The daemon would go on rotating while the files are read back.
"$tsm" daemon stop >/dev/null
# Rotated files, oldest (highest number) first.
rotated() { find "$(dirname "$out")" -name 'current.out.[0-9]*' | awk -F. '{ print $NF, $0 }' | sort -n -r | cut -d' ' -f2-; }
rotations=$(rotated | wc -l)
read -r missing dup total < <(
  { rotated | xargs -r cat; cat "$out"; } |
  awk -v n="$LINES" '{ c[$0]++; t++ } END { m = 0; d = 0; for (i = 1; i <= n; i++) { if (!(i in c)) m++; else if (c[i] > 1) d += c[i] - 1 } print m, d, t }')
ms=$(( (end - start) / 1000000 ))
bytes=$({ rotated | xargs -r cat; cat "$out"; } | wc -c)
echo "file system:     $fs ($work)"
echo "lines written:   $LINES ($((bytes >> 20)) MiB) in ${ms} ms: $(( LINES * 1000 / (ms > 0 ? ms : 1) )) lines/s, $(( (bytes >> 20) * 1000 / (ms > 0 ? ms : 1) )) MiB/s"
echo "rotations:       $rotations (cap $CAP); largest live file seen: $biggest bytes"
echo "lines read back: $total; missing: $missing; duplicated: $dup"
