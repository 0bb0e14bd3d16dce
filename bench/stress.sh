#!/usr/bin/env bash
# The lifecycle stress test (TestStress in cmd/tsm/stress_test.go), run
# longer: random concurrent start/stop/kill/restart/delete on a few names
# while the daemon is SIGKILLed at random moments and a few ms into
# operations, in both cgroup modes, until each mode has seen KILLS daemon
# kills (or SECONDS passed). Then it prints, per mode, the invariant
# violations the test found: duplicate instances, untracked and lost
# processes, orphans (leftovers of runs), table and directory mismatches,
# acknowledged commands undone, services the daemon restarted after an
# interrupted stop (resurrect), starts SIGKILLed with nobody acting on them
# (stillborn).
#
#   bench/stress.sh
#   KILLS=100 bench/stress.sh
#   KILLS=0 SECONDS=120 bench/stress.sh    # time only
#   RACE=0 WORKERS=4 bench/stress.sh
#
# KILLS    daemon kills per mode before the chaos ends (default 500; 0: none)
# SECONDS  time bound of the chaos per mode (default 900)
# WORKERS  concurrent command workers (default 3)
# RACE     1 (default): build with -race, as CI does; 0: without
# SEED     seed of the random choices (default: the clock)
# Timelines, daemon logs and event logs are kept in a directory it names.

# bash counts SECONDS up from the value it imported, or from 0 when none
# was: read it before anything else.
bound=$SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
KILLS=${KILLS:-500}
WORKERS=${WORKERS:-3}
RACE=${RACE:-1}
[ "$bound" -gt 0 ] || bound=900

out=$(mktemp -d /tmp/tsm-stress.XXXX)
log="$out/go-test.log"
race=()
[ "$RACE" = 1 ] && race=(-race)

echo "stress: ${KILLS} daemon kills per mode (bound ${bound}s per mode), ${WORKERS} workers, race detector: $([ "$RACE" = 1 ] && echo on || echo off)"
echo "stress: full output in $log; timelines and daemon logs in $out"
echo "stress: building the test binary…"
go test "${race[@]}" -c -o "$out/tsm.test" ./cmd/tsm

# The go test timeout covers both modes plus settling and cleanup.
timeout=$((2 * (bound + 300)))s
echo "stress: running (modes: cgroups as the daemon finds them, then TSM_NO_CGROUPS=1)…"
set +e
env TSM_STRESS_KILLS="$KILLS" TSM_STRESS_SECONDS="$bound" TSM_STRESS_WORKERS="$WORKERS" \
    TSM_STRESS_LOG="$out" ${SEED:+TSM_STRESS_SEED="$SEED"} \
    "$out/tsm.test" -test.run '^TestStress$' -test.count=1 -test.v -test.timeout "$timeout" 2>&1 |
  tee "$log" |
  # Progress and per-mode counts; the violations' details stay in the log.
  grep --line-buffered -E '^(=== RUN|--- |ok|FAIL|PASS)|stress_test\.go:[0-9]+: (stress:|  chaos|  quiet|mode |  [a-z ]+ +[0-9]+ run|  daemon kills|  violations|  timeline)|violation( of|$)' |
  sed -u -e 's/^ *stress_test\.go:[0-9]*: /  /'
status=${PIPESTATUS[0]}
set -e

echo
echo "stress: final counts (per mode; orphans count leftover runs, duplicates names):"
grep -h 'STRESS SUMMARY' "$log" | sed 's/.*STRESS SUMMARY //' |
  awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (!hdr++) printf "  %-10s %8s %6s %9s %9s %5s %6s %5s %4s %7s %4s %9s %9s %7s %4s %5s %10s\n", "mode", "commands", "kills", "duplicate", "untracked", "lost", "orphan", "table", "dir", "daemons", "ack", "resurrect", "stillborn", "quiesce", "hung", "race", "violations"
    printf "  %-10s %8s %6s %9s %9s %5s %6s %5s %4s %7s %4s %9s %9s %7s %4s %5s %10s\n", v["mode"], v["commands"], v["kills"], v["duplicate"], v["untracked"], v["lost"], v["orphan"], v["table"], v["dir"], v["daemons"], v["ack"], v["resurrect"], v["stillborn"], v["quiesce"], v["hung"], v["race"], v["violations"]
  }'
if [ "$status" -eq 0 ]; then
  echo "stress: no violations"
else
  echo "stress: the test failed (exit $status); each violation's details and reproduction are in $log"
fi
exit "$status"
