// SPDX-License-Identifier: GPL-2.0
/* gen: transmits RTP frames of many streams out of one interface, at the
 * highest rate the kernel takes or at a given rate, by running gen.bpf.c
 * with BPF_PROG_RUN and live frames (Linux 5.18).
 *
 *   gen -i IFACE -m DST_MAC -f STREAMS [-r PPS] [-b BATCH] [-d SECONDS]
 *
 * -r paces the frames evenly at PPS (the program drops the runs that come
 * early); -b is the kernel's batch: frames go out at the end of each; -d
 * stops it after SECONDS, when it prints {"sent": packets} and exits, so
 * that what it sent is known exactly.
 *
 * STREAMS holds one stream a line: SADDR SPORT DADDR DPORT.  The frames go
 * to DST_MAC, the next hop's address.  It prints "ready" once loaded, runs
 * until SIGTERM or SIGINT, and on SIGUSR1 prints one JSON line
 * {"sent": packets so far}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "gen.skel.h"

static volatile sig_atomic_t stop, report;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		stop = 1; /* SIGTERM, SIGINT, SIGALRM (-d) */
}

/* The 16-bit words as they lie in memory, as the program sums them. */
static __u32 sum_words(const void *buf, size_t len)
{
	__u32 sum = 0;
	__u16 w;

	for (size_t i = 0; i + 1 < len; i += 2) {
		memcpy(&w, (const __u8 *)buf + i, 2);	/* no aliasing of the caller's bytes */
		sum += w;
	}
	return sum;
}

static __u16 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The fixed part of stream i's checksums; the payload is the template's. */
static void stream_sums(struct gen_stream *s, __u32 i, const __u8 *payload)
{
	struct {
		__be32 saddr, daddr;
		__u8 zero, proto;
		__be16 len;
	} pseudo = { s->saddr, s->daddr, 0, IPPROTO_UDP, htons(BENCH_UDP_LEN) };
	__u16 ip[10] = { htons(0x45b8), htons(BENCH_IP_LEN), 0, htons(0x4000), htons(64 << 8 | IPPROTO_UDP) };
	__be16 udp[4] = { s->sport, s->dport, htons(BENCH_UDP_LEN), 0 };
	__u8 rtp[BENCH_PAYLOAD];

	memcpy(ip + 6, &s->saddr, 4);
	memcpy(ip + 8, &s->daddr, 4);
	s->ip_check = fold(sum_words(ip, sizeof(ip)));
	/* the program writes the RTP header and send time; here those are zero but the SSRC */
	memcpy(rtp, payload, sizeof(rtp));
	memset(rtp, 0, BENCH_RTP_HDR + 8);
	rtp[0] = 0x80;
	memcpy(rtp + 8, &i, 4);
	s->udp_sum = sum_words(&pseudo, sizeof(pseudo)) + sum_words(udp, sizeof(udp)) + sum_words(rtp, sizeof(rtp));
}

static int load_streams(const char *path, struct gen_stream **out)
{
	char saddr[64], daddr[64];
	unsigned sport, dport;
	struct gen_stream *v = NULL, *grown;
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fscanf(f, "%63s %u %63s %u", saddr, &sport, daddr, &dport) == 4) {
		if (!(grown = realloc(v, (n + 1) * sizeof(*v)))) {
			free(v);
			fclose(f);
			return -1;
		}
		v = grown;
		memset(&v[n], 0, sizeof(v[n]));
		if (inet_pton(AF_INET, saddr, &v[n].saddr) != 1 || inet_pton(AF_INET, daddr, &v[n].daddr) != 1) {
			fprintf(stderr, "gen: %s: line %d: not IPv4 addresses\n", path, n + 1);
			free(v);
			fclose(f);
			return -1;
		}
		v[n].sport = htons(sport);
		v[n].dport = htons(dport);
		n++;
	}
	fclose(f);
	*out = v;
	return n;
}

