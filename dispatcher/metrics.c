#include <string.h>
#include "metrics.h"
#include "prom.h"

#define M(name) "mediaproxy_dispatcher_" name
#define R(name) "mediaproxy_relay_" name

static const char *const command_names[DISPATCH_COMMANDS] = { "update", "remove", "other" };
static const char *const result_names[DISPATCH_RESULTS] = { "ok", "error", "refused", "abandoned" };

static void relays_connected(struct evbuffer *out, struct relays *relays)
{
	struct relay *list[256];
	unsigned n = relays_list(relays, false, list, 256), halting = 0, unresponsive = 0;

	for (unsigned i = 0; i < n; i++) {
		halting += relay_halting(list[i]);
		unresponsive += !relay_halting(list[i]) && relay_unresponsive(list[i]);
	}
	mp_prom_family(out, M("relays"), MP_PROM_GAUGE, "Relays connected, by state: active, halting (no new "
		       "sessions, on its way out), unresponsive (a command timed out, no new sessions until it pings).");
	mp_prom_uint(out, M("relays"), n - halting - unresponsive, "state", "active", NULL);
	mp_prom_uint(out, M("relays"), halting, "state", "halting", NULL);
	mp_prom_uint(out, M("relays"), unresponsive, "state", "unresponsive", NULL);
	mp_prom_family(out, M("relay_connected"), MP_PROM_GAUGE, "Each connected relay, by its address and state.");
	for (unsigned i = 0; i < n; i++)
		mp_prom_uint(out, M("relay_connected"), 1, "relay", relay_ip(list[i]), "state",
			     relay_halting(list[i]) ? "halting" : relay_unresponsive(list[i]) ? "unresponsive" : "active",
			     NULL);
}

static void requests(struct evbuffer *out, struct dispatch *d)
{
	const struct dispatch_counters *c = dispatch_counters(d);
	unsigned live, ending;

	dispatch_record_counts(d, &live, &ending);
	mp_prom_family(out, M("sessions"), MP_PROM_GAUGE, "Session records: live, and ending (the proxy was asked to "
		       "end the dialog and its remove is awaited).");
	mp_prom_uint(out, M("sessions"), live, "state", "live", NULL);
	mp_prom_uint(out, M("sessions"), ending, "state", "ending", NULL);
	mp_prom_family(out, M("requests_total"), MP_PROM_COUNTER, "Requests of the proxy's module, by command and "
		       "result: ok, error, refused (malformed), abandoned (the module left before the answer).");
	for (unsigned i = 0; i < DISPATCH_COMMANDS; i++)
		for (unsigned j = 0; j < DISPATCH_RESULTS; j++)
			mp_prom_uint(out, M("requests_total"), c->requests[i][j], "command", command_names[i], "result",
				     result_names[j], NULL);
	mp_prom_family(out, M("update_duration_seconds"), MP_PROM_HISTOGRAM,
		       "Time from an update's arrival to its answer.");
	mp_prom_histogram(out, M("update_duration_seconds"), dispatch_latency_bounds, c->update_latency,
			  DISPATCH_LATENCY_BUCKETS, c->update_latency_sum, NULL);
	mp_prom_family(out, M("failovers_total"), MP_PROM_COUNTER,
		       "New sessions' updates sent to another relay after the first chosen refused or failed.");
	mp_prom_uint(out, M("failovers_total"), c->failovers, NULL);
}

static void accounting(struct evbuffer *out, const struct accounting *a)
{
	struct accounting_stats stats[2];
	unsigned n = accounting_stats(a, stats, 2);

	mp_prom_family(out, M("accounting_records_total"), MP_PROM_COUNTER, "Accounting records per backend: written, "
		       "spooled (to wait for the backend), failed (lost).");
	for (unsigned i = 0; i < n; i++) {
		mp_prom_uint(out, M("accounting_records_total"), stats[i].written, "backend", stats[i].backend, "result",
			     "written", NULL);
		mp_prom_uint(out, M("accounting_records_total"), stats[i].spooled, "backend", stats[i].backend, "result",
			     "spooled", NULL);
		mp_prom_uint(out, M("accounting_records_total"), stats[i].failed, "backend", stats[i].backend, "result",
			     "failed", NULL);
	}
	mp_prom_family(out, M("accounting_spool_records"), MP_PROM_GAUGE, "Records waiting in each backend's spool.");
	for (unsigned i = 0; i < n; i++)
		mp_prom_uint(out, M("accounting_spool_records"), stats[i].spool_depth, "backend", stats[i].backend, NULL);
}

