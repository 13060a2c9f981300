/* The relay's BPF fast path: loading the programs, pinning their maps under
 * /sys/fs/bpf/mediaproxy/ and attaching to the interfaces that hold relay
 * addresses, in the best tier each interface supports.
 */
#ifndef MP_FASTPATH_H
#define MP_FASTPATH_H

#include <net/if.h>
#include <stdbool.h>
#include "config.h"
#include "mp_fwd.h"

#define FASTPATH_BPF_FS "/sys/fs/bpf"
#define FASTPATH_MAX_INTERFACES 8

enum fastpath_tier {
	FASTPATH_XDP_NATIVE,
	FASTPATH_XDP_GENERIC,
	FASTPATH_TC,
};

struct fastpath_interface {
	char name[IF_NAMESIZE];
	int ifindex;
	enum fastpath_tier tier;
	int xdp_link; /* XDP tiers: the link, pinned so it outlives the agent */
};

/* What the running kernel offers the fast path: probed and logged by
 * fastpath_open, each missing one taking the fallback beside it.  The
 * environment variable MEDIAPROXY_KERNEL_LACKS (names separated by commas:
 * redirect_neigh, devmap_hash, native_xdp_veth) makes the relay act as if
 * the kernel lacked them, so that the selftests run the fallbacks on
 * kernels that have everything.
 */
struct fastpath_features {
	bool lookup_and_delete; /* on hash maps (5.14); else the forwarder deletes in two steps */
	bool redirect_neigh;	/* bpf_redirect_neigh (5.10); else tc passes unresolved next hops */
	bool devmap_hash;	/* DEVMAP_HASH (5.4); else no BPF tier: the next tier runs */
	bool native_xdp;	/* false: native XDP is not even tried (only ever masked) */
};

struct fastpath {
	struct mp_fwd *skel;
	struct fastpath_features features;
	bool adopted; /* the maps (and links) of the previous run were taken over */
	unsigned count;
	struct fastpath_interface iface[FASTPATH_MAX_INTERFACES];
};

const char *fastpath_tier_name(enum fastpath_tier tier);
/* The same as a metric label: xdp_native, xdp_generic, tc. */
const char *fastpath_tier_label(enum fastpath_tier tier);

/* Loads the programs with fresh maps sized for `cfg`'s port range and pins
 * the maps; leftovers of an earlier run are removed first.  With `adopt`
 * (a restart that keeps calls) the maps pinned by the previous run are
 * taken over instead, when they fit, and fp->adopted says so.
 */
int fastpath_open(struct fastpath *fp, const struct mp_config *cfg, bool adopt);

/* Attaches to one interface in the best tier `mode` allows, and logs it. */
int fastpath_attach(struct fastpath *fp, const char *ifname, int ifindex, enum mp_forwarding mode);

/* The mp_fwd map, for the forwarder. */
int fastpath_fwd_map(const struct fastpath *fp);

/* The perf event array the programs send RTCP copies to (mp_rtcp). */
int fastpath_rtcp_map(const struct fastpath *fp);

/* A route, rule, neighbour or link changed: every leg's cached next hop
 * is stale, and the next packet of each looks its route up again.
 */
void fastpath_next_hops_changed(struct fastpath *fp);

/* Detaches from every interface, unpins and frees everything; with
 * `keep_forwarding` (a stop for restart) programs, links and maps stay.
 */
void fastpath_close(struct fastpath *fp, bool keep_forwarding);

#endif