static int read_mac(const char *ifname, __u8 mac[ETH_ALEN])
{
	char path[128];
	unsigned m[ETH_ALEN];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	if (!(f = fopen(path, "r")))
		return -1;
	ok = fscanf(f, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == ETH_ALEN;
	fclose(f);
	for (int i = 0; i < ETH_ALEN; i++)
		mac[i] = m[i];
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *dst = NULL, *streams_path = NULL;
	unsigned long rate = 0, batch = 64, seconds = 0;
	__u8 frame[BENCH_FRAME] = { 0 }, *payload = frame + BENCH_FRAME - BENCH_PAYLOAD;
	struct gen_stream *streams;
	struct ether_addr *dmac;
	struct gen *skel;
	int opt, n, ifindex, err;

	while ((opt = getopt(argc, argv, "i:m:f:r:b:d:")) != -1) {
		switch (opt) {
		case 'i': ifname = optarg; break;
		case 'm': dst = optarg; break;
		case 'f': streams_path = optarg; break;
		case 'r': rate = strtoul(optarg, NULL, 10); break;
		case 'b': batch = strtoul(optarg, NULL, 10); break;
		case 'd': seconds = strtoul(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (!ifname || !dst || !streams_path || !batch)
		goto usage;
	if (!(ifindex = if_nametoindex(ifname)) || !(dmac = ether_aton(dst))) {
		fprintf(stderr, "gen: no interface %s, or %s is not a MAC address\n", ifname, dst);
		return 1;
	}
	if ((n = load_streams(streams_path, &streams)) <= 0) {
		fprintf(stderr, "gen: no streams in %s\n", streams_path);
		return 1;
	}
	/* the payload after the send time: a fixed pattern, as G.711 audio would be */
	for (int i = BENCH_RTP_HDR + 8; i < BENCH_PAYLOAD; i++)
		payload[i] = 0xd5 ^ i;
	for (int i = 0; i < n; i++)
		stream_sums(&streams[i], i, payload);

	if (!(skel = gen__open()))
		return 1;
	skel->rodata->n_streams = n;
	skel->rodata->interval_ns = rate ? 1000000000UL / rate : 0;
	memcpy((void *)skel->rodata->dst_mac, dmac, ETH_ALEN);
	if (read_mac(ifname, (__u8 *)skel->rodata->src_mac)) {
		fprintf(stderr, "gen: cannot read the MAC address of %s\n", ifname);
		return 1;
	}
	bpf_map__set_max_entries(skel->maps.streams, n);
	if ((err = gen__load(skel))) {
		fprintf(stderr, "gen: loading the program: %s\n", strerror(-err));
		return 1;
	}
	for (__u32 i = 0; i < (__u32)n; i++)
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.streams), &i, &streams[i], BPF_ANY)) {
			fprintf(stderr, "gen: filling the streams: %s\n", strerror(errno));
			return 1;
		}

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGALRM, on_signal);
	printf("ready\n");
	fflush(stdout);
	alarm(seconds);
	while (!stop) {
		struct xdp_md ctx = { .data_end = sizeof(frame), .ingress_ifindex = ifindex };
		/* long runs: the kernel's loop is the fastest sender, and each
		 * run sets up a page pool of its own; a signal ends the run */
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = 1 << 24,
			    .batch_size = batch);

		/* a signal interrupts the run with EINTR, which is expected */
		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.gen), &opts) && errno != EINTR) {
			fprintf(stderr, "gen: BPF_PROG_RUN: %s\n", strerror(errno));
			return 1;
		}
		if (report) {
			report = 0;
			printf("{\"sent\": %llu}\n", (unsigned long long)skel->bss->sent);
			fflush(stdout);
		}
	}
	if (seconds)
		printf("{\"sent\": %llu}\n", (unsigned long long)skel->bss->sent);
	gen__destroy(skel);
	free(streams);
	return 0;
usage:
	fprintf(stderr, "usage: gen -i IFACE -m DST_MAC -f STREAMS [-r PPS] [-b BATCH] [-d SECONDS]\n");
	return 2;
}
