/* Statistics, `sessions` and `summary` as JSON (session_json.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "session_json.h"

/* Text from the wire need not be UTF-8, which jansson refuses: keep its
 * ASCII and replace the other bytes, rather than lose the whole record.
 */
static json_t *json_text(const char *text)
{
	json_t *json = json_string(text);
	char *ascii;

	if (json)
		return json;
	ascii = strdup(text);
	if (!ascii)
		return NULL;
	for (char *p = ascii; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	json = json_string(ascii);
	free(ascii);
	return json;
}

static json_t *json_address(struct in_addr ip, unsigned port)
{
	char text[INET_ADDRSTRLEN + 8], addr[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &ip, addr, sizeof(addr));
	snprintf(text, sizeof(text), "%s:%u", addr, port);
	return json_string(text);
}

static json_t *json_remote(const struct leg *leg)
{
	return leg->has_remote ? json_address(leg->remote_ip, leg->remote_port) : json_string("Unknown");
}

/* jansson integers are signed; no real counter comes near the limit. */
static json_int_t json_counter(uint64_t value)
{
	return value > INT64_MAX ? INT64_MAX : (json_int_t)value;
}

/* Times are kept to the microsecond, as the original's time() gives them,
 * so that they print as short as Python prints them (json_text).
 */
static double microseconds(double seconds)
{
	return (double)(int64_t)(seconds * 1e6 + (seconds < 0 ? -0.5 : 0.5)) / 1e6;
}

/* Whole seconds from `since` to `until`, truncated, never negative. */
static json_int_t whole_seconds(double since, double until)
{
	return until > since ? (json_int_t)(until - since) : 0;
}

static json_int_t session_duration(const struct session *s, double now)
{
	if (!s->start_time)
		return 0;
	return whole_seconds(s->start_time, s->end_time ? s->end_time : now);
}

/* A side's RTP reception figures (doc/relay-sessions.md §12.5): numbers
 * when measured, null when the tier could not measure them, no keys when
 * rtp_stats is off.
 */
static int add_quality_json(json_t *json, const char *side, const struct rtp_quality *q)
{
	static const char *const names[] = { "lost", "out_of_order", "duplicates", "ssrc_changes", "jitter_ms" };
	const uint32_t counts[] = { q->lost, q->out_of_order, q->duplicates, q->ssrc_changes };
	char key[32];
	int err = 0;

	if (!q->enabled)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *value;

		if (!q->measured || (i == 4 && !q->has_jitter))
			value = json_null();
		else if (i == 4)
			value = json_real((double)(uint64_t)(q->jitter_ms * 1000 + 0.5) / 1000); /* microseconds */
		else
			value = json_integer(counts[i]);
		snprintf(key, sizeof(key), "%s_%s", side, names[i]);
		err |= json_object_set_new(json, key, value);
	}
	return err;
}

static json_t *stream_stats_json(const struct stream *stream, const struct session *s, json_int_t duration,
				 bool live)
{
	const struct party *caller = &stream->party[SIDE_CALLER], *callee = &stream->party[SIDE_CALLEE];
	json_int_t start = whole_seconds(s->start_time, stream->answered_at);
	json_int_t end;

	if (stream->status == STREAM_REJECTED) {
		end = start;
	} else if (stream->alive) {
		end = duration;
	} else {
		/* A stream closed before the session's first answer ends at 0, not below. */
		end = whole_seconds(s->start_time, stream->ended_at);
		if (end > duration)
			end = duration;
	}
	json_t *json = json_pack("{s:o, s:s, s:I, s:s, s:s, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
			 "media_type", json_text(stream->media_type),
			 "status", stream_status_name(stream->status),
			 "timeout_wait", (json_int_t)stream->timeout_wait,
			 "caller_codec", caller->codec[0] ? caller->codec : "Unknown",
			 "callee_codec", callee->codec[0] ? callee->codec : "Unknown",
			 "start_time", start,
			 "end_time", end,
			 "post_dial_delay", stream->first_media_at
				 ? json_real(microseconds(stream->first_media_at - stream->created_at))
				 : json_null(),
			 "caller_bytes", json_counter(caller->rtp.bytes + caller->rtcp.bytes),
			 "callee_bytes", json_counter(callee->rtp.bytes + callee->rtcp.bytes),
			 "caller_packets", json_counter(caller->rtp.packets + caller->rtcp.packets),
			 "callee_packets", json_counter(callee->rtp.packets + callee->rtcp.packets),
			 "caller_local", json_address(caller->local_ip, caller->rtp_port),
			 "callee_local", json_address(callee->local_ip, callee->rtp_port),
			 "caller_remote", json_remote(&caller->rtp),
			 "callee_remote", json_remote(&callee->rtp));

	/* ours: new keys after the original's, which keep their order */
	if (json && (add_quality_json(json, "caller", &caller->rtp.quality) ||
		     add_quality_json(json, "callee", &callee->rtp.quality))) {
		json_decref(json);
		return NULL;
	}
	/* ours, live sessions only: the accounted statistics stay the original's */
	if (json && live && json_object_set_new(json, "in_kernel", json_boolean(stream->in_kernel))) {
		json_decref(json);
		return NULL;
	}
	return json;
}

