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

/* Set by the agent when its probe finds no bpf_redirect_neigh (or it is
 * told to act so); the CO-RE check below covers kernels without it as well.
 */
const volatile bool mp_no_redirect_neigh = false;

enum mp_action {
	MP_PASS,		/* counted; the stack gets it unmodified */
	MP_DROP,		/* counted */
	MP_FORWARD,		/* not yet counted: rewrite with plan.fib */
	MP_FORWARD_NO_NEIGH,	/* not yet counted: route known, next-hop MAC not */
};

struct mp_plan {
	struct mp_hdrs h;
	struct mp_fwd_entry *entry;
	struct bpf_fib_lookup fib;	/* the result: egress ifindex, MACs */
	__u32 in_ifindex;		/* where the packet came in */
	__u16 tot_len;			/* bpf_fib_lookup overwrites fib.tot_len */
	__u8 ttl_dec;			/* 1 when MP_CFG_DECREMENT_TTL */
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
	struct mp_cfg *cfg;
	enum mp_stat reason;
	__u32 zero = 0, dport;
	long rc;

	reason = mp_parse(data, data_end, &p->h);
	if (reason != MP_STAT_MAX)
		return mp_pass(reason);
	ip = p->h.ip;
	udp = p->h.udp;

	/* the port range first: most non-relay traffic leaves before any hash lookup */
	cfg = bpf_map_lookup_elem(&mp_cfg, &zero);
	dport = bpf_ntohs(udp->dest);
	if (!cfg || dport < cfg->port_min || dport >= cfg->port_max)
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

