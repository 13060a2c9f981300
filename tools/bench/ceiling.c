// SPDX-License-Identifier: GPL-2.0
/* ceiling: attaches a program of ceiling.bpf.c (native XDP) to two
 * interfaces, prints "ready" and waits for SIGTERM or SIGINT, which detach
 * it.  Without -p each interface redirects to the other; with -p both pass
 * every frame to the stack.
 *
 *   ceiling [-p] IFACE_A IFACE_B
 */
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ceiling.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	int pass = argc == 4 && !strcmp(argv[1], "-p");
	struct bpf_program *prog;
	struct ceiling *skel;
	__u32 ifindex[2];
	int err = 0, attached = 0;

	if (argc != 3 + pass) {
		fprintf(stderr, "usage: ceiling [-p] IFACE_A IFACE_B\n");
		return 2;
	}
	argv += pass;
	for (int i = 0; i < 2; i++)
		if (!(ifindex[i] = if_nametoindex(argv[i + 1]))) {
			fprintf(stderr, "ceiling: no interface %s\n", argv[i + 1]);
			return 1;
		}
	if (!(skel = ceiling__open_and_load()))
		return 1;
	prog = pass ? skel->progs.pass : skel->progs.ceiling;
	for (int i = 0; i < 2 && !err; i++) {
		struct bpf_devmap_val to = { .ifindex = ifindex[!i] };

		err = bpf_map_update_elem(bpf_map__fd(skel->maps.partner), &ifindex[i], &to, BPF_ANY);
		if (!err && !(err = bpf_xdp_attach(ifindex[i], bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, NULL)))
			attached++;
	}
	if (err) {
		fprintf(stderr, "ceiling: setting up %s and %s: %s\n", argv[1], argv[2], strerror(-err));
	} else {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		printf("ready\n");
		fflush(stdout);
		while (!stop)
			pause();
	}
	while (attached--)
		bpf_xdp_detach(ifindex[attached], XDP_FLAGS_DRV_MODE, NULL);
	ceiling__destroy(skel);
	return err ? 1 : 0;
}