static void dialog_ends(struct evbuffer *out, const struct proxy_control *pc)
{
	static const struct proxy_control_counters none;
	const struct proxy_control_counters *c = pc ? proxy_control_counters(pc) : &none;

	mp_prom_family(out, M("dialog_end_requests_total"), MP_PROM_COUNTER,
		       "Requests to the proxy to end a dialog whose media timed out.");
	mp_prom_uint(out, M("dialog_end_requests_total"), c->sent, NULL);
	mp_prom_family(out, M("dialog_end_answered_total"), MP_PROM_COUNTER, "Dialogs the proxy confirmed it ended.");
	mp_prom_uint(out, M("dialog_end_answered_total"), c->answered, NULL);
	mp_prom_family(out, M("dialog_end_failed_total"), MP_PROM_COUNTER, "Dialog-end requests that failed: unsent, "
		       "refused by the proxy, or without an answer in time.");
	mp_prom_uint(out, M("dialog_end_failed_total"), c->unsent, "reason", "unsent", NULL);
	mp_prom_uint(out, M("dialog_end_failed_total"), c->refused, "reason", "refused", NULL);
	mp_prom_uint(out, M("dialog_end_failed_total"), c->no_answer, "reason", "no_answer", NULL);
}

static void tls_refusals(struct evbuffer *out, const char *port, const uint64_t *counts)
{
	for (unsigned i = 0; counts && i < MP_TLS_REFUSAL_MAX; i++)
		mp_prom_uint(out, M("tls_refused_total"), counts[i], "port", port, "reason", mp_tls_refusal_names[i], NULL);
}

/* ---- what the relays report -------------------------------------------- */

/* A relay's number at `key` of `obj`; false when it is not one. */
static bool number(const json_t *obj, const char *key, double *value)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_number(v))
		return false;
	*value = json_number_value(v);
	return true;
}

/* A counter of a relay: a non-negative integer. */
static bool counter(const json_t *obj, const char *key, uint64_t *value)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*value = (uint64_t)json_integer_value(v);
	return true;
}

/* The address of a relay whose summary came; NULL for one that failed. */
static const char *answered(const json_t *relay)
{
	if (!strcmp(json_string_value(json_object_get(relay, "status")) ?: "error", "error"))
		return NULL;
	return json_string_value(json_object_get(relay, "ip"));
}

/* A gauge of every relay that answered, from its key `key` times `scale`. */
static void relay_gauge(struct evbuffer *out, json_t *relays, const char *name, const char *key, double scale,
			const char *help)
{
	json_t *relay;
	double value;
	size_t i;

	mp_prom_family(out, name, MP_PROM_GAUGE, help);
	json_array_foreach(relays, i, relay)
		if (answered(relay) && number(relay, key, &value))
			mp_prom_real(out, name, value * scale, "relay", answered(relay), NULL);
}

/* A family of each relay's object `key`: one sample per member, its name as label `label`. */
static void relay_members(struct evbuffer *out, json_t *relays, const char *name, enum mp_prom_type type,
			  const char *help, const char *parent, const char *key, const char *label)
{
	json_t *relay, *value;
	const char *member;
	size_t i;

	mp_prom_family(out, name, type, help);
	json_array_foreach(relays, i, relay) {
		const char *ip = answered(relay);

		json_object_foreach(json_object_get(parent ? json_object_get(relay, parent) : relay, key), member, value)
			if (ip && json_is_integer(value) && json_integer_value(value) >= 0)
				mp_prom_uint(out, name, (uint64_t)json_integer_value(value), "relay", ip, label, member,
					     NULL);
	}
}

/* forwarded_{packets,bytes}_total of every relay: per interface, conntrack, userspace. */
static void relay_forwarded(struct evbuffer *out, json_t *relays, const char *name, const char *key, const char *help)
{
	json_t *relay, *iface;
	uint64_t value;
	size_t i, j;

	mp_prom_family(out, name, MP_PROM_COUNTER, help);
	json_array_foreach(relays, i, relay) {
		const char *ip = answered(relay);
		json_t *fwd = json_object_get(relay, "forwarding");

		if (!ip)
			continue;
		json_array_foreach(json_object_get(fwd, "interfaces"), j, iface) {
			const char *ifname = json_string_value(json_object_get(iface, "name"));
			const char *tier = json_string_value(json_object_get(iface, "tier"));

			if (ifname && tier && counter(iface, key, &value))
				mp_prom_uint(out, name, value, "relay", ip, "tier", tier, "interface", ifname, NULL);
		}
		if (counter(json_object_get(fwd, "conntrack"), key, &value))
			mp_prom_uint(out, name, value, "relay", ip, "tier", "conntrack", "interface", "any", NULL);
		if (counter(json_object_get(fwd, "userspace"), key, &value))
			mp_prom_uint(out, name, value, "relay", ip, "tier", "userspace", "interface", "any", NULL);
	}
}

