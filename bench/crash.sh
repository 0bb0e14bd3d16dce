#!/bin/sh
# A service that runs for a while, then crashes. Each instance logs when it
# started and when it exits (ns since the epoch) to $CRASH_LOG, so the gap
# between one instance's exit and the next one's start is the respawn
# latency as the service itself sees it (including sh start-up and one date
# fork, 1-2 ms, for every manager alike).
echo "start $(date +%s%N)" >> "$CRASH_LOG"
sleep "${CRASH_AFTER:-1.2}"
echo "exit $(date +%s%N)" >> "$CRASH_LOG"
exit 1
