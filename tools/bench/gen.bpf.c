// SPDX-License-Identifier: GPL-2.0
/* The traffic generator's program, run with BPF_PROG_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES: every run writes a whole RTP frame of the
 * next stream into the frame it is given and transmits it (XDP_TX) out of
 * the sender's interface.  Live frames come back from the page pool as the
 * last user left them (a relay may have rewritten the headers in place), so
 * every header is written on every run; only the payload after the send time
 * stays as the loader's template made it.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "bench.h"

const volatile __u32 n_streams = 1;
const volatile __u64 interval_ns;	/* paced: one frame each; 0: as fast as it goes */
const volatile __u8 src_mac[ETH_ALEN];
const volatile __u8 dst_mac[ETH_ALEN];

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);		/* the loader sets n_streams */
	__type(key, __u32);
	__type(value, struct gen_stream);
} streams SEC(".maps");

__u64 sent;	/* frames transmitted so far; one thread runs the program */
__u64 next_ns;	/* paced: when the next frame is due */

static __always_inline __u32 sum32(__u32 v)
{
	return (v & 0xffff) + (v >> 16);
}

SEC("xdp")
int gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip + 1);
	__u8 *rtp = (void *)(udp + 1);
	struct gen_stream *s;
	__u32 i, seq, ts, sum;
	__u64 now;

	if (data + BENCH_FRAME > data_end)
		return XDP_ABORTED;
	now = bpf_ktime_get_ns();
	/* Pacing inside one long run: a frame not yet due is dropped, which
	 * costs little and sends nothing.  The alternative, one short run per
	 * burst, pays for a page pool per run and sends in bursts.
	 */
	if (interval_ns) {
		if (now < next_ns)
			return XDP_DROP;
		/* after the sender was held up, no catching up in a burst */
		next_ns = now - next_ns > 16 * interval_ns ? now + interval_ns : next_ns + interval_ns;
	}
	i = sent % n_streams;
	s = bpf_map_lookup_elem(&streams, &i);
	if (!s)
		return XDP_ABORTED;
	seq = bpf_htons((__u16)(sent / n_streams));
	ts = bpf_htonl((__u32)(sent / n_streams) * 160);

	/* element by element: a memcpy from a const would be folded to zeros */
	for (int b = 0; b < ETH_ALEN; b++) {
		eth->h_dest[b] = dst_mac[b];
		eth->h_source[b] = src_mac[b];
	}
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xb8;	/* EF, as phones mark RTP */
	ip->tot_len = bpf_htons(BENCH_IP_LEN);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000);	/* DF */
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->check = s->ip_check;
	ip->saddr = s->saddr;
	ip->daddr = s->daddr;

	udp->source = s->sport;
	udp->dest = s->dport;
	udp->len = bpf_htons(BENCH_UDP_LEN);

	rtp[0] = 0x80;	/* version 2 */
	rtp[1] = 0;	/* PCMU */
	__builtin_memcpy(rtp + 2, &seq, 2);
	__builtin_memcpy(rtp + 4, &ts, 4);
	__builtin_memcpy(rtp + 8, &i, 4);	/* SSRC: the stream's index */
	__builtin_memcpy(rtp + BENCH_RTP_HDR, &now, 8);

	/* the loader's sum covers the SSRC; add what changes per packet */
	sum = s->udp_sum + seq + sum32(ts) + sum32((__u32)now) + sum32(now >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	udp->check = (__u16)~sum ? (__u16)~sum : 0xffff;

	sent++;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
