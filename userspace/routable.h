/* Whether the relay may send to an SDP address before any packet came from
 * it (doc/relay-sessions.md §9.4): public addresses yes, special-purpose and
 * private ones only when [Relay] routable_private_ranges lists them.
 */
#ifndef MP_ROUTABLE_H
#define MP_ROUTABLE_H

#include <stdbool.h>
#include <netinet/in.h>
#include "config_types.h"

/* `text` is the address as the SDP wrote it; anything but IPv4 is not routable. */
bool routable_address(const char *text, const struct mp_cidr_list *allowed, struct in_addr *addr);

#endif
