/* media-relay: relays the media streams of the sessions its dispatchers
 * hand it.  For now it attaches the fast path to the relay address's
 * interface, keeps the relay ports out of conntrack, and waits for a stop
 * signal.
 */
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "daemon.h"
#include "log.h"
#include "fastpath.h"
#include "netif.h"
#include "nft.h"
#include "notrack.h"

static int libbpf_to_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t len;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	if (len && msg[len - 1] == '\n')
		msg[len - 1] = '\0';
	mp_log(level == LIBBPF_WARN ? LOG_WARNING : LOG_INFO, "libbpf: %s", msg);
	return 0;
}

/* relay_ip from the config, else the address of the default route's interface. */
static int find_relay_interface(const struct mp_config *cfg, struct in_addr *addr, char ifname[IF_NAMESIZE],
				int *ifindex)
{
	char ip[INET_ADDRSTRLEN];

	*addr = cfg->relay.relay_ip;
	if (!addr->s_addr && netif_default_route_address(addr)) {
		log_err("relay_ip is not set and no interface holds a default route: set [Relay] relay_ip");
		return -1;
	}
	inet_ntop(AF_INET, addr, ip, sizeof(ip));
	if (netif_of_address(*addr, ifname, ifindex)) {
		log_err("relay_ip %s is not an address of this host", ip);
		return -1;
	}
	log_info("relay address %s on %s", ip, ifname);
	return 0;
}

int main(int argc, char **argv)
{
	struct mp_daemon relay = { .name = "media-relay", .program = MP_RELAY };
	const struct mp_config *cfg = &relay.config;
	struct fastpath fastpath = { 0 };
	char ifname[IF_NAMESIZE];
	struct in_addr relay_ip;
	int status, ifindex;

	if (!mp_daemon_init(&relay, argc, argv, &status))
		return status;
	if (mp_daemon_start(&relay) < 0)
		goto out;
	libbpf_set_print(libbpf_to_log);
	if (find_relay_interface(cfg, &relay_ip, ifname, &ifindex) || fastpath_open(&fastpath, cfg) ||
	    fastpath_attach(&fastpath, ifname, ifindex, cfg->relay.forwarding) ||
	    notrack_install(&relay_ip, 1, &cfg->relay.port_range))
		goto out;
	log_info("relay port range %u:%u", cfg->relay.port_range.start, cfg->relay.port_range.end);
	mp_daemon_run(&relay);
	status = 0;
out:
	if (fastpath.skel) {
		nft_drop_table();
		fastpath_close(&fastpath);
	}
	mp_daemon_cleanup(&relay);
	return status;
}
