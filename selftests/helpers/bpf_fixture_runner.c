/* Helper of test_bpf_fixtures.py: loads the fast-path skeleton and runs its
 * programs with BPF_PROG_TEST_RUN on the commands read from stdin, one line
 * each, answering one line each on stdout:
 *
 *   cfg PORT_MIN PORT_MAX FLAGS                  -> ok      (the programs' mp_cfg from now on)
 *   gen                                          -> ok      (bumps mp_nh_gen: next hops stale)
 *   tx IFNAME                                    -> ok      (adds to mp_tx)
 *   entry LOCAL_IP LOCAL_PORT EXPECT_IP EXPECT_PORT OUT_SADDR OUT_SPORT
 *         OUT_DADDR OUT_DPORT FLAGS [CLOCK_RATE PT] -> ok   (BPF_NOEXIST)
 *   run xdp|tc IFNAME HEX [GSO_SIZE]             -> VERDICT HEXOUT
 *   leg LOCAL_IP LOCAL_PORT                      -> packets bytes last_seen_ns dropped_src
 *   rtp LOCAL_IP LOCAL_PORT                      -> name=value ... (the leg's RTP statistics)
 *   stats                                        -> name=value ... (summed over CPUs)
 *   rtcp                                         -> N [STREAM_ID LOCAL_IP LOCAL_PORT PAYLOAD_HEX]...
 *                                                   (the RTCP copies sent since the last
 *                                                   `rtcp`, struct mp_rtcp_copy; an entry's
 *                                                   stream_id is its local port)
 *   time xdp|tc IFNAME HEX COUNT                 -> NS      (mean program run time over COUNT
 *                                                             runs of HEX, an IPv4/UDP/RTP frame
 *                                                             whose sequence number and timestamp
 *                                                             advance by 1 and 160 from run to run)
 *
 * Failures answer "error <why>".  "ready" is printed once the skeleton is
 * loaded.  mp_cfg is read-only data, fixed at load: each configuration
 * gets a loaded copy of the object of its own, all sharing the first one's
 * maps and generation.  Must run in the namespace that owns the interfaces: the kernel
 * resolves ctx ifindexes and devmap entries there.
 *
 * The kernel refuses test input shorter than an Ethernet header; for XDP a
 * shorter frame is placed behind metadata (which is not packet data) so that
 * truncated Ethernet headers can be tested.  GSO_SIZE (tc only) sets the
 * skb's gso_size, as for a GRO aggregate.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mp_fwd.h"
#include "mp_stats.h"
#include "mp_fwd.skel.h"

#define MAX_PKT 4096
#define MAX_ARGS 12
#define MAX_CONFIGS 8

static const char *const stat_names[] = {
#define STAT_NAME(id, name) name,
	MP_STAT_LIST(STAT_NAME)
#undef STAT_NAME
};

static struct mp_fwd *skel;	/* the first copy: its maps are everyone's */
static struct perf_buffer *copies;	/* on mp_rtcp */
static char copies_text[8192];
static unsigned copies_count;
static struct mp_fwd *configs[MAX_CONFIGS];
static int config_count, current;	/* `run` uses configs[current] */

static int parse_u32(const char *s, unsigned long max, __u32 *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > max)
		return -1;
	*out = (__u32)v;
	return 0;
}

static int parse_ip(const char *s, __be32 *out)
{
	return inet_pton(AF_INET, s, out) == 1 ? 0 : -1;
}

static int parse_port(const char *s, __be16 *out)
{
	__u32 v;

	if (parse_u32(s, 65535, &v))
		return -1;
	*out = htons((__u16)v);
	return 0;
}

static int parse_hex(const char *s, unsigned char *buf, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int byte;

		if (sscanf(s + 2 * i, "%2x", &byte) != 1)
			return -1;
		buf[i] = (unsigned char)byte;
	}
	*len = n / 2;
	return 0;
}

static void print_hex(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", buf[i]);
}

/* A copy of the object loaded with `cfg`, on the maps of the first one. */
static struct mp_fwd *load_config(const struct mp_cfg *cfg)
{
	struct mp_fwd *copy = mp_fwd__open();
	struct bpf_map *map;

	if (!copy)
		return NULL;
	if (skel)
		bpf_object__for_each_map(map, copy->obj)
			if (!bpf_map__is_internal(map) &&
			    bpf_map__reuse_fd(map, bpf_map__fd(bpf_object__find_map_by_name(skel->obj,
											 bpf_map__name(map)))))
				goto fail;
	copy->rodata->mp_cfg = *cfg;
	copy->bss->mp_nh_gen = skel ? skel->bss->mp_nh_gen : 1;
	if (mp_fwd__load(copy))
		goto fail;
	return copy;
fail:
	mp_fwd__destroy(copy);
	return NULL;
}

