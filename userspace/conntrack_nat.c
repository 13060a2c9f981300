#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <stdio.h>
#include <string.h>
#include "caps.h"
#include "conntrack_nat.h"
#include "log.h"
#include "nft.h"

#define ACCT_SYSCTL "/proc/sys/net/netfilter/nf_conntrack_acct"

static int write_sysctl(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(value, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static bool sysctl_on(const char *path)
{
	FILE *f = fopen(path, "r");
	int on = 0;

	if (f) {
		if (fscanf(f, "%d", &on) != 1)
			on = 0;
		fclose(f);
	}
	return on == 1;
}

/* Newer kernels register the conntrack and NAT hooks of a namespace only
 * on demand: the NAT chains register NAT, the `ct mark` rule conntrack (it
 * also counts the first packet of each of our flows).  The guard chain holds
 * the transient NOTRACK rules of an installation.  What the agent itself
 * sends from the relay ports is never tracked: an ordinary entry for it
 * would clash with the NAT entry of its substream, and the kernel would then
 * remap its source port.
 */
static const char table_script[] = NFT_DROP_TABLE
	"table inet " NFT_TABLE " {\n"
	"	chain nat_prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
	"	chain nat_postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
	"	chain guard { type filter hook prerouting priority raw; policy accept; }\n"
	"	chain tracked { type filter hook prerouting priority 0; policy accept; ct mark 0x%x counter; }\n"
	"	chain local_out { type filter hook output priority raw; policy accept; udp sport %u-%u notrack; }\n"
	"}\n";

int conntrack_nat_open(struct conntrack_nat *ct, uint32_t mark, const struct mp_port_range *range)
{
	char script[sizeof(table_script) + 32];

	ct->mark = mark;
	ct->handle = NULL;
	if (!caps_have(CAP_NET_ADMIN)) {
		log_err("conntrack tier: the relay lacks CAP_NET_ADMIN (ctnetlink and nftables need it)");
		return -1;
	}
	if (!sysctl_on("/proc/sys/net/ipv4/ip_forward")) {
		log_err("conntrack tier: IPv4 forwarding is off (net.ipv4.ip_forward = 0)");
		return -1;
	}
	/* entries count packets and bytes only with accounting on */
	if (!sysctl_on(ACCT_SYSCTL) && write_sysctl(ACCT_SYSCTL, "1")) {
		log_err("conntrack tier: cannot turn conntrack accounting on: %s: %s (set net.netfilter.nf_conntrack_acct = 1)",
			ACCT_SYSCTL, strerror(errno));
		return -1;
	}
	snprintf(script, sizeof(script), table_script, mark, range->start, range->end - 1);
	if (nft_run("conntrack tier", script))
		return -1;
	ct->handle = nfct_open(CONNTRACK, 0);
	if (!ct->handle) {
		log_err("conntrack tier: cannot open ctnetlink: %s", strerror(errno));
		return -1;
	}
	log_info("conntrack tier: ready, entries marked 0x%x", mark);
	return 0;
}

void conntrack_nat_close(struct conntrack_nat *ct)
{
	if (ct->handle)
		nfct_close(ct->handle);
	ct->handle = NULL;
}

/* An entry holding just an original-direction UDP tuple. */
static struct nf_conntrack *tuple(struct in_addr src, in_port_t sport, struct in_addr dst, in_port_t dport)
{
	struct nf_conntrack *entry = nfct_new();

	if (!entry)
		return NULL;
	nfct_set_attr_u8(entry, ATTR_L3PROTO, AF_INET);
	nfct_set_attr_u32(entry, ATTR_IPV4_SRC, src.s_addr);
	nfct_set_attr_u32(entry, ATTR_IPV4_DST, dst.s_addr);
	nfct_set_attr_u8(entry, ATTR_L4PROTO, IPPROTO_UDP);
	nfct_set_attr_u16(entry, ATTR_PORT_SRC, sport);
	nfct_set_attr_u16(entry, ATTR_PORT_DST, dport);
	return entry;
}

/* Runs one query on an entry built from a tuple, then frees it. */
static int query(struct conntrack_nat *ct, enum nf_conntrack_query type, struct nf_conntrack *entry)
{
	int ret;

	if (!entry)
		return -1;
	ret = nfct_query(ct->handle, type, entry);
	nfct_destroy(entry);
	return ret;
}

static int delete_entry(struct conntrack_nat *ct, struct in_addr src, in_port_t sport, struct in_addr dst,
			in_port_t dport)
{
	if (query(ct, NFCT_Q_DESTROY, tuple(src, sport, dst, dport)) && errno != ENOENT)
		return -1;
	return 0;
}

static struct nf_conntrack *nat_entry(const struct conntrack_nat *ct, const struct ct_flow *f, unsigned timeout)
{
	struct nf_conntrack *entry = tuple(f->caller_ip, f->caller_port, f->relay_caller_ip, f->relay_caller_port);

	if (!entry)
		return NULL;
	/* The reply tuple is the plain inverse of the original: the kernel sets
	 * up NAT (and rewrites the reply tuple) only where the NAT targets
	 * differ from it.
	 */
	nfct_set_attr_u8(entry, ATTR_REPL_L3PROTO, AF_INET);
	nfct_set_attr_u32(entry, ATTR_REPL_IPV4_SRC, f->relay_caller_ip.s_addr);
	nfct_set_attr_u32(entry, ATTR_REPL_IPV4_DST, f->caller_ip.s_addr);
	nfct_set_attr_u8(entry, ATTR_REPL_L4PROTO, IPPROTO_UDP);
	nfct_set_attr_u16(entry, ATTR_REPL_PORT_SRC, f->relay_caller_port);
	nfct_set_attr_u16(entry, ATTR_REPL_PORT_DST, f->caller_port);
	nfct_set_attr_u32(entry, ATTR_DNAT_IPV4, f->callee_ip.s_addr);
	nfct_set_attr_u16(entry, ATTR_DNAT_PORT, f->callee_port);
	nfct_set_attr_u32(entry, ATTR_SNAT_IPV4, f->relay_callee_ip.s_addr);
	nfct_set_attr_u16(entry, ATTR_SNAT_PORT, f->relay_callee_port);
	nfct_set_attr_u32(entry, ATTR_TIMEOUT, timeout);
	nfct_set_attr_u32(entry, ATTR_MARK, ct->mark);
	return entry;
}

static void format_leg(char *buf, size_t len, struct in_addr src, in_port_t sport, struct in_addr dst,
		       in_port_t dport)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	snprintf(buf, len, "ip saddr %s udp sport %u ip daddr %s udp dport %u notrack",
		 inet_ntop(AF_INET, &src, a, sizeof(a)), ntohs(sport), inet_ntop(AF_INET, &dst, b, sizeof(b)),
		 ntohs(dport));
}

/* doc/relay-sessions.md §15.3: while the ordinary entries that userspace relaying
 * created are deleted and the NAT entry is created, NOTRACK rules keep new
 * ordinary entries from appearing in between.
 */
int conntrack_nat_install(struct conntrack_nat *ct, const struct ct_flow *f, unsigned timeout)
{
	char caller_leg[160], callee_leg[160], script[512];
	int ret;

	format_leg(caller_leg, sizeof(caller_leg), f->caller_ip, f->caller_port, f->relay_caller_ip,
		   f->relay_caller_port);
	format_leg(callee_leg, sizeof(callee_leg), f->callee_ip, f->callee_port, f->relay_callee_ip,
		   f->relay_callee_port);
	snprintf(script, sizeof(script), "add rule inet %s guard %s\nadd rule inet %s guard %s\n", NFT_TABLE,
		 caller_leg, NFT_TABLE, callee_leg);
	if (nft_run("conntrack tier", script))
		return -1;
	ret = delete_entry(ct, f->caller_ip, f->caller_port, f->relay_caller_ip, f->relay_caller_port) ||
	      delete_entry(ct, f->callee_ip, f->callee_port, f->relay_callee_ip, f->relay_callee_port) ||
	      query(ct, NFCT_Q_CREATE, nat_entry(ct, f, timeout));
	if (ret)
		log_err("conntrack tier: cannot create the NAT entry for %s: %s", caller_leg, strerror(errno));
	if (nft_run("conntrack tier", "flush chain inet " NFT_TABLE " guard\n"))
		ret = -1;
	return ret ? -1 : 0;
}

static int take_counters(enum nf_conntrack_msg_type type, struct nf_conntrack *entry, void *data)
{
	struct ct_counters *c = data;

	c->caller_packets = nfct_get_attr_u64(entry, ATTR_ORIG_COUNTER_PACKETS);
	c->caller_bytes = nfct_get_attr_u64(entry, ATTR_ORIG_COUNTER_BYTES);
	c->callee_packets = nfct_get_attr_u64(entry, ATTR_REPL_COUNTER_PACKETS);
	c->callee_bytes = nfct_get_attr_u64(entry, ATTR_REPL_COUNTER_BYTES);
	return NFCT_CB_CONTINUE;
}

int conntrack_nat_read(struct conntrack_nat *ct, const struct ct_flow *f, struct ct_counters *counters)
{
	int ret;

	memset(counters, 0, sizeof(*counters));
	nfct_callback_register(ct->handle, NFCT_T_ALL, take_counters, counters);
	ret = query(ct, NFCT_Q_GET, tuple(f->caller_ip, f->caller_port, f->relay_caller_ip, f->relay_caller_port));
	nfct_callback_unregister(ct->handle);
	return ret;
}

int conntrack_nat_remove(struct conntrack_nat *ct, const struct ct_flow *f, struct ct_counters *counters)
{
	struct ct_counters last;

	if (conntrack_nat_read(ct, f, &last))
		return -1; /* already gone */
	if (counters)
		*counters = last;
	/* left in place, it still expires by itself */
	if (delete_entry(ct, f->caller_ip, f->caller_port, f->relay_caller_ip, f->relay_caller_port))
		log_warn("conntrack tier: cannot delete the NAT entry from port %u: %s", ntohs(f->relay_caller_port),
			 strerror(errno));
	return 0;
}
