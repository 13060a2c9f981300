// SPDX-License-Identifier: GPL-2.0
/* The receiver: counts and drops the generator's UDP packets (destination
 * port in [port_min, port_max)) and files each one's one-way latency, from
 * the send time the generator wrote after the RTP header, in a histogram.
 * Everything else (ARP, the stack's own traffic) passes.  Per-CPU counters:
 * the cheapest way to count at line rate.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "bench.h"

const volatile __u16 port_min;
const volatile __u16 port_max;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} received SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SINK_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} latency SEC(".maps");

static __always_inline __u32 bucket(__u64 ns)
{
	__u64 us = ns / 1000;

	if (us < SINK_FINE_US)
		return us;
	us = SINK_FINE_US + (us - SINK_FINE_US) / SINK_COARSE_US;
	return us < SINK_BUCKETS ? us : SINK_BUCKETS - 1;
}

SEC("xdp")
int sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip + 1);
	__u8 *rtp = (void *)(udp + 1);
	__u64 *count, sent, now;
	__u32 zero = 0, b;
	__u16 port;

	if ((void *)(rtp + BENCH_RTP_HDR + 8) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	port = bpf_ntohs(udp->dest);
	if (port < port_min || port >= port_max)
		return XDP_PASS;

	count = bpf_map_lookup_elem(&received, &zero);
	if (count)
		*count += 1;
	now = bpf_ktime_get_ns();
	__builtin_memcpy(&sent, rtp + BENCH_RTP_HDR, sizeof(sent));
	b = bucket(sent < now ? now - sent : 0);
	count = bpf_map_lookup_elem(&latency, &b);
	if (count)
		*count += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
