/* SPDX-License-Identifier: GPL-2.0 */
/* The fast path's maps (doc/fast-path.md §2).  No `pinning` attribute:
 * the agent pins them itself under MP_PIN_DIR, after resizing mp_fwd.
 */
#ifndef MP_MAPS_H
#define MP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "mp_fwd.h"
#include "mp_stats.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);	/* preallocated: no allocation per packet */
	__uint(max_entries, MP_FWD_DEFAULT_ENTRIES);
	__type(key, struct mp_fwd_key);
	__type(value, struct mp_fwd_entry);
} mp_fwd SEC(".maps");

/* Egress devices the agent allows, keyed by ifindex.  A devmap, so that
 * XDP can redirect through it; the programs look it up before caching a
 * next hop.  Its value is the ifindex alone: a devmap whose value could
 * carry a program keeps generic XDP off the device before Linux 5.14.
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} mp_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct mp_ifstats);
} mp_ifstats SEC(".maps");

/* RTCP copies for the agent (struct mp_rtcp_copy), one perf buffer per
 * CPU: bpf_perf_event_output() appends a variable number of packet bytes
 * from the context, in XDP and tc alike, on every kernel the programs
 * load on; a ring buffer would need bpf_xdp_load_bytes (5.18) for that.
 * The agent sets max_entries to the number of possible CPUs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} mp_rtcp SEC(".maps");

static __always_inline void mp_count(enum mp_stat outcome)
{
	__u32 key = outcome;
	__u64 *counter = bpf_map_lookup_elem(&mp_stats, &key);

	if (counter)
		*counter += 1; /* per-CPU slot: no atomics needed */
}

#endif
