/* Drives the conntrack tier from a shell test:
 *   conntrack_nat_driver install CALLER RELAY_CALLER RELAY_CALLEE CALLEE TIMEOUT
 *   conntrack_nat_driver read|remove CALLER RELAY_CALLER RELAY_CALLEE CALLEE
 * with each address as ip:port.  read and remove print the counters as
 * "caller_packets caller_bytes callee_packets callee_bytes"; exit 3 when the
 * entry does not exist.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conntrack_nat.h"
#include "log.h"

static int endpoint(const char *text, struct in_addr *ip, in_port_t *port)
{
	char buf[64];
	char *colon;

	snprintf(buf, sizeof(buf), "%s", text);
	colon = strchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	*port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, buf, ip) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct mp_port_range range;
	struct conntrack_nat ct;
	struct ct_counters c;
	struct ct_flow f;
	int ret;

	mp_log_open("conntrack_nat_driver", MP_LOG_TERMINAL);
	if (argc < 6 || endpoint(argv[2], &f.caller_ip, &f.caller_port) ||
	    endpoint(argv[3], &f.relay_caller_ip, &f.relay_caller_port) ||
	    endpoint(argv[4], &f.relay_callee_ip, &f.relay_callee_port) ||
	    endpoint(argv[5], &f.callee_ip, &f.callee_port)) {
		fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
		return 2;
	}
	/* the two relay ports are the whole relay range here */
	range.start = ntohs(f.relay_caller_port) < ntohs(f.relay_callee_port) ? ntohs(f.relay_caller_port)
										 : ntohs(f.relay_callee_port);
	range.end = (ntohs(f.relay_caller_port) > ntohs(f.relay_callee_port) ? ntohs(f.relay_caller_port)
										 : ntohs(f.relay_callee_port)) + 1;
	if (conntrack_nat_open(&ct, CONNTRACK_NAT_MARK, &range))
		return 1;
	if (!strcmp(argv[1], "install")) {
		ret = conntrack_nat_install(&ct, &f, argc > 6 ? (unsigned)atoi(argv[6]) : 60);
	} else {
		ret = !strcmp(argv[1], "read") ? conntrack_nat_read(&ct, &f, &c) : conntrack_nat_remove(&ct, &f, &c);
		if (!ret)
			printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", c.caller_packets, c.caller_bytes,
			       c.callee_packets, c.callee_bytes);
		else
			ret = 3; /* no such entry */
	}
	conntrack_nat_close(&ct);
	return ret == 3 ? 3 : ret ? 1 : 0;
}
