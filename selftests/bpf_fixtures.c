/* Packet fixtures for the fast-path program, run with BPF_PROG_TEST_RUN:
 * each case is an input packet, the verdict expected, the output expected
 * (unchanged for a pass) and the outcome counter expected to move.
 * Prints TAP.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "mp_stats.h"
#include "mp_fwd.skel.h"

struct packet {
	unsigned char data[512];
	size_t len;
};

static const unsigned char mac_a[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 1 };
static const unsigned char mac_b[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 2 };

static size_t ethernet(struct packet *p, unsigned short proto)
{
	struct ethhdr *eth = (struct ethhdr *)p->data;

	memcpy(eth->h_dest, mac_b, ETH_ALEN);
	memcpy(eth->h_source, mac_a, ETH_ALEN);
	eth->h_proto = htons(proto);
	return sizeof(*eth);
}

static unsigned short ip_checksum(const void *hdr, size_t len)
{
	const unsigned short *w = hdr;
	unsigned sum = 0;

	for (; len > 1; len -= 2)
		sum += *w++;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (unsigned short)~sum;
}

/* Ethernet + IPv4 (198.18.1.7 -> 198.18.0.50) + `payload` bytes of protocol `proto`. */
static void ipv4(struct packet *p, unsigned char proto, size_t payload)
{
	size_t off = ethernet(p, ETH_P_IP);
	struct iphdr *ip = (struct iphdr *)(p->data + off);

	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = proto;
	ip->tot_len = htons((unsigned short)(sizeof(*ip) + payload));
	inet_pton(AF_INET, "198.18.1.7", &ip->saddr);
	inet_pton(AF_INET, "198.18.0.50", &ip->daddr);
	ip->check = ip_checksum(ip, sizeof(*ip));
	memset(p->data + off + sizeof(*ip), 0xab, payload);
	p->len = off + sizeof(*ip) + payload;
}

static void rtp_to_relay_port(struct packet *p)
{
	struct udphdr *udp;

	ipv4(p, IPPROTO_UDP, sizeof(*udp) + 172);
	udp = (struct udphdr *)(p->data + sizeof(struct ethhdr) + sizeof(struct iphdr));
	udp->source = htons(49170);
	udp->dest = htons(40000);
	udp->len = htons(sizeof(*udp) + 172);
	udp->check = 0;
}

static void tcp_segment(struct packet *p)
{
	ipv4(p, IPPROTO_TCP, 40);
}

static void arp_frame(struct packet *p)
{
	p->len = ethernet(p, ETH_P_ARP) + 28;
	memset(p->data + sizeof(struct ethhdr), 0, 28);
}

static void truncated_ipv4(struct packet *p)
{
	ipv4(p, IPPROTO_UDP, 0);
	p->len = sizeof(struct ethhdr) + 12;
}

struct fixture {
	const char *name;
	void (*build)(struct packet *p);
	int verdict;
	enum mp_stat outcome;
};

static const struct fixture fixtures[] = {
	{ "UDP to a relay port without an entry passes untouched", rtp_to_relay_port, XDP_PASS, MP_STAT_PASS_NO_ENTRY },
	{ "TCP passes untouched", tcp_segment, XDP_PASS, MP_STAT_PASS_NOT_UDP },
	{ "ARP passes untouched", arp_frame, XDP_PASS, MP_STAT_PASS_NOT_IPV4 },
	{ "truncated IPv4 header passes untouched", truncated_ipv4, XDP_PASS, MP_STAT_PASS_TRUNCATED },
};

static int read_stats(int map_fd, unsigned long long totals[MP_STAT_MAX])
{
	int ncpus = libbpf_num_possible_cpus();
	unsigned long long values[ncpus];

	for (__u32 key = 0; key < MP_STAT_MAX; key++) {
		if (bpf_map_lookup_elem(map_fd, &key, values))
			return -1;
		totals[key] = 0;
		for (int cpu = 0; cpu < ncpus; cpu++)
			totals[key] += values[cpu];
	}
	return 0;
}

/* Returns NULL when the case behaved as expected, else what went wrong. */
static const char *run_fixture(struct mp_fwd *skel, const struct fixture *f, char *why, size_t len)
{
	unsigned long long before[MP_STAT_MAX], after[MP_STAT_MAX];
	struct packet in = { 0 }, out = { 0 };
	int map_fd = bpf_map__fd(skel->maps.mp_stats);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in.data, .data_out = out.data,
		    .data_size_out = sizeof(out.data), .repeat = 1);

	f->build(&in);
	opts.data_size_in = (__u32)in.len;
	if (read_stats(map_fd, before))
		return "cannot read mp_stats";
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.mp_xdp), &opts))
		return snprintf(why, len, "test run failed: %s", strerror(errno)), why;
	if (read_stats(map_fd, after))
		return "cannot read mp_stats";
	if ((int)opts.retval != f->verdict)
		return snprintf(why, len, "verdict %u, expected %d", opts.retval, f->verdict), why;
	if (opts.data_size_out != in.len || memcmp(in.data, out.data, in.len))
		return "the packet was modified";
	for (int i = 0; i < MP_STAT_MAX; i++)
		if (after[i] - before[i] != (i == (int)f->outcome))
			return snprintf(why, len, "counter %d moved by %llu", i, after[i] - before[i]), why;
	return NULL;
}

int main(void)
{
	int n = sizeof(fixtures) / sizeof(fixtures[0]);
	struct mp_fwd *skel;
	int failed = 0;

	printf("1..%d\n", n);
	skel = mp_fwd__open_and_load();
	if (!skel) {
		/* only a lack of privilege may skip: a verifier rejection is a failure */
		bool unprivileged = errno == EPERM && geteuid() != 0;

		for (int i = 0; i < n; i++)
			printf("%sok %d - %s # %s: %s\n", unprivileged ? "" : "not ", i + 1, fixtures[i].name,
			       unprivileged ? "SKIP needs root (CAP_BPF)" : "cannot load the BPF object",
			       strerror(errno));
		return unprivileged ? 0 : 1;
	}
	for (int i = 0; i < n; i++) {
		char why[256];
		const char *problem = run_fixture(skel, &fixtures[i], why, sizeof(why));

		printf("%sok %d - %s\n", problem ? "not " : "", i + 1, fixtures[i].name);
		if (problem) {
			printf("# %s\n", problem);
			failed++;
		}
	}
	mp_fwd__destroy(skel);
	return failed ? 1 : 0;
}