	/* Route before touching the packet: on any failure it must reach the
	 * stack as it arrived.  Flags 0 is the ingress-mode full lookup, which
	 * honours policy routing and needs forwarding on the ingress device.
	 */
	__builtin_memset(&p->fib, 0, sizeof(p->fib));
	p->fib.family = MP_AF_INET;
	p->fib.tos = ip->tos;
	p->fib.l4_protocol = IPPROTO_UDP;
	p->fib.sport = e->out_sport;
	p->fib.dport = e->out_dport;
	p->fib.tot_len = bpf_ntohs(ip->tot_len);
	p->fib.ipv4_src = e->out_saddr;
	p->fib.ipv4_dst = e->out_daddr;
	p->fib.ifindex = ingress_ifindex;
	p->in_ifindex = ingress_ifindex;
	p->tot_len = p->fib.tot_len;
	rc = bpf_fib_lookup(ctx, &p->fib, sizeof(p->fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return mp_pass(mp_fib_stat(rc));
	if (!bpf_map_lookup_elem(&mp_tx, &p->fib.ifindex))
		return mp_pass(MP_STAT_PASS_NO_TX_DEV);

	p->entry = e;
	p->ttl_dec = cfg->flags & MP_CFG_DECREMENT_TTL ? 1 : 0;
	return rc == BPF_FIB_LKUP_RET_SUCCESS ? MP_FORWARD : MP_FORWARD_NO_NEIGH;
}

/* Step 8: only forwarded packets count, in the original's conntrack unit,
 * per leg and per ingress interface.
 */
static __always_inline void mp_account(struct mp_plan *p, enum mp_stat outcome)
{
	struct mp_ifstats *in = bpf_map_lookup_elem(&mp_ifstats, &p->in_ifindex);

	__sync_fetch_and_add(&p->entry->packets, 1);
	__sync_fetch_and_add(&p->entry->bytes, p->tot_len);
	p->entry->last_seen_ns = bpf_ktime_get_ns();
	mp_count(outcome);
	if (in) {
		in->packets += 1; /* per-CPU: no atomics needed */
		in->bytes += p->tot_len;
	}
}

/* The checksum words before and after the rewrite (section 3, step 7). */
static __always_inline void mp_csum_words(struct mp_plan *p, struct mp_csum_words *ip_old,
					  struct mp_csum_words *ip_new,
					  struct mp_csum_words *udp_old,
					  struct mp_csum_words *udp_new)
{
	struct iphdr *ip = p->h.ip;
	struct mp_fwd_entry *e = p->entry;

	ip_old->saddr = udp_old->saddr = ip->saddr;
	ip_old->daddr = udp_old->daddr = ip->daddr;
	ip_new->saddr = udp_new->saddr = e->out_saddr;
	ip_new->daddr = udp_new->daddr = e->out_daddr;
	ip_old->w0 = bpf_htons(ip->ttl << 8 | ip->protocol);
	ip_new->w0 = bpf_htons((ip->ttl - p->ttl_dec) << 8 | ip->protocol);
	ip_old->w1 = ip_new->w1 = 0;
	udp_old->w0 = p->h.udp->source;
	udp_old->w1 = p->h.udp->dest;
	udp_new->w0 = e->out_sport;
	udp_new->w1 = e->out_dport;
}

/* Step 6 and 7 for XDP: direct writes, checksums by hand.  TOS, DF and the
 * IP ID stay as they are.
 */
static __always_inline void mp_rewrite_xdp(struct mp_plan *p)
{
	struct mp_csum_words ip_old, ip_new, udp_old, udp_new;
	struct iphdr *ip = p->h.ip;
	struct udphdr *udp = p->h.udp;

	mp_csum_words(p, &ip_old, &ip_new, &udp_old, &udp_new);
	ip->check = mp_csum_replace(ip->check, &ip_old, &ip_new);
	udp->check = mp_udp_csum_replace(udp->check, &udp_old, &udp_new);
	ip->saddr = ip_new.saddr;
	ip->daddr = ip_new.daddr;
	ip->ttl -= p->ttl_dec;
	udp->source = udp_new.w0;
	udp->dest = udp_new.w1;
	__builtin_memcpy(p->h.eth->h_dest, p->fib.dmac, ETH_ALEN);
	__builtin_memcpy(p->h.eth->h_source, p->fib.smac, ETH_ALEN);
}

SEC("xdp")
int mp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct mp_plan p;

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
	mp_rewrite_xdp(&p);
	mp_account(&p, MP_STAT_FORWARDED);
	if (p.fib.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	/* flags 0: should the device have left mp_tx meanwhile, XDP_ABORTED */
	return bpf_redirect_map(&mp_tx, p.fib.ifindex, 0);
}

/* Step 6 and 7 for tc: the csum helpers keep skb->csum consistent for
 * CHECKSUM_COMPLETE and PARTIAL skbs; BPF_F_MARK_MANGLED_0 keeps a zero UDP
 * checksum zero and sends a computed zero as 0xffff.  Packet pointers are
 * stale after the first helper, so everything is read beforehand and
 * written by offset.  Returns 0, or < 0 when a helper failed.
 */
static __always_inline int mp_rewrite_skb(struct __sk_buff *skb, struct mp_plan *p, bool macs)
{
	struct mp_csum_words ip_old, ip_new, udp_old, udp_new;
	__u32 ip_off = p->h.l3_off;
	__u32 ip_check = ip_off + offsetof(struct iphdr, check);
	__u32 udp_off = ip_off + sizeof(struct iphdr);
	__u32 udp_check = udp_off + offsetof(struct udphdr, check);
	__u64 l4_addr = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(__be32);
	__u64 l4_port = BPF_F_MARK_MANGLED_0 | sizeof(__be16);
	__u8 ttl = p->h.ip->ttl - p->ttl_dec;
	__u8 macs_new[2 * ETH_ALEN];

	mp_csum_words(p, &ip_old, &ip_new, &udp_old, &udp_new);
	__builtin_memcpy(macs_new, p->fib.dmac, ETH_ALEN);
	__builtin_memcpy(macs_new + ETH_ALEN, p->fib.smac, ETH_ALEN);

	if (bpf_l4_csum_replace(skb, udp_check, ip_old.saddr, ip_new.saddr, l4_addr) ||
	    bpf_l4_csum_replace(skb, udp_check, ip_old.daddr, ip_new.daddr, l4_addr) ||
	    bpf_l4_csum_replace(skb, udp_check, udp_old.w0, udp_new.w0, l4_port) ||
	    bpf_l4_csum_replace(skb, udp_check, udp_old.w1, udp_new.w1, l4_port) ||
	    bpf_l3_csum_replace(skb, ip_check, ip_old.saddr, ip_new.saddr, sizeof(__be32)) ||
	    bpf_l3_csum_replace(skb, ip_check, ip_old.daddr, ip_new.daddr, sizeof(__be32)) ||
	    bpf_l3_csum_replace(skb, ip_check, ip_old.w0, ip_new.w0, sizeof(__be16)))
		return -1;
	if (bpf_skb_store_bytes(skb, ip_off + offsetof(struct iphdr, ttl), &ttl, sizeof(ttl), 0) ||
	    bpf_skb_store_bytes(skb, ip_off + offsetof(struct iphdr, saddr), &ip_new, 2 * sizeof(__be32), 0) ||
	    bpf_skb_store_bytes(skb, udp_off, &udp_new.w0, 2 * sizeof(__be16), 0))
		return -1;
	if (macs && bpf_skb_store_bytes(skb, 0, macs_new, sizeof(macs_new), 0))
		return -1;
	return 0;
}

SEC("tc")
int mp_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
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
		if (mp_rewrite_skb(skb, &p, false))
			return TC_ACT_SHOT;	/* partly rewritten: never to the stack */
		mp_account(&p, MP_STAT_FORWARDED_NEIGH);
		return bpf_redirect_neigh(p.fib.ifindex, NULL, 0, 0);
	}
	if (mp_rewrite_skb(skb, &p, true))
		return TC_ACT_SHOT;
	mp_account(&p, MP_STAT_FORWARDED);
	return bpf_redirect(p.fib.ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
