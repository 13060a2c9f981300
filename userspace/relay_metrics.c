#include <dirent.h>
#include <sys/resource.h>
#include "prom.h"
#include "relay_metrics.h"

#define M(name) "mediaproxy_relay_" name

/* Descriptors open now, and the soft limit. */
static void open_files(struct evbuffer *out)
{
	struct rlimit lim = { 0 };
	DIR *dir = opendir("/proc/self/fd");
	uint64_t count = 0;

	while (dir && readdir(dir))
		count++;
	if (dir) {
		closedir(dir);
		count -= 3; /* ".", ".." and the directory's own descriptor */
	}
	getrlimit(RLIMIT_NOFILE, &lim);
	mp_prom_family(out, M("open_files"), MP_PROM_GAUGE, "Descriptors the relay holds open.");
	mp_prom_uint(out, M("open_files"), count, NULL);
	mp_prom_family(out, M("open_files_limit"), MP_PROM_GAUGE, "The relay's limit of open descriptors.");
	mp_prom_uint(out, M("open_files_limit"), lim.rlim_cur == RLIM_INFINITY ? 0 : lim.rlim_cur, NULL);
}

static void forwarded(struct evbuffer *out, const struct relay_stats *st)
{
	const struct fastpath_stats *fp = &st->fastpath;
	uint64_t conntrack_packets = st->tier == FORWARDER_CONNTRACK ? st->media.kernel_packets : 0;
	uint64_t conntrack_bytes = st->tier == FORWARDER_CONNTRACK ? st->media.kernel_bytes : 0;

	mp_prom_family(out, M("forwarded_packets_total"), MP_PROM_COUNTER,
		       "Packets forwarded, by tier and ingress interface: the BPF programs on each interface, "
		       "conntrack NAT entries, the agent's own sockets (userspace).");
	for (unsigned i = 0; st->fast_path && i < fp->interface_count; i++)
		mp_prom_uint(out, M("forwarded_packets_total"), fp->iface[i].packets, "tier",
			     fastpath_tier_label(fp->iface[i].tier), "interface", fp->iface[i].name, NULL);
	mp_prom_uint(out, M("forwarded_packets_total"), conntrack_packets, "tier", "conntrack", "interface", "any", NULL);
	mp_prom_uint(out, M("forwarded_packets_total"), st->media.relayed_packets, "tier", "userspace", "interface",
		     "any", NULL);
	mp_prom_family(out, M("forwarded_bytes_total"), MP_PROM_COUNTER,
		       "Bytes (IPv4 total length) forwarded, by tier and ingress interface.");
	for (unsigned i = 0; st->fast_path && i < fp->interface_count; i++)
		mp_prom_uint(out, M("forwarded_bytes_total"), fp->iface[i].bytes, "tier",
			     fastpath_tier_label(fp->iface[i].tier), "interface", fp->iface[i].name, NULL);
	mp_prom_uint(out, M("forwarded_bytes_total"), conntrack_bytes, "tier", "conntrack", "interface", "any", NULL);
	mp_prom_uint(out, M("forwarded_bytes_total"), st->media.relayed_bytes, "tier", "userspace", "interface", "any",
		     NULL);
	mp_prom_family(out, M("wrong_source_dropped_packets_total"), MP_PROM_COUNTER,
		       "Packets from a source other than the latched one, dropped by the BPF programs or the agent.");
	mp_prom_uint(out, M("wrong_source_dropped_packets_total"),
		     st->fast_path ? fp->outcomes[MP_STAT_DROP_WRONG_SOURCE] : 0, "tier", "bpf", NULL);
	mp_prom_uint(out, M("wrong_source_dropped_packets_total"), st->media.wrong_source, "tier", "userspace", NULL);
}

static void fast_path(struct evbuffer *out, const struct fastpath_stats *fp)
{
	static const char *const outcomes[] = {
#define NAME(id, name) name,
		MP_STAT_LIST(NAME)
#undef NAME
	};

	mp_prom_family(out, M("fast_path_packets_total"), MP_PROM_COUNTER,
		       "Packets the BPF programs saw, by outcome (mp_stats): forwarded, or passed to the stack or "
		       "dropped and why.");
	for (unsigned i = 0; i < MP_STAT_MAX; i++)
		mp_prom_uint(out, M("fast_path_packets_total"), fp->outcomes[i], "outcome", outcomes[i], NULL);
	mp_prom_family(out, M("interface_info"), MP_PROM_GAUGE, "The forwarding tier of each interface the programs "
		       "run on.");
	for (unsigned i = 0; i < fp->interface_count; i++)
		mp_prom_uint(out, M("interface_info"), 1, "interface", fp->iface[i].name, "tier",
			     fastpath_tier_label(fp->iface[i].tier), NULL);
	mp_prom_family(out, M("bpf_map_entries"), MP_PROM_GAUGE, "Entries in each BPF map (an array is always full).");
	for (unsigned i = 0; i < fp->map_count; i++)
		mp_prom_uint(out, M("bpf_map_entries"), fp->maps[i].entries, "map", fp->maps[i].name, NULL);
	mp_prom_family(out, M("bpf_map_max_entries"), MP_PROM_GAUGE, "The size of each BPF map.");
	for (unsigned i = 0; i < fp->map_count; i++)
		mp_prom_uint(out, M("bpf_map_max_entries"), fp->maps[i].max_entries, "map", fp->maps[i].name, NULL);
}

