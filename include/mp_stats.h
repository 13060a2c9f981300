/* SPDX-License-Identifier: GPL-2.0 */
/* Global fast-path outcome counters, shared by the BPF programs and the agent.
 * The list is written once; a new counter is one line here.
 */
#ifndef MP_STATS_H
#define MP_STATS_H

#define MP_STATS_MAP "mp_stats"

#define MP_STAT_LIST(X)          \
	X(PASS_NOT_IPV4, "pass_not_ipv4") \
	X(PASS_TRUNCATED, "pass_truncated") \
	X(PASS_NOT_UDP, "pass_not_udp")   \
	X(PASS_NO_ENTRY, "pass_no_entry")

enum mp_stat {
#define MP_STAT_ENUM(id, name) MP_STAT_##id,
	MP_STAT_LIST(MP_STAT_ENUM)
#undef MP_STAT_ENUM
	MP_STAT_MAX
};

#endif
