/* The relay's figures, gathered by the agent (agent_stats) for the
 * extension of its summary (doc/relay-protocol.md §6.3) and for its
 * /metrics (doc/management.md §9).
 */
#ifndef MP_RELAY_STATS_H
#define MP_RELAY_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include "fastpath_stats.h"
#include "forwarder.h"
#include "media.h"
#include "session.h"

struct relay_stats {
	uint64_t uptime;                    /* seconds */
	enum forwarder_tier tier;
	unsigned sessions;
	unsigned streams[STREAM_STATUSES];  /* the streams held, by status */
	unsigned pairs_total, pairs_free, pairs_quarantined, pairs_unusable; /* port pairs */
	struct media_counters media;
	uint64_t rtcp_copies_lost;          /* RTCP copies the agent was too slow for */
	bool fast_path;                     /* the BPF tier runs: `fastpath` holds its figures */
	struct fastpath_stats fastpath;
};

#endif
