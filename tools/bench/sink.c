// SPDX-License-Identifier: GPL-2.0
/* sink: attaches sink.bpf.c to an interface (native XDP) and reports what
 * it received.
 *
 *   sink -i IFACE -p PORT_MIN:PORT_MAX
 *
 * Prints "ready" once attached.  On SIGUSR1 it prints one JSON line: the
 * packets received so far and the latency histogram,
 * {"received": N, "latency": [[BUCKET, COUNT], ...]} (non-empty buckets,
 * bench.h says their widths).  SIGTERM or SIGINT detaches and ends it.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "sink.skel.h"

static volatile sig_atomic_t stop, report;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		stop = 1;
}

/* The element `key` of a per-CPU map, summed over CPUs. */
static __u64 percpu_sum(int fd, __u32 key, __u64 *values, int ncpu)
{
	__u64 sum = 0;

	if (bpf_map_lookup_elem(fd, &key, values))
		return 0;
	for (int c = 0; c < ncpu; c++)
		sum += values[c];
	return sum;
}

static void print_report(struct sink *skel, __u64 *values, int ncpu)
{
	const char *sep = "";

	printf("{\"received\": %llu, \"latency\": [",
	       (unsigned long long)percpu_sum(bpf_map__fd(skel->maps.received), 0, values, ncpu));
	for (__u32 b = 0; b < SINK_BUCKETS; b++) {
		__u64 n = percpu_sum(bpf_map__fd(skel->maps.latency), b, values, ncpu);

		if (n) {
			printf("%s[%u, %llu]", sep, b, (unsigned long long)n);
			sep = ", ";
		}
	}
	printf("]}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *ifname = NULL;
	unsigned pmin = 0, pmax = 0;
	int opt, ifindex, ncpu, err;
	sigset_t mask, old;
	struct sink *skel;
	__u64 *values;

	while ((opt = getopt(argc, argv, "i:p:")) != -1) {
		switch (opt) {
		case 'i': ifname = optarg; break;
		case 'p': if (sscanf(optarg, "%u:%u", &pmin, &pmax) != 2) goto usage; break;
		default: goto usage;
		}
	}
	if (!ifname || pmin >= pmax || pmax > 65536)
		goto usage;
	if (!(ifindex = if_nametoindex(ifname))) {
		fprintf(stderr, "sink: no interface %s\n", ifname);
		return 1;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 1 || !(values = calloc(ncpu, sizeof(*values))) || !(skel = sink__open()))
		return 1;
	skel->rodata->port_min = pmin;
	skel->rodata->port_max = pmax > 65535 ? 65535 : pmax;
	if ((err = sink__load(skel)) ||
	    (err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.sink), XDP_FLAGS_DRV_MODE, NULL))) {
		fprintf(stderr, "sink: loading or attaching to %s: %s\n", ifname, strerror(-err));
		return 1;
	}
	/* blocked but inside sigsuspend(), so that no signal slips in between */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		sigsuspend(&old);
		if (report) {
			report = 0;
			print_report(skel, values, ncpu);
		}
	}
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	sink__destroy(skel);
	return 0;
usage:
	fprintf(stderr, "usage: sink -i IFACE -p PORT_MIN:PORT_MAX\n");
	return 2;
}
