/* SPDX-License-Identifier: GPL-2.0 */
/* Forwarding entries and fast-path configuration: the map ABI shared by the
 * BPF programs and the agent (doc/fast-path.md §2).  Fixed-width types
 * only, so that both sides agree on every offset; the sizes are asserted.
 */
#ifndef MP_FWD_H
#define MP_FWD_H

#include <linux/types.h>

#define MP_PIN_DIR	"/sys/fs/bpf/mediaproxy"
#define MP_FWD_MAP	"mp_fwd"
#define MP_CFG_MAP	"mp_cfg"
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

/* mp_fwd value: one leg.  Entries are immutable once inserted; only the BPF
 * programs write the counters, with atomic adds.
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
	__u64 last_seen_ns;	/* CLOCK_MONOTONIC, bpf_ktime_get_ns() */
	__u64 dropped_src;	/* packets from a non-latched source, DROP_OTHERS set */
};

/* mp_cfg.flags */
#define MP_CFG_DECREMENT_TTL	(1U << 0)	/* behave as a router: TTL - 1 */

/* mp_cfg value (ARRAY, one element at key 0).  All zero, the fast path
 * forwards nothing: no port is in [0, 0).
 */
struct mp_cfg {
	__u32 port_min;		/* first relay port */
	__u32 port_max;		/* one past the last relay port */
	__u32 flags;		/* MP_CFG_* */
};

_Static_assert(sizeof(struct mp_fwd_key) == 8, "mp_fwd key is 8 bytes");
_Static_assert(sizeof(struct mp_fwd_entry) == 64, "mp_fwd value is 64 bytes");
_Static_assert(__builtin_offsetof(struct mp_fwd_entry, packets) == 32, "counters start at 32");
_Static_assert(sizeof(struct mp_cfg) == 12, "mp_cfg value is 12 bytes");

#endif
