/* media-relay: relays the media streams of the sessions its dispatchers
 * hand it.  At start it picks the forwarding tier (BPF fast path, else
 * kernel conntrack NAT, else userspace) and takes over the calls a previous
 * run left for it, then serves the session operations on its local control
 * socket until a stop signal.  SIGHUP stops once the last call ended,
 * SIGTERM and SIGINT at once; SIGQUIT stops for a restart: calls stay up.
 * SIGUSR2 (systemctl reload) stops as SIGQUIT does and runs the program
 * again in the same process, which takes the calls over.
 */
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "agent.h"
#include "control.h"
#include "daemon.h"
#include "dispatcher_link.h"
#include "fastpath.h"
#include "forwarder.h"
#include "http.h"
#include "log.h"
#include "netif.h"
#include "nft.h"
#include "notrack.h"
#include "prom.h"
#include "relay_metrics.h"
#include "route_watch.h"
#include "state.h"

#define CONTROL_SOCKET "relay.sock"
#define MAX_RELAY_ADDRESSES 32

struct relay {
	struct mp_daemon daemon;
	struct in_addr ip;
	struct fastpath fastpath;
	struct route_watch *route_watch; /* the BPF tiers: what their next hops depend on */
	struct forwarder fwd;
	bool conntrack_open;
	struct agent *agent;
	struct control *control;
	struct mp_tls *tls;
	struct dispatcher_link *link;
	struct mp_http *http;
};

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
static int find_relay_ip(const struct mp_config *cfg, struct in_addr *addr)
{
	char ip[INET_ADDRSTRLEN], ifname[IF_NAMESIZE];
	int ifindex;

	*addr = cfg->relay.relay_ip;
	if (!addr->s_addr && netif_default_route_address(addr)) {
		log_err("relay_ip is not set and no interface holds a default route: set [Relay] relay_ip");
		return -1;
	}
	inet_ntop(AF_INET, addr, ip, sizeof(ip));
	if (netif_of_address(*addr, ifname, &ifindex)) {
		log_err("relay_ip %s is not an address of this host", ip);
		return -1;
	}
	log_info("relay address %s on %s", ip, ifname);
	return 0;
}

/* The addresses relay sockets may bind: relay_ip, and with
 * auto_detect_interfaces every other local one.
 */
static unsigned relay_addresses(const struct relay *r, struct in_addr *out, unsigned max)
{
	unsigned count = 1;

	out[0] = r->ip;
	if (mp_config_auto_detect_interfaces(&r->daemon.config))
		for (int i = 0, n = netif_local_addresses(out + 1, (int)max - 1); i < n; i++)
			if (out[1 + i].s_addr != r->ip.s_addr)
				out[count++] = out[1 + i];
	return count;
}

static int notrack_relay_ports(const struct relay *r)
{
	struct in_addr addrs[MAX_RELAY_ADDRESSES];

	return notrack_install(addrs, relay_addresses(r, addrs, MAX_RELAY_ADDRESSES), &r->daemon.config.relay.port_range);
}

static void next_hops_changed(void *fastpath, const char *what)
{
	fastpath_next_hops_changed(fastpath);
}

/* The BPF tiers, on every interface media arrives on. */
static int start_fast_path(struct relay *r, enum mp_forwarding mode, bool adopt)
{
	const struct mp_config *cfg = &r->daemon.config;
	struct netif ifaces[FASTPATH_MAX_INTERFACES];
	int count = netif_media_interfaces(r->ip, mp_config_auto_detect_interfaces(cfg), ifaces,
					   FASTPATH_MAX_INTERFACES);

	if (count <= 0) {
		log_err("fast path: no interface is up to receive media for the relay address");
		return -1;
	}
	if (fastpath_open(&r->fastpath, cfg, adopt))
		return -1;
	for (int i = 0; i < count; i++)
		if (fastpath_attach(&r->fastpath, ifaces[i].name, ifaces[i].ifindex, mode))
			return -1;
	if (notrack_relay_ports(r))
		return -1;
	r->route_watch = route_watch_open(r->daemon.base, next_hops_changed, &r->fastpath);
	if (!r->route_watch)
		return -1;
	r->fwd.tier = FORWARDER_BPF;
	r->fwd.fwd_map = fastpath_fwd_map(&r->fastpath);
	r->fwd.no_lookup_and_delete = !r->fastpath.features.lookup_and_delete;
	return 0;
}

static void stop_fast_path(struct relay *r, bool keep_forwarding)
{
	route_watch_close(r->route_watch);
	r->route_watch = NULL;
	if (!r->fastpath.skel)
		return;
	if (!keep_forwarding)
		notrack_remove();
	fastpath_close(&r->fastpath, keep_forwarding);
}

