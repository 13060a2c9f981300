/* The relay's two clocks, read together. */
#ifndef MP_CLOCK_H
#define MP_CLOCK_H

#include <stdint.h>

/* Both clocks of one moment.  `wall` (CLOCK_REALTIME, UNIX seconds) is what
 * the statistics report; `mono_ns` (CLOCK_MONOTONIC) times what must not
 * follow clock steps: the media timers and the port quarantine.
 */
struct clock_reading {
	double wall;
	uint64_t mono_ns;
};

/* Both clocks, now. */
struct clock_reading clock_now(void);

#endif