static int cmd_cfg(char **arg, int n)
{
	struct mp_cfg cfg = {};

	if (n != 4 || parse_u32(arg[1], 65536, &cfg.port_min) ||
	    parse_u32(arg[2], 65536, &cfg.port_max) || parse_u32(arg[3], ~0UL, &cfg.flags))
		return printf("error usage: cfg PORT_MIN PORT_MAX FLAGS\n");
	for (current = 0; current < config_count; current++)
		if (!memcmp((const void *)&configs[current]->rodata->mp_cfg, &cfg, sizeof(cfg)))
			return printf("ok\n");
	if (config_count == MAX_CONFIGS)
		return printf("error more than %d configurations\n", MAX_CONFIGS);
	if (!(configs[current] = load_config(&cfg)))
		return printf("error loading with that mp_cfg: %s\n", strerror(errno));
	config_count++;
	return printf("ok\n");
}

static int cmd_gen(void)
{
	for (int i = 0; i < config_count; i++)
		configs[i]->bss->mp_nh_gen++;
	return printf("ok\n");
}

static int cmd_tx(char **arg, int n)
{
	__u32 ifindex;

	if (n != 2)
		return printf("error usage: tx IFNAME\n");
	ifindex = if_nametoindex(arg[1]);
	if (!ifindex)
		return printf("error no interface %s\n", arg[1]);
	if (bpf_map__update_elem(skel->maps.mp_tx, &ifindex, sizeof(ifindex), &ifindex, sizeof(ifindex), BPF_ANY))
		return printf("error mp_tx update: %s\n", strerror(errno));
	return printf("ok\n");
}

static int cmd_entry(char **arg, int n)
{
	struct mp_fwd_key key = {};
	struct mp_fwd_entry e = {};
	__u32 flags, pt = 0;

	if ((n != 10 && n != 12) || parse_ip(arg[1], &key.local_ip) || parse_port(arg[2], &key.local_port) ||
	    parse_ip(arg[3], &e.expect_ip) || parse_port(arg[4], &e.expect_port) ||
	    parse_ip(arg[5], &e.out_saddr) || parse_port(arg[6], &e.out_sport) ||
	    parse_ip(arg[7], &e.out_daddr) || parse_port(arg[8], &e.out_dport) ||
	    parse_u32(arg[9], 0xffff, &flags) ||
	    (n == 12 && (parse_u32(arg[10], ~0UL, &e.rtp.clock_rate) || parse_u32(arg[11], 127, &pt))))
		return printf("error usage: entry LOCAL_IP LOCAL_PORT EXPECT_IP EXPECT_PORT "
			      "OUT_SADDR OUT_SPORT OUT_DADDR OUT_DPORT FLAGS [CLOCK_RATE PT]\n");
	e.flags = (__u16)flags;
	e.stream_id = ntohs(key.local_port);
	e.rtp.pt = (__u8)pt;
	if (bpf_map__update_elem(skel->maps.mp_fwd, &key, sizeof(key), &e, sizeof(e), BPF_NOEXIST))
		return printf("error mp_fwd insert: %s\n", strerror(errno));
	return printf("ok\n");
}

static int cmd_run(char **arg, int n)
{
	static unsigned char in[MAX_PKT], out[MAX_PKT + 64];
	struct xdp_md xdp_ctx = {};
	struct __sk_buff skb_ctx = {};
	size_t len, meta = 0;
	__u32 ifindex, gso = 0;
	int xdp, fd;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	if (n < 4 || n > 5 || (strcmp(arg[1], "xdp") && strcmp(arg[1], "tc")))
		return printf("error usage: run xdp|tc IFNAME HEX [GSO_SIZE]\n");
	xdp = !strcmp(arg[1], "xdp");
	ifindex = if_nametoindex(arg[2]);
	if (!ifindex)
		return printf("error no interface %s\n", arg[2]);
	if (parse_hex(arg[3], in + 32, sizeof(in) - 32, &len))
		return printf("error bad hex packet\n");
	if (n == 5 && (xdp || parse_u32(arg[4], 0xffff, &gso)))
		return printf("error GSO_SIZE is for tc only\n");
	if (len < ETH_HLEN) {
		if (!xdp)
			return printf("error tc input needs at least %d bytes\n", ETH_HLEN);
		meta = (ETH_HLEN - len + 3) & ~3UL;	/* metadata comes in 4-byte units */
	}
	opts.data_in = in + 32 - meta;
	opts.data_size_in = (__u32)(len + meta);
	if (xdp) {
		fd = bpf_program__fd(configs[current]->progs.mp_xdp);
		xdp_ctx.data = (__u32)meta;
		xdp_ctx.data_end = opts.data_size_in;
		xdp_ctx.ingress_ifindex = ifindex;
		opts.ctx_in = opts.ctx_out = &xdp_ctx;
		opts.ctx_size_in = opts.ctx_size_out = sizeof(xdp_ctx);
	} else {
		fd = bpf_program__fd(configs[current]->progs.mp_tc);
		skb_ctx.ifindex = ifindex;
		skb_ctx.gso_size = gso;
		opts.ctx_in = &skb_ctx;
		opts.ctx_size_in = sizeof(skb_ctx);
	}
	memset(in + 32 - meta, 0, meta);
	if (bpf_prog_test_run_opts(fd, &opts))
		return printf("error test run: %s\n", strerror(errno));
	meta = xdp ? xdp_ctx.data : 0;	/* the output starts with the metadata */
	if (opts.data_size_out < meta || opts.data_size_out > sizeof(out))
		return printf("error output of %u bytes\n", opts.data_size_out);
	printf("%u ", opts.retval);
	print_hex(out + meta, opts.data_size_out - meta);
	return printf("\n");
}

