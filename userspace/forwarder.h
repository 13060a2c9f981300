/* Installs established substreams in the forwarding tier the relay runs:
 * the BPF fast path's mp_fwd entries, the kernel conntrack NAT entries, or
 * nothing at all (the userspace tier, where the agent's sockets carry every
 * packet).  The agent sees one interface whatever the tier.
 */
#ifndef MP_FORWARDER_H
#define MP_FORWARDER_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "conntrack_nat.h"
#include "mp_rtp.h"

enum forwarder_tier {
	FORWARDER_BPF,
	FORWARDER_CONNTRACK,
	FORWARDER_USERSPACE,
};

/* One substream (RTP or RTCP of a stream): index 0 is the caller's leg,
 * 1 the callee's.  Ports in host order.
 */
struct substream {
	struct in_addr local_ip[2];
	uint16_t local_port[2];
	struct in_addr remote_ip[2]; /* the latched addresses */
	uint16_t remote_port[2];
	bool rtcp;
	uint32_t stream_id;
	struct mp_rtp_leg rtp[2]; /* RTP: the statistics the BPF entries continue from */
};

/* What the kernel forwarded for one leg since its entry was installed. */
struct leg_counters {
	uint64_t packets, bytes;
	uint64_t last_seen_ns; /* CLOCK_MONOTONIC; 0 when the tier does not know */
	uint64_t dropped_src;  /* packets from a non-latched source */
	bool has_rtp;          /* the BPF tier: rtp holds the entry's RTP statistics */
	struct mp_rtp_leg rtp;
};

struct forwarder {
	enum forwarder_tier tier;
	int fwd_map;              /* FORWARDER_BPF: mp_fwd */
	bool no_lookup_and_delete; /* kernels before 5.14 lack it on hash maps */
	struct conntrack_nat ct;  /* FORWARDER_CONNTRACK */
	unsigned idle_timeout;    /* FORWARDER_CONNTRACK: the entries' timeout */
};

const char *forwarder_tier_name(enum forwarder_tier tier);

/* Both legs, or neither: -1 (logged) when the tier refused.  The entries
 * start as last seen at `now_ns` (CLOCK_MONOTONIC), so that a substream
 * silent from the start still goes idle.
 */
int forwarder_install(struct forwarder *fwd, const struct substream *sub, uint64_t now_ns);

/* The live counters of both legs; -1 when the entries are gone (a conntrack
 * entry that timed out), with `out` zeroed.
 */
int forwarder_read(struct forwarder *fwd, const struct substream *sub, struct leg_counters out[2]);

/* Deletes both legs; their final counters go to `out`.  A leg whose entry
 * is already gone (a conntrack entry the kernel expired) keeps what `out`
 * held: the caller passes its last reading.
 */
void forwarder_remove(struct forwarder *fwd, const struct substream *sub, struct leg_counters out[2]);

/* The tier's entries carry no last-seen time: the kernel refreshes them at
 * each packet and expires them itself (conntrack), so a substream is idle
 * once its entries are gone, and never before.
 */
bool forwarder_expires_idle(const struct forwarder *fwd);

/* A restart: deletes the BPF entries of legs `keep` does not claim (ports
 * in host order).  Returns how many were deleted.
 */
unsigned forwarder_prune(struct forwarder *fwd, bool (*keep)(void *ctx, struct in_addr local_ip, uint16_t port),
			 void *ctx);

#endif
