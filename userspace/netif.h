/* Local addresses and the interfaces that hold them. */
#ifndef MP_NETIF_H
#define MP_NETIF_H

#include <net/if.h>
#include <netinet/in.h>

/* The IPv4 address of the interface holding the default route. */
int netif_default_route_address(struct in_addr *addr);

/* The interface holding `addr`, or -1 when no local interface has it. */
int netif_of_address(struct in_addr addr, char ifname[IF_NAMESIZE], int *ifindex);

#endif
