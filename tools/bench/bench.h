/* SPDX-License-Identifier: GPL-2.0 */
/* What the benchmark's BPF programs and their loaders share: the frame the
 * generator sends and the sink's latency histogram.
 */
#ifndef BENCH_H
#define BENCH_H

#include <linux/types.h>

#define BENCH_PAYLOAD	172	/* RTP header and 20 ms of G.711 */
#define BENCH_UDP_LEN	(8 + BENCH_PAYLOAD)
#define BENCH_IP_LEN	(20 + BENCH_UDP_LEN)
#define BENCH_FRAME	(14 + BENCH_IP_LEN)
#define BENCH_RTP_HDR	12	/* the send time (ns, 8 bytes) follows it */

/* One stream of the generator: the headers of its packets.  The RTP
 * sequence number, timestamp and send time change with every packet; the
 * rest is fixed, so the loader sums it once.
 */
struct gen_stream {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u16 ip_check;		/* as stored: the IP header never changes */
	__u16 pad;
	__u32 udp_sum;		/* unfolded sum of the pseudo header, UDP header
				 * and payload with the changing fields zero */
};

/* The sink's latency histogram: 1 us buckets up to SINK_FINE_US, then
 * SINK_COARSE_US wide buckets; the last bucket takes everything beyond.
 */
#define SINK_FINE_US	2048
#define SINK_COARSE_US	64
#define SINK_BUCKETS	4096

#endif
