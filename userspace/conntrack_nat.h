/* The conntrack forwarding tier (doc/relay-sessions.md §15, doc/fast-path.md §7):
 * where no BPF program can run, each substream becomes one kernel conntrack
 * entry with NAT, so the kernel still forwards its packets.  Entries carry
 * our mark, so operators can match them (`ct mark`) and we can dump just
 * ours.  Idle detection polls the entries: destroy events lag by seconds to
 * tens of seconds and get lost under load.
 */
#ifndef MP_CONNTRACK_NAT_H
#define MP_CONNTRACK_NAT_H

#include <netinet/in.h>
#include <stdint.h>
#include "config_types.h"

#define CONNTRACK_NAT_MARK 0x4d50 /* "MP" */

struct nfct_handle;

struct conntrack_nat {
	struct nfct_handle *handle;
	uint32_t mark;
};

/* One substream: the caller leg's packets (caller -> relay_caller) leave
 * from relay_callee to callee, and the callee's replies come back the other
 * way.  Addresses and ports in network byte order.
 */
struct ct_flow {
	struct in_addr caller_ip, relay_caller_ip, relay_callee_ip, callee_ip;
	in_port_t caller_port, relay_caller_port, relay_callee_port, callee_port;
};

struct ct_counters {
	uint64_t caller_packets, caller_bytes; /* original direction */
	uint64_t callee_packets, callee_bytes; /* reply direction */
};

/* Prepares the network namespace (conntrack accounting, NAT hooks, no
 * tracking of what is sent from the relay ports `range`) and opens a
 * ctnetlink handle.
 */
int conntrack_nat_open(struct conntrack_nat *ct, uint32_t mark, const struct mp_port_range *range);
void conntrack_nat_close(struct conntrack_nat *ct);

/* Replaces whatever conntrack holds for the flow's two legs with one NAT
 * entry that expires after `timeout` seconds without packets.
 */
int conntrack_nat_install(struct conntrack_nat *ct, const struct ct_flow *flow, unsigned timeout);

/* The entry's counters; -1 when it no longer exists (it expired). */
int conntrack_nat_read(struct conntrack_nat *ct, const struct ct_flow *flow, struct ct_counters *counters);

/* Deletes the entry; its last counters go to `counters` when not NULL.
 * -1, `counters` untouched, when it was already gone (it expired).
 */
int conntrack_nat_remove(struct conntrack_nat *ct, const struct ct_flow *flow, struct ct_counters *counters);

#endif
