/* What the BPF fast path did, read from its maps (doc/fast-path.md §2):
 * the outcome of every packet the programs saw (mp_stats), what they
 * forwarded per ingress interface (mp_ifstats), and how full each map is.
 * For the relay's summary (doc/relay-protocol.md §6.3) and its /metrics.
 */
#ifndef MP_FASTPATH_STATS_H
#define MP_FASTPATH_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include "fastpath.h"
#include "mp_stats.h"

#define FASTPATH_MAPS 5

struct fastpath_stats {
	uint64_t outcomes[MP_STAT_MAX];
	unsigned interface_count;
	struct {
		const char *name;          /* the fastpath's, valid while it is */
		enum fastpath_tier tier;
		uint64_t packets, bytes;   /* forwarded of what came in on it */
	} iface[FASTPATH_MAX_INTERFACES];
	unsigned map_count;                /* 0 unless asked for */
	struct {
		const char *name;
		uint32_t entries, max_entries; /* an array is always full */
	} maps[FASTPATH_MAPS];
};

/* Reads the counters, and with `fill` counts each map's entries (a hash
 * map's keys one by one: for /metrics, not for every summary).  A map that
 * cannot be read leaves its figures at 0 (logged at debug level).
 */
void fastpath_stats_read(const struct fastpath *fp, bool fill, struct fastpath_stats *out);

#endif
