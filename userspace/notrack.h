/* Keeps the relay's media ports out of conntrack in the BPF tiers
 * (doc/fast-path.md §7): packets the fast path forwards never reach
 * netfilter, so conntrack entries for them would only be half-seen and
 * stale.  The rules live in our own nftables table (nft.h), replaced at
 * start so that a crashed relay's leftovers do no harm, deleted at exit.
 */
#ifndef MP_NOTRACK_H
#define MP_NOTRACK_H

#include <netinet/in.h>
#include <stdbool.h>
#include "config_types.h"

/* nftables, else iptables (CT --notrack in our own raw chains). */
int notrack_install(const struct in_addr *addrs, unsigned count, const struct mp_port_range *range);

/* Removes the rules (at exit; harmless when they are not there). */
void notrack_remove(void);

#endif
