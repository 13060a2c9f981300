#include <arpa/inet.h>
#include "routable.h"

static const struct {
	const char *net;
	unsigned prefix;
} reserved[] = {
	{ "0.0.0.0", 8 },      { "10.0.0.0", 8 },     { "100.64.0.0", 10 },    { "127.0.0.0", 8 },
	{ "169.254.0.0", 16 }, { "172.16.0.0", 12 },  { "192.0.0.0", 24 },     { "192.0.2.0", 24 },
	{ "192.88.99.0", 24 }, { "192.168.0.0", 16 }, { "198.18.0.0", 15 },    { "198.51.100.0", 24 },
	{ "203.0.113.0", 24 }, { "224.0.0.0", 4 },    { "240.0.0.0", 4 },      { "255.255.255.255", 32 },
};

static bool in_network(struct in_addr addr, struct in_addr net, unsigned prefix)
{
	uint32_t mask = prefix ? htonl(~0U << (32 - prefix)) : 0;

	return (addr.s_addr & mask) == (net.s_addr & mask);
}

bool routable_address(const char *text, const struct mp_cidr_list *allowed, struct in_addr *addr)
{
	struct in_addr net;

	if (inet_pton(AF_INET, text, addr) != 1)
		return false;
	for (unsigned i = 0; i < allowed->count; i++)
		if (in_network(*addr, allowed->item[i].net, allowed->item[i].prefix))
			return true;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		inet_pton(AF_INET, reserved[i].net, &net);
		if (in_network(*addr, net, reserved[i].prefix))
			return false;
	}
	return true;
}
