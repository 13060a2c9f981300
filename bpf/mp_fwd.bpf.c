// SPDX-License-Identifier: GPL-2.0
/* Relay fast path.  For now it only classifies packets and passes every one
 * to the stack; forwarding entries, rewrite and redirect arrive with the relay
 * issue.  The build pipeline (clang, BTF, skeleton, verifier) is the real one.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "mp_stats.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mp_stats SEC(".maps");

static __always_inline int count(__u32 outcome, int verdict)
{
	__u64 *counter = bpf_map_lookup_elem(&mp_stats, &outcome);

	if (counter)
		*counter += 1; /* per-CPU slot: no atomics needed */
	return verdict;
}

SEC("xdp")
int mp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(eth + 1) > data_end)
		return count(MP_STAT_PASS_TRUNCATED, XDP_PASS);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(MP_STAT_PASS_NOT_IPV4, XDP_PASS);
	if ((void *)(ip + 1) > data_end)
		return count(MP_STAT_PASS_TRUNCATED, XDP_PASS);
	if (ip->protocol != IPPROTO_UDP)
		return count(MP_STAT_PASS_NOT_UDP, XDP_PASS);
	return count(MP_STAT_PASS_NO_ENTRY, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