/* doc/relay-sessions.md §12.4: answer time, then position in the answering generation. */
static int by_answer(const void *a, const void *b)
{
	const struct stream *x = *(const struct stream *const *)a, *y = *(const struct stream *const *)b;

	if (x->answered_at != y->answered_at)
		return x->answered_at < y->answered_at ? -1 : 1;
	return x->answer_order < y->answer_order ? -1 : x->answer_order > y->answer_order;
}

/* Every stream that was ever answered, each once. */
static json_t *streams_stats_json(const struct session *s, json_int_t duration, bool live)
{
	const struct stream **answered = calloc(s->stream_count + 1, sizeof(*answered));
	json_t *streams = json_array();
	unsigned count = 0;

	if (!answered || !streams)
		goto fail;
	for (unsigned i = 0; i < s->stream_count; i++)
		if (s->streams[i]->answered_at)
			answered[count++] = s->streams[i];
	qsort(answered, count, sizeof(*answered), by_answer);
	for (unsigned i = 0; i < count; i++)
		if (json_array_append_new(streams, stream_stats_json(answered[i], s, duration, live)) < 0)
			goto fail;
	free(answered);
	return streams;
fail:
	free(answered);
	json_decref(streams);
	return NULL;
}

static json_t *session_json(const struct session *s, double now, bool live)
{
	json_int_t duration = session_duration(s, now);

	return json_pack("{s:o, s:o, s:o, s:o?, s:o, s:o?, s:I, s:o, s:o, s:o?, s:o}",
			 "call_id", json_text(s->call_id),
			 "from_tag", json_text(s->from_tag),
			 "from_uri", json_text(s->from_uri),
			 "to_tag", s->to_tag[0] ? json_text(s->to_tag) : NULL,
			 "to_uri", json_text(s->to_uri),
			 "start_time", s->start_time ? json_real(microseconds(s->start_time)) : NULL,
			 "duration", duration,
			 "caller_ua", json_text(s->caller_ua[0] ? s->caller_ua : "Unknown"),
			 "callee_ua", json_text(s->callee_ua[0] ? s->callee_ua : "Unknown"),
			 "username", s->has_username ? json_text(s->username) : NULL,
			 "streams", streams_stats_json(s, duration, live));
}

json_t *session_stats_json(const struct session *s, double now)
{
	return session_json(s, now, false);
}

json_t *sessions_json(const struct sessions *sessions, double now)
{
	json_t *array = json_array();

	for (const struct session *s = sessions_first(sessions); array && s; s = s->next) {
		if (json_array_append_new(array, session_json(s, now, true)) < 0) {
			json_decref(array);
			return NULL;
		}
	}
	return array;
}

/* Live streams per media type, over every session and generation. */
static json_t *stream_counts_json(const struct sessions *sessions)
{
	json_t *counts = json_object();

	for (const struct session *s = sessions_first(sessions); counts && s; s = s->next) {
		for (unsigned i = 0; i < s->stream_count; i++) {
			json_t *type = json_text(s->streams[i]->media_type), *count;
			int failed;

			if (!s->streams[i]->alive) {
				json_decref(type);
				continue;
			}
			if (!type)
				goto fail;
			count = json_object_get(counts, json_string_value(type));
			failed = json_object_set_new(counts, json_string_value(type),
						     json_integer(count ? json_integer_value(count) + 1 : 1));
			json_decref(type);
			if (failed)
				goto fail;
		}
	}
	return counts;
fail:
	json_decref(counts);
	return NULL;
}

static json_t *packets_bytes_json(uint64_t packets, uint64_t bytes)
{
	return json_pack("{s:I, s:I}", "packets", json_counter(packets), "bytes", json_counter(bytes));
}

/* Our keys of the summary (doc/relay-protocol.md §6.3): the streams held by
 * status, and what each forwarding tier did.
 */