/* [Relay] forwarding: the tier asked for, or with auto the best that starts.
 * With `adopt`, forwarding state of the previous run is taken over.
 */
static int start_forwarding(struct relay *r, bool adopt)
{
	const struct mp_config *cfg = &r->daemon.config;
	enum mp_forwarding mode = cfg->relay.forwarding;

	if (mode == MP_FORWARDING_AUTO || mode == MP_FORWARDING_XDP || mode == MP_FORWARDING_TC) {
		if (!start_fast_path(r, mode, adopt))
			return 0;
		stop_fast_path(r, false);
		if (mode != MP_FORWARDING_AUTO)
			return -1;
		log_warn("forwarding: the BPF fast path cannot run here; trying the conntrack tier");
	}
	if (mode == MP_FORWARDING_AUTO || mode == MP_FORWARDING_CONNTRACK) {
		if (!conntrack_nat_open(&r->fwd.ct, CONNTRACK_NAT_MARK, &cfg->relay.port_range)) {
			r->conntrack_open = true;
			r->fwd.tier = FORWARDER_CONNTRACK;
			r->fwd.idle_timeout = cfg->relay.stream_idle_timeout;
			log_info("forwarding: established streams go to kernel conntrack NAT entries (mark 0x%x)",
				 CONNTRACK_NAT_MARK);
			return 0;
		}
		if (mode != MP_FORWARDING_AUTO)
			return -1;
		log_warn("forwarding: conntrack NAT cannot run here; relaying in userspace");
	}
	/* here NOTRACK only saves conntrack entries: not worth refusing to start */
	if (notrack_relay_ports(r))
		log_warn("forwarding: the relay ports stay tracked by conntrack");
	r->fwd.tier = FORWARDER_USERSPACE;
	log_info("forwarding: the relay's sockets carry every packet (userspace tier)");
	return 0;
}

/* `keep_forwarding`: a stop for restart leaves the kernel side as it is. */
static void stop_forwarding(struct relay *r, bool keep_forwarding)
{
	if (r->conntrack_open)
		conntrack_nat_close(&r->fwd.ct);
	if (!keep_forwarding && r->conntrack_open)
		nft_drop_table();
	else if (!keep_forwarding && r->fwd.tier == FORWARDER_USERSPACE)
		notrack_remove();
	stop_fast_path(r, keep_forwarding);
}

/* The control socket's and the dispatcher link's handler. */
static void handle_request(void *agent, void *origin, const struct request *req, struct evbuffer *reply)
{
	agent_handle(agent, origin, req, reply);
}

static void report_expired(void *ctx, void *origin, const char *json)
{
	dispatcher_link_expired(ctx, origin, json);
}

/* The dispatcher link, when [Relay] dispatchers names any: TLS credentials
 * are required then.
 */
static int start_link(struct relay *r)
{
	const char *dirs[] = { r->daemon.config_dir, MP_SYSTEM_CONFIG_DIR };
	const struct mp_config *cfg = &r->daemon.config;
	struct mp_tls_files files;
	char err[PATH_MAX + 256];

	if (!cfg->relay.dispatchers.count) {
		log_warn("[Relay] dispatchers is empty: only the local control socket serves sessions");
		return 0;
	}
	if (mp_tls_find_files(cfg->tls.certs_path, dirs, 2, MP_TLS_ROLE_RELAY, &files, err, sizeof(err)) ||
	    !(r->tls = mp_tls_new(&files, MP_TLS_CLIENT, err, sizeof(err)))) {
		log_err("TLS: %s", err);
		return -1;
	}
	r->link = dispatcher_link_new(r->daemon.base, cfg, r->tls, handle_request, r->agent);
	if (!r->link)
		return -1;
	agent_set_reporter(r->agent, report_expired, r->link,
			   &(struct state_origins){ .name = dispatcher_link_origin_name, .find = dispatcher_link_origin,
						    .ctx = r->link });
	return 0;
}

static void metrics_page(void *ctx, struct evhttp_request *req, const char *rest)
{
	struct relay *r = ctx;
	struct evbuffer *out = evbuffer_new();
	struct relay_stats stats;

	if (!out) {
		mp_http_reply_text(req, 500, "out of memory");
		return;
	}
	agent_stats(r->agent, true, &stats);
	relay_metrics_write(out, &stats);
	mp_http_reply(req, 200, MP_PROM_CONTENT_TYPE, out);
	evbuffer_free(out);
}

