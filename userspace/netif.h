/* Local addresses and the interfaces that hold them. */
#ifndef MP_NETIF_H
#define MP_NETIF_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

/* The IPv4 address of the interface holding the default route. */
int netif_default_route_address(struct in_addr *addr);

/* The interface holding `addr`, or -1 when no local interface has it. */
int netif_of_address(struct in_addr addr, char ifname[IF_NAMESIZE], int *ifindex);

/* The interfaces the relay's media arrives on: the one holding `addr`, or,
 * when that is the loopback device (an address routed to the host) or
 * `all` is set, every other interface that is up.  Returns how many were
 * written, at most `max`; -1 when `addr` is not local.
 */
struct netif {
	char name[IF_NAMESIZE];
	int ifindex;
};
int netif_media_interfaces(struct in_addr addr, bool all, struct netif *out, int max);

/* The local address the kernel would send from towards `dst`. */
int netif_source_address(struct in_addr dst, struct in_addr *src);

/* Every IPv4 address of the host but loopback ones; returns how many. */
int netif_local_addresses(struct in_addr *out, int max);

/* The name of the interface's driver as ethtool tells it ("veth",
 * "virtio_net"), or "unknown".  Needs no privilege.
 */
void netif_driver(const char *name, char *driver, size_t size);

/* The interface's combined (RX and TX) channels: in use and at most; -1
 * when its driver does not tell.
 */
int netif_channels(const char *name, unsigned *in_use, unsigned *max);

#endif
