#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include "caps.h"
#include "log.h"
#include "nft.h"
#include "notrack.h"

/* The iptables fallback: our own chains in the raw table, jumped to from
 * PREROUTING and OUTPUT.
 */
#define CHAIN_IN "MEDIAPROXY"
#define CHAIN_OUT "MEDIAPROXY-OUT"

extern char **environ;

/* Runs `iptables -w -t raw ARGS...`; its exit status, -1 when it cannot run. */
static int iptables(const char *const *args)
{
	const char *argv[16] = { "iptables", "-w", "-t", "raw" };
	posix_spawn_file_actions_t quiet; /* its complaints about absent chains are expected */
	int n = 4, status, err;
	pid_t pid;

	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&quiet);
	posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	err = posix_spawnp(&pid, "iptables", &quiet, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&quiet);
	if (err || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define IPTABLES(...) iptables((const char *const[]){ __VA_ARGS__, NULL })

/* Harmless when nothing is there: errors are expected and ignored. */
static void iptables_remove(void)
{
	IPTABLES("-D", "PREROUTING", "-j", CHAIN_IN);
	IPTABLES("-D", "OUTPUT", "-j", CHAIN_OUT);
	IPTABLES("-F", CHAIN_IN);
	IPTABLES("-F", CHAIN_OUT);
	IPTABLES("-X", CHAIN_IN);
	IPTABLES("-X", CHAIN_OUT);
}

static int iptables_install(const struct in_addr *addrs, unsigned count, const char *ports)
{
	iptables_remove();
	if (IPTABLES("-N", CHAIN_IN) || IPTABLES("-N", CHAIN_OUT))
		return -1;
	for (unsigned i = 0; i < count; i++) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &addrs[i], ip, sizeof(ip));
		if (IPTABLES("-A", CHAIN_IN, "-d", ip, "-p", "udp", "--dport", ports, "-j", "CT", "--notrack") ||
		    IPTABLES("-A", CHAIN_OUT, "-s", ip, "-p", "udp", "--sport", ports, "-j", "CT", "--notrack"))
			return -1;
	}
	return IPTABLES("-I", "PREROUTING", "-j", CHAIN_IN) || IPTABLES("-I", "OUTPUT", "-j", CHAIN_OUT) ? -1 : 0;
}

static bool used_iptables;

int notrack_install(const struct in_addr *addrs, unsigned count, const struct mp_port_range *range)
{
	char set[1024] = "", script[2048], ports[16];
	size_t used = 0;

	if (!caps_have(CAP_NET_ADMIN)) {
		log_err("notrack: the relay lacks CAP_NET_ADMIN, which the NOTRACK rules need");
		return -1;
	}
	for (unsigned i = 0; i < count; i++) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &addrs[i], ip, sizeof(ip));
		used += (size_t)snprintf(set + used, sizeof(set) - used, "%s%s", i ? ", " : "", ip);
		if (used >= sizeof(set))
			return log_err("notrack: too many relay addresses"), -1;
	}
	/* both directions: packets to the relay ports and the agent's own sends from them */
	snprintf(script, sizeof(script),
		 NFT_DROP_TABLE
		 "table inet " NFT_TABLE " {\n"
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
	if (!nft_run("notrack", script)) {
		log_info("notrack: relay ports %u-%u of %s kept out of conntrack (nftables table inet %s)",
			 range->start, range->end - 1, set, NFT_TABLE);
		return 0;
	}
	snprintf(ports, sizeof(ports), "%u:%u", range->start, range->end - 1);
	if (iptables_install(addrs, count, ports)) {
		iptables_remove();
		log_err("notrack: neither nftables nor iptables took the NOTRACK rules");
		return -1;
	}
	used_iptables = true;
	log_info("notrack: relay ports %s of %s kept out of conntrack (iptables raw chains %s, %s)", ports, set,
		 CHAIN_IN, CHAIN_OUT);
	return 0;
}

void notrack_remove(void)
{
	if (used_iptables)
		iptables_remove();
	else
		nft_drop_table();
}
