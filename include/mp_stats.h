/* SPDX-License-Identifier: GPL-2.0 */
/* Global fast-path outcome counters (mp_stats, PERCPU_ARRAY indexed by
 * enum mp_stat), shared by the BPF programs and the agent.  Every packet the
 * programs see moves exactly one of them.  The list is written once; a new
 * counter is one line here.
 */
#ifndef MP_STATS_H
#define MP_STATS_H

#include <linux/types.h>

#define MP_STATS_MAP "mp_stats"
#define MP_IFSTATS_MAP "mp_ifstats"

#define MP_STAT_LIST(X)							\
	X(FORWARDED, "forwarded")					\
	X(FORWARDED_NEIGH, "forwarded_neigh")				\
	X(PASS_NOT_IPV4, "pass_not_ipv4")				\
	X(PASS_TRUNCATED, "pass_truncated")				\
	X(PASS_IP_OPTIONS, "pass_ip_options")				\
	X(PASS_FRAGMENT, "pass_fragment")				\
	X(PASS_NOT_UDP, "pass_not_udp")					\
	X(PASS_TTL, "pass_ttl")						\
	X(PASS_OUT_OF_RANGE, "pass_out_of_range")			\
	X(PASS_NO_ENTRY, "pass_no_entry")				\
	X(PASS_WRONG_SOURCE, "pass_wrong_source")			\
	X(DROP_WRONG_SOURCE, "drop_wrong_source")			\
	X(PASS_FIB_BLACKHOLE, "pass_fib_blackhole")			\
	X(PASS_FIB_UNREACHABLE, "pass_fib_unreachable")			\
	X(PASS_FIB_PROHIBIT, "pass_fib_prohibit")			\
	X(PASS_FIB_NOT_FWDED, "pass_fib_not_fwded")			\
	X(PASS_FIB_FWD_DISABLED, "pass_fib_fwd_disabled")		\
	X(PASS_FIB_UNSUPP_LWT, "pass_fib_unsupp_lwt")			\
	X(PASS_FIB_NO_NEIGH, "pass_fib_no_neigh")			\
	X(PASS_FIB_FRAG_NEEDED, "pass_fib_frag_needed")			\
	X(PASS_FIB_OTHER, "pass_fib_other")				\
	X(PASS_NO_TX_DEV, "pass_no_tx_dev")				\
	X(PASS_GSO, "pass_gso")

enum mp_stat {
#define MP_STAT_ENUM(id, name) MP_STAT_##id,
	MP_STAT_LIST(MP_STAT_ENUM)
#undef MP_STAT_ENUM
	MP_STAT_MAX
};

/* mp_ifstats value (PERCPU_HASH keyed by the ingress ifindex): what the
 * programs forwarded of the packets that came in on one interface.  The
 * agent adds each interface it attaches to; the programs only count.
 */
struct mp_ifstats {
	__u64 packets;
	__u64 bytes;	/* IPv4 total length, as mp_fwd_entry counts */
};

#endif
