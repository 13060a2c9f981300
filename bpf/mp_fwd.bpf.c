// SPDX-License-Identifier: GPL-2.0
/* Relay fast path (doc/fast-path.md §3): forwards the packets of an
 * installed leg (mp_fwd) to the other leg's remote, rewriting addresses,
 * ports, MACs and checksums, and passes everything else to the stack
 * unmodified, counted by reason in mp_stats.  One core serves both programs:
 * mp_xdp (native or generic XDP) and mp_tc (clsact ingress, where XDP cannot
 * attach).  The agent alone decides what is forwarded: no entry, no forwarding.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <stdbool.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "mp_fwd.h"
#include "mp_maps.h"
#include "mp_parse.h"
#include "mp_csum.h"

#define MP_AF_INET 2

/* Fixed before load through the skeleton (fastpath.c): the relay port
 * range and MP_CFG_* flags, then whether to act as if the kernel had no
 * bpf_redirect_neigh (the agent's probe, or its tests; the CO-RE check in
 * mp_tc covers kernels without it as well).  Read-only data: the verifier
 * knows the values, no map lookup a packet.
 */
const volatile struct mp_cfg mp_cfg = {};
const volatile bool mp_no_redirect_neigh = false;

/* The next-hop generation (struct mp_next_hop): the agent adds 1 when a
 * route, rule, neighbour or link changes, and so makes every cached next
 * hop stale at once.
 */
volatile __u64 mp_nh_gen;

enum mp_action {
	MP_PASS,		/* counted; the stack gets it unmodified */
	MP_DROP,		/* counted */
	MP_FORWARD,		/* not yet counted: rewrite with entry->nh */
	MP_FORWARD_NO_NEIGH,	/* not yet counted: route known, next-hop MAC not (tc) */
};

struct mp_plan {
	struct mp_hdrs h;
	struct mp_fwd_entry *entry;
	__u32 ifindex;		/* MP_FORWARD_NO_NEIGH: the egress device */
	__u32 in_ifindex;	/* where the packet came in */
	__u16 tot_len;
	__u64 now;		/* the precise clock, when the RTP statistics read it; else 0 */
};

static __always_inline enum mp_stat mp_fib_stat(long rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_BLACKHOLE:
		return MP_STAT_PASS_FIB_BLACKHOLE;
	case BPF_FIB_LKUP_RET_UNREACHABLE:
		return MP_STAT_PASS_FIB_UNREACHABLE;
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return MP_STAT_PASS_FIB_PROHIBIT;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return MP_STAT_PASS_FIB_NOT_FWDED;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return MP_STAT_PASS_FIB_FWD_DISABLED;
	case BPF_FIB_LKUP_RET_UNSUPP_LWT:
		return MP_STAT_PASS_FIB_UNSUPP_LWT;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return MP_STAT_PASS_FIB_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return MP_STAT_PASS_FIB_FRAG_NEEDED;
	default:	/* a negative error, or a code newer than this program */
		return MP_STAT_PASS_FIB_OTHER;
	}
}

static __always_inline enum mp_action mp_pass(enum mp_stat reason)
{
	mp_count(reason);
	return MP_PASS;
}

/* bpf_ktime_get_coarse_ns (Linux 5.11) is a plain read of the time of the
 * last tick, good enough for idle timeouts of seconds; older kernels take
 * the precise clock (the CO-RE check drops the call they lack).
 */
static __always_inline __u64 mp_now(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_coarse_ns))
		return bpf_ktime_get_coarse_ns();
	return bpf_ktime_get_ns();
}

/* What the rewrite adds to the checksums: the same for every packet of the
 * leg, since the source check fixed the old addresses and ports.
 */
static __always_inline void mp_csum_plan(struct mp_next_hop *nh, struct mp_fwd_entry *e, struct iphdr *ip,
					 struct udphdr *udp)
{
	struct mp_csum_words old = { .saddr = ip->saddr, .daddr = ip->daddr };
	struct mp_csum_words new = { .saddr = e->out_saddr, .daddr = e->out_daddr };