static int cmd_time(char **arg, int n)
{
	static unsigned char in[MAX_PKT], out[MAX_PKT];
	static __u16 seq;	/* goes on from call to call: a leg never sees a duplicate */
	struct xdp_md xdp_ctx = {};
	struct __sk_buff skb_ctx = {};
	unsigned long long total = 0;
	size_t len;
	__u32 ifindex, count;
	int xdp;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_out = out, .repeat = 1);

	if (n != 5 || (strcmp(arg[1], "xdp") && strcmp(arg[1], "tc")) || !(ifindex = if_nametoindex(arg[2])) ||
	    parse_hex(arg[3], in, sizeof(in), &len) || len < ETH_HLEN + 20 + 8 + 12 || parse_u32(arg[4], 10000000, &count))
		return printf("error usage: time xdp|tc IFNAME HEX COUNT (HEX an untagged IPv4/UDP/RTP frame)\n");
	xdp = !strcmp(arg[1], "xdp");
	opts.data_size_in = (__u32)len;
	if (xdp) {
		xdp_ctx.data_end = (__u32)len;
		xdp_ctx.ingress_ifindex = ifindex;
		opts.ctx_in = &xdp_ctx;
		opts.ctx_size_in = sizeof(xdp_ctx);
	} else {
		skb_ctx.ifindex = ifindex;
		opts.ctx_in = &skb_ctx;
		opts.ctx_size_in = sizeof(skb_ctx);
	}
	for (__u32 i = 0; i < count; i++) {
		unsigned char *rtp = in + ETH_HLEN + 20 + 8;
		__u32 ts = (__u32)seq * 160;

		seq++;
		rtp[2] = (unsigned char)(seq >> 8);
		rtp[3] = (unsigned char)seq;
		rtp[4] = (unsigned char)(ts >> 24);
		rtp[5] = (unsigned char)(ts >> 16);
		rtp[6] = (unsigned char)(ts >> 8);
		rtp[7] = (unsigned char)ts;
		opts.data_size_out = sizeof(out);
		if (bpf_prog_test_run_opts(bpf_program__fd(xdp ? configs[current]->progs.mp_xdp
							       : configs[current]->progs.mp_tc), &opts))
			return printf("error test run: %s\n", strerror(errno));
		total += opts.duration;
	}
	return printf("%.1f\n", count ? (double)total / count : 0.0);
}

static int cmd_leg(char **arg, int n)
{
	struct mp_fwd_key key = {};
	struct mp_fwd_entry e;

	if (n != 3 || parse_ip(arg[1], &key.local_ip) || parse_port(arg[2], &key.local_port))
		return printf("error usage: leg LOCAL_IP LOCAL_PORT\n");
	if (bpf_map__lookup_elem(skel->maps.mp_fwd, &key, sizeof(key), &e, sizeof(e), 0))
		return printf("error mp_fwd lookup: %s\n", strerror(errno));
	return printf("%llu %llu %llu %llu\n", (unsigned long long)e.packets, (unsigned long long)e.bytes,
		      (unsigned long long)e.last_seen_ns, (unsigned long long)e.dropped_src);
}

