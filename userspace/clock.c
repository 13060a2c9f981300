#include <time.h>
#include "clock.h"

struct clock_reading clock_now(void)
{
	struct timespec wall, mono;

	clock_gettime(CLOCK_REALTIME, &wall);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (struct clock_reading){ .wall = (double)wall.tv_sec + wall.tv_nsec / 1e9,
				 .mono_ns = (uint64_t)mono.tv_sec * 1000000000ULL + (uint64_t)mono.tv_nsec };
}
