#!/usr/bin/env bash
# Idle cost of --watch: 10 projects of 10 000 files each (100 directories
# of 100 files), each watched by one process; the daemon's CPU time over
# an idle minute (utime+stime from /proc/<pid>/stat), and its watches.
# Usage: bench/watch.sh [TSM_BINARY] [SECONDS]
set -euo pipefail
tsm=${1:-./tsm}
secs=${2:-60}
work=$(mktemp -d)
export TSM_DIR=$work/state
trap '"$tsm" delete all >/dev/null 2>&1 || true; "$tsm" daemon stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
for p in $(seq 0 9); do
  for d in $(seq 0 99); do
    mkdir -p "$work/p$p/d$d"
    (cd "$work/p$p/d$d" && touch $(seq -f 'f%g.txt' 0 99))
  done
  (cd "$work/p$p" && "$tsm" start --name "p$p" --watch sleep 100000 >/dev/null)
done
echo "files: $(find "$work"/p* -type f | wc -l), directories: $(find "$work"/p* -type d | wc -l)"
pid=$(cat "$TSM_DIR/daemon.pid")
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
watches=$(grep -c '^inotify' /proc/"$pid"/fdinfo/* 2>/dev/null | awk -F: '{s+=$2} END {print s}')
sleep 2
before=$(cpu)
sleep "$secs"
after=$(cpu)
hz=$(getconf CLK_TCK)
echo "daemon inotify watches: $watches"
awk -v t=$((after-before)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "daemon CPU over %ds idle: %d ticks = %.3f s = %.3f %%\n", s, t, t/hz, 100*t/hz/s}'