	/* the same for IPv4 and for the UDP pseudo-header; the TTL is mp_rewrite_ip's */
	nh->addr_csum = mp_csum_sum(&old, 2 * sizeof(__be32), &new, 2 * sizeof(__be32));
	old.w0 = udp->source;
	old.w1 = udp->dest;
	new.w0 = e->out_sport;
	new.w1 = e->out_dport;
	nh->port_csum = mp_csum_sum(&old.w0, 4, &new.w0, 4);
}

static __always_inline bool mp_next_hop_for(struct mp_next_hop *nh, __u64 gen, __u32 iif, __u8 tos)
{
	return nh->gen == gen && nh->iif == iif && nh->tos == tos;
}

/* A route lookup, whose success is cached in the entry for the next
 * packets.  Flags 0 is the ingress-mode full lookup, which honours policy
 * routing and needs forwarding on the ingress device.
 */
static __always_inline enum mp_action mp_route_lookup(void *ctx, struct mp_fwd_entry *e, __u32 ingress_ifindex,
						      struct mp_plan *p, __u64 gen)
{
	struct iphdr *ip = p->h.ip;
	struct bpf_fib_lookup fib = {};
	struct mp_next_hop nh = {};
	long rc;

	fib.family = MP_AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = IPPROTO_UDP;
	fib.sport = e->out_sport;
	fib.dport = e->out_dport;
	fib.tot_len = p->tot_len;
	fib.ipv4_src = e->out_saddr;
	fib.ipv4_dst = e->out_daddr;
	fib.ifindex = ingress_ifindex;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return mp_pass(mp_fib_stat(rc));
	if (!bpf_map_lookup_elem(&mp_tx, &fib.ifindex))
		return mp_pass(MP_STAT_PASS_NO_TX_DEV);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		p->ifindex = fib.ifindex;
		return MP_FORWARD_NO_NEIGH;
	}

	nh.ifindex = fib.ifindex;
	nh.iif = ingress_ifindex;
	__builtin_memcpy(nh.dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh.smac, fib.smac, ETH_ALEN);
	/* a longer packet than any before looked the same route up again */
	nh.max_len = mp_next_hop_for(&e->nh, gen, ingress_ifindex, ip->tos) && e->nh.max_len > p->tot_len ?
			     e->nh.max_len : p->tot_len;
	nh.tos = ip->tos;
	mp_csum_plan(&nh, e, ip, p->h.udp);
	/* The generation read before the lookup, written last: should the
	 * agent bump it meanwhile, the next packet looks up again.  A leg's
	 * packets come in on one CPU, so no two programs fill one entry.
	 */
	__builtin_memcpy((void *)&e->nh + sizeof(nh.gen), (void *)&nh + sizeof(nh.gen), sizeof(nh) - sizeof(nh.gen));
	asm volatile("" ::: "memory");
	e->nh.gen = gen;
	return MP_FORWARD;
}

/* Step 5: the next hop, from the entry while it is good (struct
 * mp_next_hop says when), else looked up.  Nothing in the packet changes.
 */
static __always_inline enum mp_action mp_route(void *ctx, struct mp_fwd_entry *e, __u32 ingress_ifindex,
					       struct mp_plan *p)
{
	__u64 gen = mp_nh_gen;

	if (mp_next_hop_for(&e->nh, gen, ingress_ifindex, p->h.ip->tos) && p->tot_len <= e->nh.max_len)
		return MP_FORWARD;
	return mp_route_lookup(ctx, e, ingress_ifindex, p, gen);
}

/* Step 4a (doc/fast-path.md §11): the leg's RTP statistics, for every
 * packet from the latched source, forwarded or not.  Only the checks of
 * mp_rtp.h run here; the clock is read only for a packet that goes into
 * the jitter, and that reading then serves as its last-seen time too.
 * Returns it, or 0.  Compiled out when the agent loads without
 * MP_CFG_RTP_STATS.
 */
static __always_inline __u64 mp_rtp_stats(struct mp_fwd_entry *e, struct udphdr *udp, void *data_end)
{
	struct mp_rtp_hdr *rtp = (void *)(udp + 1);
	__u64 now;

	if (!(mp_cfg.flags & MP_CFG_RTP_STATS) || (e->flags & MP_FWD_IS_RTCP))
		return 0;
	/* data_end may include Ethernet padding: the UDP length says what is payload */
	if ((void *)(rtp + 1) > data_end || bpf_ntohs(udp->len) < sizeof(*udp) + sizeof(*rtp))
		rtp = NULL;
	if (!mp_rtp_count(&e->rtp, rtp))
		return 0;
	now = bpf_ktime_get_ns();
	mp_rtp_update_jitter(&e->rtp, rtp, now);
	return now;
}