/* [Relay] listen_http: /metrics, plain HTTP (doc/management.md §9). */
static int start_http(struct relay *r)
{
	static const struct mp_http_route routes[] = { { "/metrics", false, metrics_page } };
	const struct mp_config *cfg = &r->daemon.config;
	const struct mp_http_opts opts = {
		.name = "the HTTP port", .listen = &cfg->relay.listen_http,
		.max_connections = cfg->relay.http_max_connections, .routes = routes, .route_count = 1, .ctx = r,
	};

	if (!cfg->relay.listen_http.host[0])
		return 0;
	r->http = mp_http_open(r->daemon.base, &opts);
	return r->http ? 0 : -1;
}

/* Lets queued lines (expired reports) go out before the connections close;
 * no request is taken meanwhile, from the link or the control socket: the
 * sessions are as they were saved or expired.
 */
static void flush_link(struct relay *r)
{
	control_close(r->control);
	r->control = NULL;
	if (!r->link)
		return;
	dispatcher_link_close_requests(r->link);
	event_base_loopexit(r->daemon.base, &(struct timeval){ .tv_usec = 300000 });
	event_base_dispatch(r->daemon.base);
}

/* A relay port is a socket: a service starts with 1,024 descriptors, room
 * for 250 calls.  The soft limit goes up to the hard one; a hard limit
 * below the port range is the operator's to raise (LimitNOFILE=).
 */
static void raise_open_files(const struct mp_port_range *range)
{
	unsigned long long ports = range->end - range->start, margin = 256, room;
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim))
		return;
	if (lim.rlim_cur < lim.rlim_max) {
		rlim_t soft = lim.rlim_cur;

		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim))
			lim.rlim_cur = soft;
	}
	room = lim.rlim_cur > margin ? lim.rlim_cur - margin : 0;
	if (room < ports)
		log_warn("open files limit %llu: room for about %llu of the port range's %llu ports, %llu calls; "
			 "raise the hard limit (LimitNOFILE=)", (unsigned long long)lim.rlim_cur, room, ports, room / 4);
	else
		log_info("open files limit %llu", (unsigned long long)lim.rlim_cur);
}

int main(int argc, char **argv)
{
	struct relay r = { .daemon = { .name = "media-relay", .program = MP_RELAY } };
	const struct mp_config *cfg = &r.daemon.config;
	char control_path[PATH_MAX + 16], state_path[PATH_MAX + 32];
	bool restart = false;
	int status;

	if (!mp_daemon_init(&r.daemon, argc, argv, &status))
		return status;
	if (mp_daemon_start(&r.daemon) < 0)
		goto out;
	libbpf_set_print(libbpf_to_log);
	r.fwd.tier = FORWARDER_USERSPACE;
	snprintf(state_path, sizeof(state_path), "%s/%s", r.daemon.runtime_dir, STATE_FILE);
	if (find_relay_ip(cfg, &r.ip) || start_forwarding(&r, access(state_path, F_OK) == 0))
		goto out;
	log_info("relay port range %u:%u", cfg->relay.port_range.start, cfg->relay.port_range.end);
	raise_open_files(&cfg->relay.port_range);
	r.agent = agent_new(r.daemon.base, cfg, r.ip, &r.fwd, r.daemon.runtime_dir);
	if (r.agent && r.fwd.tier == FORWARDER_BPF)
		agent_set_fastpath(r.agent, &r.fastpath);
	snprintf(control_path, sizeof(control_path), "%s/%s", r.daemon.runtime_dir, CONTROL_SOCKET);
	/* the link first: restored sessions name the dispatchers they came from */
	if (!r.agent || start_link(&r))
		goto out;
	agent_restore(r.agent);
	r.control = control_open(r.daemon.base, control_path, handle_request, r.agent);
	if (!r.control || start_http(&r))
		goto out;
	do {
		r.daemon.stop_signal = 0;
		mp_daemon_run(&r.daemon);
	} while (r.daemon.stop_signal == SIGHUP && agent_drain(r.agent));
	/* SIGUSR2: SIGQUIT's stop and the next start, in this process */
	restart = r.daemon.stop_signal == SIGQUIT || r.daemon.stop_signal == SIGUSR2;
	if (restart)
		agent_stop_for_restart(r.agent);
	else /* every session ends, reported expired (doc/relay-protocol.md §8.3) */
		agent_expire_all(r.agent);
	flush_link(&r);
	status = 0;
out:
	mp_http_close(r.http);
	dispatcher_link_free(r.link);
	mp_tls_free(r.tls);
	if (r.control)
		control_close(r.control);
	agent_free(r.agent);
	stop_forwarding(&r, restart);
	mp_daemon_cleanup(&r.daemon);
	if (status == 0 && r.daemon.stop_signal == SIGUSR2) {
		mp_daemon_exec_again(&r.daemon);
		status = 1; /* it could not: a service manager starts it again, which takes the calls over */
	}
	return status;
}
