/* SPDX-License-Identifier: GPL-2.0 */
/* Forwarding entries and fast-path configuration: the ABI shared by the
 * BPF programs and the agent (doc/fast-path.md §2).  Fixed-width types
 * only, so that both sides agree on every offset; the sizes are asserted.
 */
#ifndef MP_FWD_H
#define MP_FWD_H

#include <linux/types.h>
#include "mp_rtp.h"

#define MP_PIN_DIR	"/sys/fs/bpf/mediaproxy"
#define MP_FWD_MAP	"mp_fwd"
#define MP_TX_MAP	"mp_tx"

/* Default size of mp_fwd; the agent sets one entry per relay port before load. */
#define MP_FWD_DEFAULT_ENTRIES	20000

/* mp_fwd key: the packet's destination, i.e. the relay's own address and port. */
struct mp_fwd_key {
	__be32 local_ip;
	__be16 local_port;
	__u16 pad;		/* must be zero */
};

/* mp_fwd_entry.flags */
#define MP_FWD_DROP_OTHERS	(1U << 0)	/* drop, do not pass, a non-latched source */
#define MP_FWD_IS_RTCP		(1U << 1)	/* informational: an RTCP leg */

/* The next hop of a leg and what its rewrite adds to the checksums, cached
 * by the programs from a route lookup.  Good while nh_gen equals the
 * programs' mp_nh_gen and the packet came in on nh_iif with TOS nh_tos
 * and an IPv4 total length of at most nh_max_len; the agent bumps
 * mp_nh_gen when a route, rule, neighbour or link changes, and the next
 * packet of each leg looks its route up again (doc/fast-path.md §3 step 5).
 */
struct mp_next_hop {
	__u64 gen;
	__u32 ifindex;		/* egress device */
	__u32 iif;		/* the ingress device the lookup was made for */
	__u8 dmac[6];		/* the next hop's MAC */
	__u8 smac[6];		/* the egress device's MAC */
	__u16 max_len;		/* the longest IPv4 total length the route took */
	__u8 tos;		/* the TOS the lookup was made with */
	__u8 pad;
	__u16 addr_csum;	/* the new addresses' sum for the IPv4 and UDP checksums (RFC 1624) */
	__u16 port_csum;	/* the new ports' sum for the UDP checksum */
	__u32 pad2;
};

/* mp_fwd value: one leg.  The agent writes the first 32 bytes at insertion
 * and never changes a live entry; only the BPF programs write the rest:
 * the counters with atomic adds, and the next hop.
 */
struct mp_fwd_entry {
	__be32 expect_ip;	/* latched remote of this leg */
	__be32 out_saddr;	/* the relay address of the other side */
	__be32 out_daddr;	/* the other leg's latched remote */
	__be16 expect_port;
	__be16 out_sport;
	__be16 out_dport;
	__u16 flags;		/* MP_FWD_* */
	__u32 stream_id;
	__u32 leg;
	__u32 pad;		/* keeps the counters 8-byte aligned; zero */
	__u64 packets;
	__u64 bytes;		/* IPv4 total length, the original's conntrack unit */
	__u64 last_seen_ns;	/* CLOCK_MONOTONIC (coarse where the kernel has it) */
	__u64 dropped_src;	/* packets from a non-latched source, DROP_OTHERS set */
	struct mp_next_hop nh;	/* zero at insertion: looked up by the first packet */
	struct mp_rtp_leg rtp;	/* RTP legs with MP_CFG_RTP_STATS: as the agent left it, then the programs' */
};

/* mp_cfg.flags */
#define MP_CFG_DECREMENT_TTL	(1U << 0)	/* behave as a router: TTL - 1 */
#define MP_CFG_RTP_STATS	(1U << 1)	/* keep mp_fwd_entry.rtp of legs without MP_FWD_IS_RTCP */

/* The programs' configuration, fixed before they load (`mp_cfg` in their
 * read-only data, set through the skeleton).  All zero, the fast path
 * forwards nothing: no port is in [0, 0).
 */
struct mp_cfg {
	__u32 port_min;		/* first relay port */
	__u32 port_max;		/* one past the last relay port */
	__u32 flags;		/* MP_CFG_* */
};

_Static_assert(sizeof(struct mp_fwd_key) == 8, "mp_fwd key is 8 bytes");
_Static_assert(sizeof(struct mp_next_hop) == 40, "a next hop is 40 bytes");
_Static_assert(sizeof(struct mp_fwd_entry) == 176, "mp_fwd value is 176 bytes");
_Static_assert(__builtin_offsetof(struct mp_fwd_entry, packets) == 32, "counters start at 32");
_Static_assert(__builtin_offsetof(struct mp_fwd_entry, nh) == 64, "the next hop starts at 64");
_Static_assert(__builtin_offsetof(struct mp_fwd_entry, rtp) == 104, "the RTP statistics start at 104");
_Static_assert(sizeof(struct mp_cfg) == 12, "mp_cfg is 12 bytes");

#endif