/* Steps 1-5 of section 3: everything up to, but excluding, the rewrite.
 * Nothing in the packet changes here, so any PASS hands the stack the
 * packet as it arrived.
 */
static __always_inline enum mp_action mp_decide(void *ctx, void *data, void *data_end,
						__u32 ingress_ifindex, struct mp_plan *p)
{
	struct mp_fwd_key key = {};
	struct mp_fwd_entry *e;
	struct iphdr *ip;
	struct udphdr *udp;
	enum mp_stat reason;
	__u32 dport;

	reason = mp_parse(data, data_end, &p->h);
	if (reason != MP_STAT_MAX)
		return mp_pass(reason);
	ip = p->h.ip;
	udp = p->h.udp;

	/* the port range first: most non-relay traffic leaves before any hash lookup */
	dport = bpf_ntohs(udp->dest);
	if (dport < mp_cfg.port_min || dport >= mp_cfg.port_max)
		return mp_pass(MP_STAT_PASS_OUT_OF_RANGE);

	key.local_ip = ip->daddr;
	key.local_port = udp->dest;
	e = bpf_map_lookup_elem(&mp_fwd, &key);
	if (!e)
		return mp_pass(MP_STAT_PASS_NO_ENTRY);	/* not latched yet: the agent's socket */

	if (ip->saddr != e->expect_ip || udp->source != e->expect_port) {
		if (!(e->flags & MP_FWD_DROP_OTHERS))
			return mp_pass(MP_STAT_PASS_WRONG_SOURCE);
		/* what the original's latched socket did; the agent logs the count */
		__sync_fetch_and_add(&e->dropped_src, 1);
		mp_count(MP_STAT_DROP_WRONG_SOURCE);
		return MP_DROP;
	}
	p->now = mp_rtp_stats(e, udp, data_end);
	p->entry = e;
	p->in_ifindex = ingress_ifindex;
	p->tot_len = bpf_ntohs(ip->tot_len);
	return mp_route(ctx, e, ingress_ifindex, p);
}

/* Step 8: only forwarded packets count, in the original's conntrack unit,
 * per leg and per ingress interface.
 */
static __always_inline void mp_account(struct mp_plan *p, enum mp_stat outcome)
{
	struct mp_ifstats *in = bpf_map_lookup_elem(&mp_ifstats, &p->in_ifindex);

	__sync_fetch_and_add(&p->entry->packets, 1);
	__sync_fetch_and_add(&p->entry->bytes, p->tot_len);
	p->entry->last_seen_ns = p->now ?: mp_now();
	mp_count(outcome);
	if (in) {
		in->packets += 1; /* per-CPU: no atomics needed */
		in->bytes += p->tot_len;
	}
}

/* Steps 6 and 7, but for the MACs and the UDP checksum: direct writes,
 * which both programs may make.  TOS, DF and the IP ID stay as they are.
 */
static __always_inline void mp_rewrite_ip(struct mp_plan *p, struct mp_next_hop *nh)
{
	struct mp_fwd_entry *e = p->entry;
	struct iphdr *ip = p->h.ip;
	struct udphdr *udp = p->h.udp;

	if (mp_cfg.flags & MP_CFG_DECREMENT_TTL) {
		/* the TTL/protocol word goes down by 0x100: its complement is added */
		ip->check = mp_csum_add(ip->check, mp_csum_fold16((__u32)nh->addr_csum + (__u16)~bpf_htons(0x100)));
		ip->ttl--;
	} else {
		ip->check = mp_csum_add(ip->check, nh->addr_csum);
	}
	ip->saddr = e->out_saddr;
	ip->daddr = e->out_daddr;
	udp->source = e->out_sport;
	udp->dest = e->out_dport;
}