void relay_metrics_write(struct evbuffer *out, const struct relay_stats *st)
{
	unsigned in_use = st->pairs_total - st->pairs_free - st->pairs_unusable;

	mp_prom_family(out, M("info"), MP_PROM_GAUGE, "The relay's version and forwarding tier.");
	mp_prom_uint(out, M("info"), 1, "version", MP_VERSION, "tier", forwarder_tier_name(st->tier), NULL);
	mp_prom_family(out, M("uptime_seconds"), MP_PROM_GAUGE, "Seconds since the relay started.");
	mp_prom_uint(out, M("uptime_seconds"), st->uptime, NULL);
	mp_prom_family(out, M("sessions"), MP_PROM_GAUGE, "Sessions the relay holds.");
	mp_prom_uint(out, M("sessions"), st->sessions, NULL);
	mp_prom_family(out, M("streams"), MP_PROM_GAUGE, "Streams of the sessions held, by status.");
	for (unsigned i = 0; i < STREAM_STATUSES; i++)
		mp_prom_uint(out, M("streams"), st->streams[i], "status", stream_status_name(i), NULL);
	mp_prom_family(out, M("port_pairs"), MP_PROM_GAUGE,
		       "Port pairs of the range: free, in quarantine after a call, in use, unusable (bind failed).");
	mp_prom_uint(out, M("port_pairs"), st->pairs_free - st->pairs_quarantined, "state", "free", NULL);
	mp_prom_uint(out, M("port_pairs"), st->pairs_quarantined, "state", "quarantined", NULL);
	mp_prom_uint(out, M("port_pairs"), in_use, "state", "in_use", NULL);
	mp_prom_uint(out, M("port_pairs"), st->pairs_unusable, "state", "unusable", NULL);
	mp_prom_family(out, M("latches_total"), MP_PROM_COUNTER, "Times a leg latched onto its party's address.");
	mp_prom_uint(out, M("latches_total"), st->media.latches, NULL);
	mp_prom_family(out, M("installs_total"), MP_PROM_COUNTER,
		       "Substreams handed to the forwarding tier (BPF entries, conntrack NAT entries).");
	mp_prom_uint(out, M("installs_total"), st->media.installs, NULL);
	mp_prom_family(out, M("install_failures_total"), MP_PROM_COUNTER,
		       "Installations the forwarding tier refused; each is tried again on the next packet.");
	mp_prom_uint(out, M("install_failures_total"), st->media.install_failures, NULL);
	mp_prom_family(out, M("rtcp_packets_total"), MP_PROM_COUNTER,
		       "RTCP datagrams read: on the agent's sockets or copied by the BPF programs; reports or malformed.");
	for (int copied = 0; copied <= 1; copied++) {
		const char *source = copied ? "fast_path" : "socket";

		mp_prom_uint(out, M("rtcp_packets_total"), st->media.rtcp_reports[copied], "source", source, "result",
			     "report", NULL);
		mp_prom_uint(out, M("rtcp_packets_total"), st->media.rtcp_malformed[copied], "source", source, "result",
			     "malformed", NULL);
	}
	mp_prom_family(out, M("stream_mos"), MP_PROM_HISTOGRAM,
		       "The MOS estimate (ITU-T G.107 E-model) of each stream direction that ended with one.");
	mp_prom_histogram(out, M("stream_mos"), media_mos_bounds, st->media.mos, MEDIA_MOS_BUCKETS,
			  st->media.mos_sum, NULL);
	mp_prom_family(out, M("rtcp_copies_lost_total"), MP_PROM_COUNTER,
		       "RTCP copies of the BPF programs lost because the agent read too slowly.");
	mp_prom_uint(out, M("rtcp_copies_lost_total"), st->rtcp_copies_lost, NULL);
	forwarded(out, st);
	if (st->fast_path)
		fast_path(out, &st->fastpath);
	open_files(out);
}
