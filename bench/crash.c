/* A crashing service without a shell: logs its start and exit times (ns
 * since the epoch) to $CRASH_LOG, runs $CRASH_AFTER seconds (default 1.2),
 * exits 1. Built static by respawn.sh so that exec costs as little as
 * possible and the gap measures the manager, not the probe. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void) {
	FILE *f = fopen(getenv("CRASH_LOG"), "a");
	if (!f) return 2;
	fprintf(f, "start %lld\n", now());
	fflush(f);
	const char *after = getenv("CRASH_AFTER");
	usleep((useconds_t)((after ? atof(after) : 1.2) * 1e6));
	fprintf(f, "exit %lld\n", now());
	fclose(f);
	return 1;
}
