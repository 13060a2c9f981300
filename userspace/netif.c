#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include "netif.h"

/* /proc/net/route lists the main table: Iface Destination Gateway Flags ... Mask,
 * in hex; the default route has destination and mask 0.
 */
static int default_route_interface(char ifname[IF_NAMESIZE])
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], name[IF_NAMESIZE];
	unsigned dest, gateway, flags, refcnt, use, metric, mask;
	int found = -1;

	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%15s %x %x %x %u %u %u %x", name, &dest, &gateway, &flags, &refcnt, &use, &metric,
			   &mask) == 8 &&
		    dest == 0 && mask == 0 && (flags & 1 /* RTF_UP */)) {
			snprintf(ifname, IF_NAMESIZE, "%s", name);
			found = 0;
		}
	fclose(f);
	return found;
}

int netif_default_route_address(struct in_addr *addr)
{
	char ifname[IF_NAMESIZE];
	struct ifaddrs *list;
	int found = -1;

	if (default_route_interface(ifname) || getifaddrs(&list))
		return -1;
	for (struct ifaddrs *ifa = list; ifa && found; ifa = ifa->ifa_next)
		if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET && !strcmp(ifa->ifa_name, ifname)) {
			*addr = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
			found = 0;
		}
	freeifaddrs(list);
	return found;
}

int netif_of_address(struct in_addr addr, char ifname[IF_NAMESIZE], int *ifindex)
{
	struct ifaddrs *list;
	int found = -1;

	if (getifaddrs(&list))
		return -1;
	for (struct ifaddrs *ifa = list; ifa && found; ifa = ifa->ifa_next)
		if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr == addr.s_addr) {
			snprintf(ifname, IF_NAMESIZE, "%s", ifa->ifa_name);
			*ifindex = (int)if_nametoindex(ifname);
			found = *ifindex ? 0 : -1;
		}
	freeifaddrs(list);
	return found;
}

/* An ioctl on the interface `name` through a throwaway socket; 0 when it worked. */
static int interface_ioctl(const char *name, unsigned long request, struct ifreq *req)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	snprintf(req->ifr_name, sizeof(req->ifr_name), "%s", name);
	rc = ioctl(fd, request, req);
	close(fd);
	return rc;
}

/* The interface's IFF_* flags, 0 when it cannot be read. */
static unsigned interface_flags(const char *name)
{
	struct ifreq req = { 0 };

	return interface_ioctl(name, SIOCGIFFLAGS, &req) ? 0 : (unsigned short)req.ifr_flags;
}

void netif_driver(const char *name, char *driver, size_t size)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq req = { .ifr_data = (char *)&info };

	snprintf(driver, size, "%s", interface_ioctl(name, SIOCETHTOOL, &req) || !info.driver[0] ? "unknown" : info.driver);
}

int netif_channels(const char *name, unsigned *in_use, unsigned *max)
{
	struct ethtool_channels channels = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq req = { .ifr_data = (char *)&channels };

	if (interface_ioctl(name, SIOCETHTOOL, &req))
		return -1;
	*in_use = channels.combined_count;
	*max = channels.max_combined;
	return 0;
}

int netif_media_interfaces(struct in_addr addr, bool all, struct netif *out, int max)
{
	struct if_nameindex *list, *i;
	struct netif holder;
	int count = 0;

	if (netif_of_address(addr, holder.name, &holder.ifindex))
		return -1;
	if (!all && !(interface_flags(holder.name) & IFF_LOOPBACK)) {
		if (max > 0)
			out[count++] = holder;
		return count;
	}
	list = if_nameindex();
	for (i = list; i && i->if_index && count < max; i++)
		if ((interface_flags(i->if_name) & (IFF_LOOPBACK | IFF_UP)) == IFF_UP) {
			snprintf(out[count].name, IF_NAMESIZE, "%s", i->if_name);
			out[count++].ifindex = (int)i->if_index;
		}
	if (list)
		if_freenameindex(list);
	return count;
}

int netif_source_address(struct in_addr dst, struct in_addr *src)
{
	/* a UDP connect() only routes: no packet leaves */
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst, .sin_port = htons(9) }, local;
	socklen_t len = sizeof(local);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (fd >= 0 && connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&local, &len) == 0) {
		*src = local.sin_addr;
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int netif_local_addresses(struct in_addr *out, int max)
{
	struct ifaddrs *list;
	int count = 0;

	if (getifaddrs(&list))
		return 0;
	for (struct ifaddrs *ifa = list; ifa && count < max; ifa = ifa->ifa_next)
		if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET && !(ifa->ifa_flags & IFF_LOOPBACK))
			out[count++] = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
	freeifaddrs(list);
	return count;
}
