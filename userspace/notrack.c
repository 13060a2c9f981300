#include <arpa/inet.h>
#include <stdio.h>
#include "log.h"
#include "nft.h"
#include "notrack.h"

int notrack_install(const struct in_addr *addrs, unsigned count, const struct mp_port_range *range)
{
	char set[1024] = "", script[2048];
	size_t used = 0;

	for (unsigned i = 0; i < count; i++) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &addrs[i], ip, sizeof(ip));
		used += (size_t)snprintf(set + used, sizeof(set) - used, "%s%s", i ? ", " : "", ip);
		if (used >= sizeof(set))
			return log_err("notrack: too many relay addresses"), -1;
	}
	/* both directions: packets to the relay ports and the agent's own sends from them */
	snprintf(script, sizeof(script),
		 MP_NFT_DROP_TABLE
		 "table inet " MP_NFT_TABLE " {\n"
		 "	chain prerouting {\n"
		 "		type filter hook prerouting priority raw; policy accept;\n"
		 "		ip daddr { %s } udp dport %u-%u notrack\n"
		 "	}\n"
		 "	chain output {\n"
		 "		type filter hook output priority raw; policy accept;\n"
		 "		ip saddr { %s } udp sport %u-%u notrack\n"
		 "	}\n"
		 "}\n",
		 set, range->start, range->end - 1, set, range->start, range->end - 1);
	if (nft_run("notrack", script))
		return -1;
	log_info("notrack: relay ports %u-%u of %s kept out of conntrack (nftables table inet %s)", range->start,
		 range->end - 1, set, MP_NFT_TABLE);
	return 0;
}