static int add_stats_json(json_t *summary, const struct relay_stats *st)
{
	json_t *statuses = json_object(), *interfaces = json_array(), *outcomes = json_object(), *forwarding;
	static const char *const outcome_names[] = {
#define NAME(id, name) name,
		MP_STAT_LIST(NAME)
#undef NAME
	};
	int err = !statuses || !interfaces || !outcomes;

	for (unsigned i = 0; !err && i < STREAM_STATUSES; i++)
		err = json_object_set_new(statuses, stream_status_name(i), json_integer(st->streams[i]));
	for (unsigned i = 0; !err && st->fast_path && i < st->fastpath.interface_count; i++)
		err = json_array_append_new(interfaces, json_pack("{s:s, s:s, s:I, s:I}",
								  "name", st->fastpath.iface[i].name,
								  "tier", fastpath_tier_label(st->fastpath.iface[i].tier),
								  "packets", json_counter(st->fastpath.iface[i].packets),
								  "bytes", json_counter(st->fastpath.iface[i].bytes)));
	for (unsigned i = 0; !err && st->fast_path && i < MP_STAT_MAX; i++)
		err = json_object_set_new(outcomes, outcome_names[i], json_integer(json_counter(st->fastpath.outcomes[i])));
	forwarding = err ? NULL : json_pack("{s:s, s:O, s:o, s:o, s:{s:I, s:I}, s:O}",
					   "tier", forwarder_tier_name(st->tier),
					   "interfaces", interfaces,
					   "conntrack", packets_bytes_json(st->tier == FORWARDER_CONNTRACK ? st->media.kernel_packets : 0,
									   st->tier == FORWARDER_CONNTRACK ? st->media.kernel_bytes : 0),
					   "userspace", packets_bytes_json(st->media.relayed_packets, st->media.relayed_bytes),
					   "dropped_wrong_source",
					   "bpf", json_counter(st->fast_path ? st->fastpath.outcomes[MP_STAT_DROP_WRONG_SOURCE] : 0),
					   "userspace", json_counter(st->media.wrong_source),
					   "outcomes", outcomes);
	err = !forwarding || json_object_set(summary, "stream_status", statuses) ||
	      json_object_set_new(summary, "forwarding", forwarding);
	json_decref(statuses);
	json_decref(interfaces);
	json_decref(outcomes);
	return err ? -1 : 0;
}

json_t *summary_json(const struct sessions *sessions, const struct relay_status *status)
{
	char ip[INET_ADDRSTRLEN];
	json_t *summary;

	inet_ntop(AF_INET, &status->relay_ip, ip, sizeof(ip));
	summary = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o}",
			 "ip", ip,
			 "version", status->version,
			 "status", sessions_halting(sessions) ? "halting" : "active",
			 "uptime", json_counter(status->uptime),
			 "session_count", (json_int_t)sessions_count(sessions),
			 "stream_count", stream_counts_json(sessions),
			 /* an integer until the first sample, as the original sends it */
			 "bps_relayed", status->has_traffic_sample ? json_real(status->bps_relayed)
								    : json_integer(0));
	if (summary && status->stats && add_stats_json(summary, status->stats)) {
		json_decref(summary);
		return NULL;
	}
	return summary;
}

/* Rewrites jansson's text the way Python's json.dumps() writes it: \u00eb
 * where jansson writes \u00EB, \u007f for a raw DEL (Python escapes every
 * byte outside 0x20-0x7e), and exponents with a sign and two digits at
 * least (1e-06, 1e+16 where jansson writes 1e-6, 1e16).  A new string, or
 * NULL without memory.
 */
static char *python_style(const char *text)
{
	size_t size = 1, used = 0;
	bool in_string = false;
	char *out;

	/* a DEL grows by 5 bytes, an exponent by 2 at most */
	for (const char *p = text; *p; p++)
		size += *p == 0x7f ? 6 : *p == 'e' || *p == 'E' ? 3 : 1;
	out = malloc(size);
	if (!out)
		return NULL;
	for (const char *p = text; *p; p++) {
		if (in_string) {
			if (*p == '"') {
				in_string = false;
			} else if (*p == 0x7f) {
				used += sprintf(out + used, "\\u007f");
				continue;
			} else if (*p == '\\') {
				out[used++] = *p++; /* the escaped character, never the string's end */
				if (*p == 'u') {
					out[used++] = *p;
					for (int i = 0; i < 4 && p[1]; i++, p++)
						out[used++] = p[1] >= 'A' && p[1] <= 'F' ? p[1] + ('a' - 'A') : p[1];
					continue;
				}
			}
			out[used++] = *p;
			continue;
		}
		if (*p == '"') {
			in_string = true;
		} else if ((*p == 'e' || *p == 'E') && p > text && ((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '.')) {
			/* an exponent: "e", a sign, then at least two digits */
			const char *digits = p + 1;
			size_t count = 0;

			out[used++] = 'e';
			out[used++] = *digits == '-' ? '-' : '+';
			if (*digits == '-' || *digits == '+')
				digits++;
			while (digits[count] >= '0' && digits[count] <= '9')
				count++;
			if (count == 1)
				out[used++] = '0';
			memcpy(out + used, digits, count);
			used += count;
			p = digits + count - 1; /* the last character taken */
			continue;
		}
		out[used++] = *p;
	}
	out[used] = '\0';
	return out;
}

char *session_json_text(const json_t *json)
{
	/* 16 digits print microsecond UNIX times exactly and no float noise. */
	char *text = json_dumps(json, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16));
	char *python;

	if (!text)
		return NULL;
	python = python_style(text);
	free(text);
	return python;
}
