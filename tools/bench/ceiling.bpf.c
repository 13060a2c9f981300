// SPDX-License-Identifier: GPL-2.0
/* The relay host's interfaces without a relay in XDP.
 *
 * ceiling: the ceiling of this machine; every frame arriving on one
 * interface goes out of its partner, with no parsing, no lookup of our own
 * and no rewrite.  The redirect goes through a devmap, as the relay's does.
 *
 * pass: hands every frame to the stack, for the relays that are not in XDP.
 * A veth takes the generator's frames (XDP frames, not skbs) only when an
 * XDP program is attached to it; this is the least such a program can do.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 2);
	__type(key, __u32);		/* ingress ifindex */
	__type(value, struct bpf_devmap_val);	/* its partner */
} partner SEC(".maps");

SEC("xdp")
int ceiling(struct xdp_md *ctx)
{
	return bpf_redirect_map(&partner, ctx->ingress_ifindex, 0);
}

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
