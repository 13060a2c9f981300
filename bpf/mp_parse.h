/* SPDX-License-Identifier: GPL-2.0 */
/* Header parsing for the fast path: Ethernet, at most one 802.1Q tag,
 * IPv4 without options or fragmentation, UDP.  Bounded, no loops.
 */
#ifndef MP_PARSE_H
#define MP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "mp_stats.h"

/* Kernel-internal definitions that the UAPI headers do not export. */
struct mp_vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

#define MP_IP_MF	0x2000
#define MP_IP_OFFSET	0x1fff

struct mp_hdrs {
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 l3_off;		/* offset of the IPv4 header from the frame start */
};

/* Returns MP_STAT_MAX when the packet is a relay candidate, else the
 * reason to pass it.  Options and fragments go to the stack: the kernel
 * reassembles, and the agent's socket gets the datagram.
 */
static __always_inline enum mp_stat mp_parse(void *data, void *data_end, struct mp_hdrs *h)
{
	struct ethhdr *eth = data;
	struct mp_vlan_hdr *vlan;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 l3_off = sizeof(*eth);
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return MP_STAT_PASS_TRUNCATED;
	proto = eth->h_proto;
	ip = (void *)(eth + 1);
	if (proto == bpf_htons(ETH_P_8021Q)) {
		vlan = (void *)(eth + 1);
		if ((void *)(vlan + 1) > data_end)
			return MP_STAT_PASS_TRUNCATED;
		proto = vlan->encapsulated_proto;
		ip = (void *)(vlan + 1);
		l3_off += sizeof(*vlan);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return MP_STAT_PASS_NOT_IPV4;
	if ((void *)(ip + 1) > data_end)
		return MP_STAT_PASS_TRUNCATED;
	if (ip->version != 4)
		return MP_STAT_PASS_NOT_IPV4;
	if (ip->ihl != 5)	/* options, or a malformed header the stack will judge */
		return MP_STAT_PASS_IP_OPTIONS;
	if (ip->frag_off & bpf_htons(MP_IP_MF | MP_IP_OFFSET))
		return MP_STAT_PASS_FRAGMENT;
	if (ip->protocol != IPPROTO_UDP)
		return MP_STAT_PASS_NOT_UDP;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return MP_STAT_PASS_TRUNCATED;
	if (ip->ttl <= 1)	/* the stack sends the ICMP time exceeded */
		return MP_STAT_PASS_TTL;
	h->eth = eth;
	h->ip = ip;
	h->udp = udp;
	h->l3_off = l3_off; /* not ip - data: subtracting pointers needs CAP_PERFMON */
	return MP_STAT_MAX;
}

#endif