static int cmd_rtp(char **arg, int n)
{
	struct mp_fwd_key key = {};
	struct mp_fwd_entry e;
	const struct mp_rtp_leg *s = &e.rtp;

	if (n != 3 || parse_ip(arg[1], &key.local_ip) || parse_port(arg[2], &key.local_port))
		return printf("error usage: rtp LOCAL_IP LOCAL_PORT\n");
	if (bpf_map__lookup_elem(skel->maps.mp_fwd, &key, sizeof(key), &e, sizeof(e), 0))
		return printf("error mp_fwd lookup: %s\n", strerror(errno));
	return printf("received=%u expected=%u lost=%u out_of_order=%u duplicates=%u sources=%u not_rtp=%u "
		      "max_seq=%u cycles=%u probation=%u jitter=%u\n", s->received, mp_rtp_expected(s), mp_rtp_lost(s),
		      s->out_of_order, s->duplicates, s->sources, s->not_rtp, s->max_seq, s->cycles >> 16,
		      s->probation, s->jitter >> 4);
}

static void copy_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct mp_rtcp_copy c;
	size_t used = strlen(copies_text);
	char ip[INET_ADDRSTRLEN];

	copies_count++;
	memcpy(&c, data, sizeof(c));
	if (size < sizeof(c) || (size_t)c.payload_off + c.payload_len > size - sizeof(c)) {
		snprintf(copies_text + used, sizeof(copies_text) - used, " bad-record-of-%u-bytes", size);
		return;
	}
	inet_ntop(AF_INET, &c.local_ip, ip, sizeof(ip));
	used += (size_t)snprintf(copies_text + used, sizeof(copies_text) - used, " %u %s %u %s", c.stream_id, ip,
				 ntohs(c.local_port), c.arrival_ns ? "" : "no-time:");
	for (unsigned i = 0; i < c.payload_len && used + 3 < sizeof(copies_text); i++, used += 2)
		sprintf(copies_text + used, "%02x", ((unsigned char *)data)[sizeof(c) + c.payload_off + i]);
}

static int cmd_rtcp(void)
{
	copies_text[0] = '\0';
	copies_count = 0;
	if (perf_buffer__consume(copies) < 0)
		return printf("error perf buffer: %s\n", strerror(errno));
	return printf("%u%s\n", copies_count, copies_text);
}

static int cmd_stats(void)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 values[ncpus > 0 ? ncpus : 1];

	if (ncpus <= 0)
		return printf("error cannot count CPUs\n");
	for (__u32 key = 0; key < MP_STAT_MAX; key++) {
		unsigned long long sum = 0;

		if (bpf_map__lookup_elem(skel->maps.mp_stats, &key, sizeof(key), values, sizeof(values), 0))
			return printf("error mp_stats lookup: %s\n", strerror(errno));
		for (int cpu = 0; cpu < ncpus; cpu++)
			sum += values[cpu];
		printf("%s%s=%llu", key ? " " : "", stat_names[key], sum);
	}
	return printf("\n");
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	skel = configs[config_count++] = load_config(&(struct mp_cfg){ 0 });
	if (!skel) {
		printf("error cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	copies = perf_buffer__new(bpf_map__fd(skel->maps.mp_rtcp), 8, copy_sample, NULL, NULL, NULL);
	if (!copies) {
		printf("error cannot open the RTCP copies' perf buffers: %s\n", strerror(errno));
		return 1;
	}
	printf("ready\n");
	while (getline(&line, &cap, stdin) > 0) {
		char *arg[MAX_ARGS], *save = NULL;
		int n = 0;

		for (char *tok = strtok_r(line, " \t\r\n", &save); tok && n < MAX_ARGS;
		     tok = strtok_r(NULL, " \t\r\n", &save))
			arg[n++] = tok;
		if (!n)
			printf("error empty command\n");
		else if (!strcmp(arg[0], "cfg"))
			cmd_cfg(arg, n);
		else if (!strcmp(arg[0], "gen"))
			cmd_gen();
		else if (!strcmp(arg[0], "tx"))
			cmd_tx(arg, n);
		else if (!strcmp(arg[0], "entry"))
			cmd_entry(arg, n);
		else if (!strcmp(arg[0], "run"))
			cmd_run(arg, n);
		else if (!strcmp(arg[0], "leg"))
			cmd_leg(arg, n);
		else if (!strcmp(arg[0], "time"))
			cmd_time(arg, n);
		else if (!strcmp(arg[0], "rtp"))
			cmd_rtp(arg, n);
		else if (!strcmp(arg[0], "stats"))
			cmd_stats();
		else if (!strcmp(arg[0], "rtcp"))
			cmd_rtcp();
		else
			printf("error unknown command %s\n", arg[0]);
	}
	free(line);
	perf_buffer__free(copies);
	while (config_count)
		mp_fwd__destroy(configs[--config_count]);
	return 0;
}
