/* The agent's side of the per-leg RTP statistics (doc/fast-path.md §11):
 * the clock rates of the static payload types, the packets the agent
 * relays itself, and the figures a stream reports.  The counting is
 * include/mp_rtp.h, the same code the BPF programs run.
 */
#ifndef MP_RTP_STATS_H
#define MP_RTP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mp_rtp.h"

/* What a leg reports (doc/relay-sessions.md §12.5). */
struct rtp_quality {
	bool enabled;           /* [Relay] rtp_stats: false, no keys at all */
	bool measured;          /* false: not known (the conntrack tier forwarded the stream) */
	bool has_jitter;        /* the payload type's clock rate is known */
	uint32_t lost, out_of_order, duplicates, ssrc_changes;
	double jitter_ms;
};

/* The RTP clock rate of a static payload type (RFC 3551 section 6); 0 for a
 * dynamic or unassigned one.
 */
unsigned rtp_stats_clock_rate(unsigned payload_type);

/* One datagram from the leg's latched source, arrived at `arrival_ns`
 * (CLOCK_MONOTONIC).  The leg's first RTP packet fixes the payload type
 * whose clock times the jitter.
 */
void rtp_stats_packet(struct mp_rtp_leg *s, const unsigned char *data, size_t len, uint64_t arrival_ns);

struct rtp_quality rtp_stats_quality(const struct mp_rtp_leg *s);

#endif