static __always_inline void mp_rewrite_macs(struct mp_plan *p)
{
	__builtin_memcpy(p->h.eth->h_dest, p->entry->nh.dmac, ETH_ALEN);
	__builtin_memcpy(p->h.eth->h_source, p->entry->nh.smac, ETH_ALEN);
}

SEC("xdp")
int mp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct mp_plan p;
	__u32 egress;

	switch (mp_decide(ctx, data, data_end, ctx->ingress_ifindex, &p)) {
	case MP_PASS:
		return XDP_PASS;
	case MP_DROP:
		return XDP_DROP;
	case MP_FORWARD_NO_NEIGH:
		/* The agent relays this one from its socket; its send resolves
		 * the neighbour, and the next packets take the fast path.
		 */
		mp_count(MP_STAT_PASS_FIB_NO_NEIGH);
		return XDP_PASS;
	case MP_FORWARD:
		break;
	}
	p.h.udp->check = mp_udp_csum_add(p.h.udp->check,
					 mp_csum_fold16((__u32)p.entry->nh.addr_csum + p.entry->nh.port_csum));
	mp_rewrite_ip(&p, &p.entry->nh);
	mp_rewrite_macs(&p);
	mp_account(&p, MP_STAT_FORWARDED);
	egress = p.entry->nh.ifindex;
	if (egress == ctx->ingress_ifindex)
		return XDP_TX;
	/* flags 0: should the device have left mp_tx meanwhile, XDP_ABORTED */
	return bpf_redirect_map(&mp_tx, egress, 0);
}

/* The UDP checksum in tc: bpf_l4_csum_replace() with a sum (size 0) keeps
 * skb->csum consistent for CHECKSUM_COMPLETE and PARTIAL skbs, where only
 * the addresses (the pseudo-header) count; BPF_F_MARK_MANGLED_0 keeps a
 * zero checksum zero and sends a computed zero as 0xffff.  Packet pointers
 * are stale after it, so it comes last.  Returns 0, or < 0 when it failed.
 */
static __always_inline int mp_rewrite_udp_csum(struct __sk_buff *skb, struct mp_plan *p, struct mp_next_hop *nh)
{
	__u32 udp_check = p->h.l3_off + sizeof(struct iphdr) + offsetof(struct udphdr, check);
	__u16 addr = nh->addr_csum, port = nh->port_csum;

	if (bpf_l4_csum_replace(skb, udp_check, 0, addr, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0) ||
	    bpf_l4_csum_replace(skb, udp_check, 0, port, BPF_F_MARK_MANGLED_0))
		return -1;
	return 0;
}

SEC("tc")
int mp_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct mp_next_hop fresh = {};
	enum mp_action action;
	struct mp_plan p;

	action = mp_decide(skb, data, data_end, skb->ifindex, &p);
	if (action == MP_PASS)
		return TC_ACT_OK;
	if (action == MP_DROP)
		return TC_ACT_SHOT;
	/* A GRO aggregate of several datagrams: the stack splits it. */
	if (skb->gso_size) {
		mp_count(MP_STAT_PASS_GSO);
		return TC_ACT_OK;
	}
	if (action == MP_FORWARD_NO_NEIGH) {
		/* bpf_redirect_neigh (Linux 5.10) resolves the next hop itself */
		if (mp_no_redirect_neigh || !bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_redirect_neigh)) {
			mp_count(MP_STAT_PASS_FIB_NO_NEIGH);
			return TC_ACT_OK;
		}
		/* no next hop to cache: the sums the rewrite needs, made afresh */
		mp_csum_plan(&fresh, p.entry, p.h.ip, p.h.udp);
		mp_rewrite_ip(&p, &fresh);
		if (mp_rewrite_udp_csum(skb, &p, &fresh))
			return TC_ACT_SHOT;	/* partly rewritten: never to the stack */
		mp_account(&p, MP_STAT_FORWARDED_NEIGH);
		return bpf_redirect_neigh(p.ifindex, NULL, 0, 0);
	}
	mp_rewrite_ip(&p, &p.entry->nh);
	mp_rewrite_macs(&p);
	if (mp_rewrite_udp_csum(skb, &p, &p.entry->nh))
		return TC_ACT_SHOT;
	mp_account(&p, MP_STAT_FORWARDED);
	return bpf_redirect(p.entry->nh.ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