static void relay_reports(struct evbuffer *out, json_t *relays)
{
	json_t *relay;
	size_t i;

	mp_prom_family(out, R("up"), MP_PROM_GAUGE, "1 when the relay answered the summary of this scrape, else 0.");
	json_array_foreach(relays, i, relay) {
		const char *ip = json_string_value(json_object_get(relay, "ip"));

		if (ip)
			mp_prom_uint(out, R("up"), answered(relay) != NULL, "relay", ip, NULL);
	}
	mp_prom_family(out, R("info"), MP_PROM_GAUGE, "Each relay's version and status.");
	json_array_foreach(relays, i, relay) {
		const char *version = json_string_value(json_object_get(relay, "version"));
		const char *status = json_string_value(json_object_get(relay, "status"));

		if (answered(relay) && version)
			mp_prom_uint(out, R("info"), 1, "relay", answered(relay), "version", version, "status", status, NULL);
	}
	relay_gauge(out, relays, R("uptime_seconds"), "uptime", 1, "Seconds since the relay started.");
	relay_gauge(out, relays, R("sessions"), "session_count", 1, "Sessions the relay holds.");
	relay_gauge(out, relays, R("relayed_bytes_per_second"), "bps_relayed", 1.0 / 8,
		    "Bytes per second relayed (its bps_relayed / 8), averaged over the relay's sampling period.");
	relay_members(out, relays, R("live_streams"), MP_PROM_GAUGE, "Live streams, by media type.", NULL,
		      "stream_count", "media_type");
	relay_members(out, relays, R("streams"), MP_PROM_GAUGE, "Streams of the sessions held, by status.", NULL,
		      "stream_status", "status");
	relay_forwarded(out, relays, R("forwarded_packets_total"), "packets", "Packets forwarded, by tier and "
			"ingress interface: the BPF programs on each interface, conntrack NAT entries, the agent's "
			"own sockets (userspace).");
	relay_forwarded(out, relays, R("forwarded_bytes_total"), "bytes",
			"Bytes (IPv4 total length) forwarded, by tier and ingress interface.");
	relay_members(out, relays, R("wrong_source_dropped_packets_total"), MP_PROM_COUNTER,
		      "Packets from a source other than the latched one, dropped by the BPF programs or the agent.",
		      "forwarding", "dropped_wrong_source", "tier");
	relay_members(out, relays, R("fast_path_packets_total"), MP_PROM_COUNTER,
		      "Packets the BPF programs saw, by outcome (mp_stats).", "forwarding", "outcomes", "outcome");
}

void metrics_write(struct evbuffer *out, const struct metrics_sources *src, json_t *relays)
{
	mp_prom_family(out, M("info"), MP_PROM_GAUGE, "The dispatcher's version.");
	mp_prom_uint(out, M("info"), 1, "version", MP_VERSION, NULL);
	mp_prom_family(out, M("uptime_seconds"), MP_PROM_GAUGE, "Seconds since the dispatcher started.");
	mp_prom_uint(out, M("uptime_seconds"), (uint64_t)(time(NULL) - src->started), NULL);
	relays_connected(out, dispatch_relays(src->dispatch));
	mp_prom_family(out, M("relays_unresponsive_total"), MP_PROM_COUNTER,
		       "Times a relay was marked unresponsive: a command timed out.");
	mp_prom_uint(out, M("relays_unresponsive_total"), relays_counters(dispatch_relays(src->dispatch))->unresponsive,
		     NULL);
	requests(out, src->dispatch);
	accounting(out, src->accounting);
	dialog_ends(out, src->proxy_control);
	mp_prom_family(out, M("tls_refused_total"), MP_PROM_COUNTER,
		       "TLS clients refused, by port (relay, management, http) and reason.");
	tls_refusals(out, "relay", relays_counters(dispatch_relays(src->dispatch))->tls_refused);
	tls_refusals(out, "management", src->management ? management_counters(src->management)->tls_refused : NULL);
	tls_refusals(out, "http", src->http ? mp_http_counters(src->http)->tls_refused : NULL);
	relay_reports(out, relays);
}
