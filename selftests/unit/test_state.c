/* Unit tests of the relay's saved state (userspace/state.c, media.c): a
 * state file an earlier relay wrote is restored, and saved again byte for
 * byte, so that a relay restarted after an upgrade takes over its calls;
 * a session with a field that is wrong is left out and logged, its ports
 * free, the others restored; a file that cannot be read is set aside.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <event2/event.h>
#include "forwarder.h"
#include "log.h"
#include "media.h"
#include "port_pool.h"
#include "session.h"
#include "session_json.h"
#include "state.h"

#define DISPATCHER "dispatcher.example.org:25060"

/* Two sessions as the relay wrote them: one with a latched, installed
 * stream, its quality figures (each side's RTP, the caller's RTCP), a
 * caller user agent that is not UTF-8 and a dispatcher; one with
 * a closed stream and a live one on hold, in two generations.  A leg's
 * packets and bytes are its base counters: the userspace tier adds none.
 */
static const char saved_state[] =
	"{\"version\":1,\"sessions\":[{\"call_id\":\"c1\",\"from_tag\":\"ft-c1\",\"to_tag\":\"tt-c1\","
	"\"from_uri\":\"alice@example.org\",\"to_uri\":\"bob@example.net\",\"caller_ua\":{\"hex\":\"506"
	"86f6ee9\"},\"callee_ua\":\"callee\",\"has_username\":true,\"username\":\"alice\",\"caller_addr"
	"ess\":\"198.18.1.7\",\"destination_address\":\"198.18.2.9\",\"has_cseq\":true,\"cseq\":[1,0],"
	"\"start_time\":1796621644.0090578,\"end_time\":0.0,\"next_answer_order\":1,\"streams\":[{\"med"
	"ia_type\":\"audio\",\"status\":0,\"alive\":true,\"timeout_wait\":0,\"party\":[{\"local_ip\":\""
	"198.18.0.50\",\"rtp_port\":40000,\"has_ports\":true,\"has_sdp\":true,\"sdp_ip\":\"198.18.1.7\""
	",\"sdp_port\":49170,\"on_hold\":false,\"ice\":false,\"codec\":\"G711u\",\"rtp\":{\"has_remote"
	"\":true,\"in_use\":true,\"got_media\":true,\"remote_ip\":\"198.18.1.7\",\"remote_port\":49170,"
	"\"packets\":361,\"bytes\":72200},\"rtcp\":{\"has_remote\":true,\"in_use\":true,\"got_media\":t"
	"rue,\"remote_ip\":\"198.18.1.7\",\"remote_port\":49171,\"packets\":2,\"bytes\":160}},{\"local_"
	"ip\":\"198.18.0.50\",\"rtp_port\":40002,\"has_ports\":true,\"has_sdp\":true,\"sdp_ip\":\"198.1"
	"8.2.9\",\"sdp_port\":30000,\"on_hold\":false,\"ice\":false,\"codec\":\"G711u\",\"rtp\":{\"has_"
	"remote\":true,\"in_use\":true,\"got_media\":true,\"remote_ip\":\"198.18.2.9\",\"remote_port\":"
	"30000,\"packets\":335,\"bytes\":67000},\"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_m"
	"edia\":false,\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0}}],\"create"
	"d_at\":1796621643.9259217,\"answered_at\":1796621644.0090578,\"first_media_at\":1796621644.130"
	"0805,\"ended_at\":0.0,\"answer_order\":0,\"media\":{\"id\":1,\"installed\":[true,false],\"base"
	"_packets\":[[361,2],[335,0]],\"base_bytes\":[[72200,160],[67000,0]],\"relayed_ns\":[7422777458"
	"22,742277745901],\"reset_ns\":[0,0],\"timers\":[[0,false],[0,false],[0,false],[831725601536,fa"
	"lse]],\"quality\":{\"rtp\":[{\"clock_rate\":8000,\"pt\":0,\"probation\":0,\"max_seq\":1360,\"s"
	"src\":1144201745,\"cycles\":0,\"base_seq\":1000,\"bad_seq\":65537,\"received\":358,\"lost_prio"
	"r\":0,\"jitter\":163,\"last_ts\":217600,\"last_arrival_ns\":742277745822,\"seen\":-1,\"out_of_"
	"order\":2,\"duplicates\":1,\"sources\":1,\"not_rtp\":0},{\"clock_rate\":8000,\"pt\":8,\"probat"
	"ion\":0,\"max_seq\":200,\"ssrc\":2864434397,\"cycles\":65536,\"base_seq\":65201,\"bad_seq\":65"
	"537,\"received\":530,\"lost_prior\":4,\"jitter\":97,\"last_ts\":3200160,\"last_arrival_ns\":74"
	"2277745901,\"seen\":9223372036854775807,\"out_of_order\":0,\"duplicates\":0,\"sources\":2,\"no"
	"t_rtp\":3}],\"rtcp\":[{\"sr\":[[3735928559,742000000000],[3735994095,747000000000],[0,0],[0,0]"
	"],\"sr_next\":2,\"reports\":2,\"malformed\":0,\"has_block\":true,\"block\":{\"ssrc\":286443439"
	"7,\"fraction_lost\":3,\"cumulative_lost\":4294967295,\"highest_seq\":131071,\"jitter\":40,\"ls"
	"r\":3735928559,\"dlsr\":65536},\"rtt_count\":2,\"rtt_sum_ms\":41.5},{\"sr\":[[0,0],[0,0],[0,0]"
	",[0,0]],\"sr_next\":0,\"reports\":1,\"malformed\":1,\"has_block\":false,\"block\":{\"ssrc\":0,"
	"\"fraction_lost\":0,\"cumulative_lost\":0,\"highest_seq\":0,\"jitter\":0,\"lsr\":0,\"dlsr\":0}"
	",\"rtt_count\":0,\"rtt_sum_ms\":0.0}],\"rtp_unseen\":false}}}],\"generations\":[{\"cseq\":[1,0"
	"],\"streams\":[0]}],\"dispatcher\":\"dispatcher.example.org:25060\"},{\"call_id\":\"c2\",\"fro"
	"m_tag\":\"ft-c2\",\"to_tag\":\"\",\"from_uri\":\"carol@example.org\",\"to_uri\":\"dave@example"
	".net\",\"caller_ua\":\"caller\",\"callee_ua\":\"\",\"has_username\":false,\"username\":\"\",\""
	"caller_address\":\"198.18.1.7\",\"destination_address\":\"0.0.0.0\",\"has_cseq\":true,\"cseq\""
	":[2,1],\"start_time\":0.0,\"end_time\":0.0,\"next_answer_order\":0,\"streams\":[{\"media_type"
	"\":\"video\",\"status\":2,\"alive\":false,\"timeout_wait\":0,\"party\":[{\"local_ip\":\"198.18"
	".0.50\",\"rtp_port\":40004,\"has_ports\":false,\"has_sdp\":true,\"sdp_ip\":\"198.18.1.7\",\"sd"
	"p_port\":51372,\"on_hold\":false,\"ice\":false,\"codec\":\"\",\"rtp\":{\"has_remote\":false,\""
	"in_use\":false,\"got_media\":false,\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,"
	"\"bytes\":0},\"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,\"remote_ip\""
	":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0}},{\"local_ip\":\"198.18.0.50\",\"rtp"
	"_port\":40006,\"has_ports\":false,\"has_sdp\":true,\"sdp_ip\":\"\",\"sdp_port\":0,\"on_hold\":"
	"false,\"ice\":false,\"codec\":\"\",\"rtp\":{\"has_remote\":false,\"in_use\":false,\"got_media"
	"\":false,\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0},\"rtcp\":{\"ha"
	"s_remote\":false,\"in_use\":false,\"got_media\":false,\"remote_ip\":\"0.0.0.0\",\"remote_port"
	"\":0,\"packets\":0,\"bytes\":0}}],\"created_at\":1796621650.25,\"answered_at\":0.0,\"first_med"
	"ia_at\":0.0,\"ended_at\":1796621655.5,\"answer_order\":0,\"media\":null},{\"media_type\":\"aud"
	"io\",\"status\":1,\"alive\":true,\"timeout_wait\":0,\"party\":[{\"local_ip\":\"198.18.0.50\","
	"\"rtp_port\":40008,\"has_ports\":true,\"has_sdp\":true,\"sdp_ip\":\"0.0.0.0\",\"sdp_port\":491"
	"80,\"on_hold\":true,\"ice\":true,\"codec\":\"\",\"rtp\":{\"has_remote\":false,\"in_use\":false"
	",\"got_media\":false,\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0},\""
	"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,\"remote_ip\":\"0.0.0.0\",\""
	"remote_port\":0,\"packets\":0,\"bytes\":0}},{\"local_ip\":\"198.18.0.50\",\"rtp_port\":40010,"
	"\"has_ports\":true,\"has_sdp\":true,\"sdp_ip\":\"198.18.2.9\",\"sdp_port\":30020,\"on_hold\":f"
	"alse,\"ice\":false,\"codec\":\"\",\"rtp\":{\"has_remote\":false,\"in_use\":false,\"got_media\""
	":false,\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0},\"rtcp\":{\"has_"
	"remote\":false,\"in_use\":false,\"got_media\":false,\"remote_ip\":\"0.0.0.0\",\"remote_port\":"
	"0,\"packets\":0,\"bytes\":0}}],\"created_at\":1796621655.5,\"answered_at\":0.0,\"first_media_a"
	"t\":0.0,\"ended_at\":0.0,\"answer_order\":0,\"media\":{\"id\":3,\"installed\":[false,false],\""
	"base_packets\":[[0,0],[0,0]],\"base_bytes\":[[0,0],[0,0]],\"relayed_ns\":[0,0],\"reset_ns\":[0"
	",840000000000],\"timers\":[[861725601386,true],[861725601386,true],[861725601386,true],[861725"
	"601386,true]]}}],\"generations\":[{\"cseq\":[1,0],\"streams\":[0]},{\"cseq\":[2,1],\"streams\""
	":[1]}],\"dispatcher\":null}]}";

static const char *origin_name(void *origin)
{
	return origin;
}

static void *find_origin(void *ctx, const char *name)
{
	return strcmp(name, DISPATCHER) ? NULL : DISPATCHER;
}

static void session_expired(void *ctx, struct session *session)
{
	fail_msg("session %s expired", session->call_id);
}

static void state_changed(void *ctx)
{
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 2 * sizeof(saved_state));

	assert_non_null(f);
	assert_non_null(text);
	assert_true(fread(text, 1, 2 * sizeof(saved_state) - 1, f) > 0);
	fclose(f);
	return text;
}

struct bad_field;

/* A relay's agent without sockets: the table, the pool and the media. */
struct relay {
	struct event_base *base;
	struct forwarder fwd;
	struct media *m;
	struct port_pool *pool;
	struct sessions *sessions;
	char dir[32], path[64];
	const struct bad_field *bad; /* test_bad_field's case */
};

#define PAIRS 50 /* in ports 40000-40099 */

static int relay_setup(void **state)
{
	static const struct media_config media_cfg = { .transmit_every = 1, .rtp_stats = true };
	static const struct media_owner owner = { .expired = session_expired, .changed = state_changed };
	const struct mp_port_range range = { 40000, 40100 };
	struct sessions_config sessions_cfg = { { 0 }, { 0 } };
	struct relay *r = calloc(1, sizeof(*r));
	struct session_events events;

	assert_non_null(r);
	r->bad = *state;
	strcpy(r->dir, "/tmp/test_state.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/relay-state.json", r->dir);
	inet_pton(AF_INET, "198.18.0.50", &sessions_cfg.relay_ip);
	r->base = event_base_new();
	assert_non_null(r->base);
	r->fwd.tier = FORWARDER_USERSPACE;
	r->m = media_new(r->base, &media_cfg, &r->fwd, &owner);
	assert_non_null(r->m);
	events = media_session_events(r->m);
	r->pool = port_pool_new(&range, PORT_POOL_QUARANTINE_NS, NULL);
	r->sessions = sessions_new(&sessions_cfg, r->pool, &events);
	assert_non_null(r->sessions);
	media_set_sessions(r->m, r->sessions);
	*state = r;
	return 0;
}

static int relay_teardown(void **state)
{
	struct relay *r = *state;
	struct clock_reading now = { 0 };
	char cmd[64];

	if (r->sessions)
		sessions_free(r->sessions, &now);
	port_pool_free(r->pool);
	media_free(r->m);
	event_base_free(r->base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	assert_int_equal(system(cmd), 0);
	free(r);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* state_restore() with the log (warnings and worse) captured into `log`. */
static int restore_logged(struct relay *r, char *log, size_t size)
{
	const struct state_origins origins = { .name = origin_name, .find = find_origin };
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO), level = mp_log_get_level(), restored;
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	mp_log_set_level(LOG_WARNING);
	restored = state_restore(r->path, r->sessions, r->pool, r->m, &origins);
	mp_log_set_level(level);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(log, 1, size - 1, tmp);
	log[n] = '\0';
	fclose(tmp);
	return restored;
}

static void test_restore_then_save(void **state)
{
	const struct state_origins origins = { .name = origin_name, .find = find_origin };
	struct relay *r = *state;
	char out[80], *text;

	write_file(r->path, saved_state);
	snprintf(out, sizeof(out), "%s/out.json", r->dir);
	assert_int_equal(state_restore(r->path, r->sessions, r->pool, r->m, &origins), 2);
	assert_int_equal(state_save(out, r->sessions, &origins), 0);
	text = read_file(out);
	assert_string_equal(text, saved_state);
	free(text);
}

/* saved_state with the value at `path` of session `session` replaced by
 * `value` (JSON; NULL removes it).  `path` is keys and indices between
 * slashes; "" is the session itself.
 */
static void write_edited(const char *file, unsigned session, const char *path, const char *value)
{
	json_t *state = json_loads(saved_state, 0, NULL), *at = json_array_get(json_object_get(state, "sessions"), session);
	json_t *parent = json_object_get(state, "sessions");
	char key[64] = "", *slash;

	assert_non_null(at);
	snprintf(key, sizeof(key), "%u", session);
	for (const char *p = path; *p; p = slash ? slash + 1 : p + strlen(p)) {
		slash = strchr(p, '/');
		parent = at;
		snprintf(key, sizeof(key), "%.*s", slash ? (int)(slash - p) : (int)strlen(p), p);
		at = json_is_array(at) ? json_array_get(at, strtoul(key, NULL, 10)) : json_object_get(at, key);
		assert_non_null(at);
	}
	if (json_is_array(parent) && value)
		assert_int_equal(json_array_set_new(parent, strtoul(key, NULL, 10), json_loads(value, JSON_DECODE_ANY, NULL)), 0);
	else if (json_is_array(parent))
		assert_int_equal(json_array_remove(parent, strtoul(key, NULL, 10)), 0);
	else if (value)
		assert_int_equal(json_object_set_new(parent, key, json_loads(value, JSON_DECODE_ANY, NULL)), 0);
	else
		assert_int_equal(json_object_del(parent, key), 0);
	assert_int_equal(json_dump_file(state, file, JSON_COMPACT), 0);
	json_decref(state);
}

/* The quality figures of saved_state's first stream, as its statistics
 * report them after the restore: what the relay counted of each side's
 * RTP, and the caller's RTCP (its report about the callee's stream, its
 * round trip).
 */
static void test_quality_restored(void **state)
{
	const struct state_origins origins = { .name = origin_name, .find = find_origin };
	struct relay *r = *state;
	const struct session *c1;
	json_t *stats, *stream;
	char *text;

	write_file(r->path, saved_state);
	assert_int_equal(state_restore(r->path, r->sessions, r->pool, r->m, &origins), 2);
	c1 = sessions_find(r->sessions, "c1", "ft-c1", "");
	assert_non_null(c1);
	stats = session_stats_json(c1, 1796621700.0);
	stream = json_array_get(json_object_get(stats, "streams"), 0);
	text = json_dumps(stream, JSON_COMPACT);
	assert_non_null(text);
	/* expected 1360 - 1000 + 1, received 358; 200 + 65536 - 65201 + 1 and 530, 4 before */
	assert_int_equal(json_integer_value(json_object_get(stream, "caller_lost")), 3);
	assert_int_equal(json_integer_value(json_object_get(stream, "callee_lost")), 10);
	assert_int_equal(json_integer_value(json_object_get(stream, "caller_out_of_order")), 2);
	assert_int_equal(json_integer_value(json_object_get(stream, "caller_duplicates")), 1);
	assert_int_equal(json_integer_value(json_object_get(stream, "callee_ssrc_changes")), 1);
	/* 163 / 16 units of 8000 Hz: 1.2734 ms */
	assert_float_equal(json_real_value(json_object_get(stream, "caller_jitter_ms")), 1.273, 0.0005);
	/* the caller's RTCP: 41.5 ms over 2 round trips; its block on the callee's stream */
	assert_float_equal(json_real_value(json_object_get(stream, "caller_rtt_ms")), 20.75, 0.0005);
	assert_int_equal(json_integer_value(json_object_get(stream, "callee_rtcp_lost")), -1);
	assert_float_equal(json_real_value(json_object_get(stream, "callee_rtcp_jitter_ms")), 5.0, 0.0005);
	free(text);
	json_decref(stats);
}

/* A file of a relay before "quality" was saved: its streams are taken
 * over, their figures start anew, and the next save has none, as for
 * c2's stream, which saw no packet.
 */
static void test_without_quality(void **state)
{
	const struct state_origins origins = { .name = origin_name, .find = find_origin };
	struct relay *r = *state;
	char out[80], *want, *text;

	snprintf(out, sizeof(out), "%s/out.json", r->dir);
	write_edited(r->path, 0, "streams/0/media/quality", NULL);
	want = read_file(r->path);
	assert_int_equal(state_restore(r->path, r->sessions, r->pool, r->m, &origins), 2);
	assert_int_equal(state_save(out, r->sessions, &origins), 0);
	text = read_file(out);
	assert_string_equal(text, want);
	free(want);
	free(text);
}

/* The sessions' statistics, as `sessions` and an expiry report them. */
static void report_all(const struct sessions *sessions)
{
	for (const struct session *s = sessions_first(sessions); s; s = s->next) {
		json_t *json = session_stats_json(s, 1796621700.0);
		char *text = session_json_text(json);

		assert_non_null(text);
		free(text);
		json_decref(json);
	}
}

/* One wrong field: its session is left out with a log line naming the
 * field, the value and what is wrong; the other is restored.
 */
struct bad_field {
	unsigned session; /* 0: c1, 1: c2 */
	const char *path, *value;
	const char *logged; /* after "left out: " */
};

static const struct bad_field bad_fields[] = {
	/* a status past the last indexed past the status names */
	{ 0, "streams/0/status", "8", "streams[0].status = 8: out of range" },
	{ 0, "streams/0/status", "-1", "streams[0].status = -1: out of range" },
	{ 0, "streams/0/status", NULL, "streams[0].status: missing" },
	/* an ended stream claimed its ports and never gave them back */
	{ 1, "streams/0/party/0/has_ports", "true", "streams[0].party[0].has_ports = true: true in an ended stream" },
	{ 0, "streams/0/party/1/has_ports", "false", "streams[0].party[1].has_ports = false: false in a live stream" },
	{ 0, "streams/0/alive", "false", "streams[0].alive = false: false with a live status" },
	{ 1, "streams/1/status", "2", "streams[1].alive = true: true with the status of an ended stream" },
	/* a generation with a bad index leaked */
	{ 1, "generations/1/streams/0", "5", "generations[1].streams[0] = 5: not the index of a stream" },
	{ 1, "generations/1/streams/0", "\"1\"", "generations[1].streams[0] = \"1\": not the index of a stream" },
	{ 1, "generations/0/streams", "[]", "generations[0].streams = []: not an array of 1 to 32 stream indices" },
	{ 0, "generations", "[]", "generations = []: not an array of at least one generation" },
	{ 1, "generations/1/streams/0", "0",
	  "streams[1].alive = true: true in a stream of neither of the last two generations" },
	/* times that overflowed the conversions of the statistics */
	{ 0, "start_time", "1e20", "start_time = 1e20: not a time between 1970 and 9999" },
	{ 0, "streams/0/answered_at", "-1.5", "streams[0].answered_at = -1.5: not a time between 1970 and 9999" },
	{ 0, "streams/0/first_media_at", "\"now\"", "streams[0].first_media_at = \"now\": not a number" },
	/* the other kinds of field */
	{ 0, "", "5", "entry = 5: not an object" },
	{ 0, "call_id", "5", "call_id = 5: not a text" },
	{ 0, "from_tag", "\"\"", "from_tag = \"\": empty" },
	{ 0, "to_tag", "{\"hex\":\"6100\"}", "to_tag = {\"hex\":\"6100\"}: holds a NUL byte" },
	{ 0, "to_tag", "{\"hex\":\"616\"}", "to_tag = {\"hex\":\"616\"}: not hexadecimal" },
	{ 0, "caller_ua", "{\"hex\":\"5g\"}", "caller_ua = {\"hex\":\"5g\"}: not hexadecimal" },
	{ 0, "streams/0/media_type", "\"audio-audio-audio-audio-audio-aud\"",
	  "streams[0].media_type = \"audio-audio-audio-audio-audio-aud\": too long" },
	{ 0, "streams/0/party/1/local_ip", "\"198.18.0\"", "streams[0].party[1].local_ip = \"198.18.0\": not an IPv4 address" },
	{ 0, "streams/0/party/0/rtp/remote_port", "70000", "streams[0].party[0].rtp.remote_port = 70000: out of range" },
	{ 1, "streams/1/party/1/rtp_port", "65535", "streams[1].party[1].rtp_port = 65535: out of range" },
	{ 1, "streams/1/party/0/on_hold", "1", "streams[1].party[0].on_hold = 1: not a boolean" },
	{ 0, "streams/0/party/0/rtp/has_remote", "false",
	  "streams[0].party[0].rtp.in_use = true: true without a remote address" },
	{ 0, "streams/0/party", "[]", "streams[0].party = []: an array of another length" },
	{ 0, "streams", "{}", "streams = {}: not an array" },
	{ 1, "streams/1/media", "null", "streams[1].media = null: not an object" },
	{ 1, "streams/0/media", "{}", "streams[0].media = {}: not null in an ended stream" },
	{ 0, "streams/0/media/timers", "[]", "streams[0].media.timers = []: an array of another length" },
	{ 0, "streams/0/media/timers/2/1", "0", "streams[0].media.timers[2][1] = 0: not a boolean" },
	{ 0, "streams/0/media/base_bytes/1/0", "1.5", "streams[0].media.base_bytes[1][0] = 1.5: not an integer" },
	{ 1, "dispatcher", "5", "dispatcher = 5: neither a name nor null" },
	/* the quality figures: an index past the history, a probation never begun, a negative sum */
	{ 0, "streams/0/media/quality/rtcp/0/sr_next", "4", "streams[0].media.quality.rtcp[0].sr_next = 4: out of range" },
	{ 0, "streams/0/media/quality/rtp/1/probation", "3", "streams[0].media.quality.rtp[1].probation = 3: out of range" },
	{ 0, "streams/0/media/quality/rtcp/0/rtt_sum_ms", "-2.5",
	  "streams[0].media.quality.rtcp[0].rtt_sum_ms = -2.5: negative or not finite" },
	{ 0, "streams/0/media/quality/rtp", "[]", "streams[0].media.quality.rtp = []: an array of another length" },
};

/* One case of bad_fields, with a relay of its own (its prestate). */
static void test_bad_field(void **state)
{
	struct relay *r = *state;
	const struct bad_field *bad = r->bad;
	struct clock_reading now = { 0 };
	char log[2048], expected[256];
	int restored;

	write_edited(r->path, bad->session, bad->path, bad->value);
	restored = restore_logged(r, log, sizeof(log));
	report_all(r->sessions); /* before the checks: what a sanitizer finds there comes first */
	assert_int_equal(restored, 1);
	snprintf(expected, sizeof(expected), "session %u (call_id %s) left out: %s", bad->session,
		 !strcmp(bad->path, "call_id") ? bad->value : !*bad->path ? "unknown" : bad->session ? "\"c2\"" : "\"c1\"",
		 bad->logged);
	if (!strstr(log, expected))
		fail_msg("expected \"%s\" in the log: %s", expected, log);
	assert_int_equal(sessions_count(r->sessions), 1);
	assert_non_null(sessions_find(r->sessions, bad->session ? "c1" : "c2", bad->session ? "ft-c1" : "ft-c2", ""));
	/* the left-out session's pairs are free; the kept one holds two */
	assert_int_equal(port_pool_free_count(r->pool), PAIRS - 2);
	sessions_free(r->sessions, &now);
	r->sessions = NULL;
	assert_int_equal(port_pool_free_count(r->pool), PAIRS);
}

/* A pair another session holds ends the stream; its other pair is free again. */
static void test_port_taken(void **state)
{
	struct relay *r = *state;
	struct clock_reading now = { 0 };
	const struct session *c2;
	char log[2048];

	write_edited(r->path, 1, "streams/1/party/1/rtp_port", "40002");
	assert_int_equal(restore_logged(r, log, sizeof(log)), 2);
	assert_non_null(strstr(log, "port 40002 of session c2 is taken or out of the port range; its stream ends"));
	c2 = sessions_find(r->sessions, "c2", "ft-c2", "");
	assert_non_null(c2);
	assert_false(c2->streams[1]->alive);
	assert_int_equal(c2->streams[1]->status, STREAM_CLOSED);
	report_all(r->sessions);
	assert_int_equal(port_pool_free_count(r->pool), PAIRS - 2);
	sessions_free(r->sessions, &now);
	r->sessions = NULL;
	assert_int_equal(port_pool_free_count(r->pool), PAIRS);
}

/* A second session under the key of the first is left out. */
static void test_duplicate_key(void **state)
{
	struct relay *r = *state;
	json_t *saved = json_loads(saved_state, 0, NULL), *sessions = json_object_get(saved, "sessions");
	char log[2048];

	json_array_append_new(sessions, json_deep_copy(json_array_get(sessions, 0)));
	assert_int_equal(json_dump_file(saved, r->path, 0), 0);
	json_decref(saved);
	assert_int_equal(restore_logged(r, log, sizeof(log)), 2);
	assert_non_null(strstr(log, "session 2 (call_id \"c1\") left out: from_tag = \"ft-c1\": the key of an earlier session too"));
	assert_int_equal(port_pool_free_count(r->pool), PAIRS - 4);
}

/* A file that cannot be read at all: no calls, the file kept aside as .bad. */
static void test_unreadable(void **state)
{
	static const char *const files[][2] = {
		{ "{\"version\":1,\"sessions\":[", "unreadable (" },
		{ "{\"version\":2,\"sessions\":[]}", "unreadable (not version 1)" },
		{ "{\"version\":1,\"sessions\":{}}", "unreadable (no sessions array)" },
	};
	struct relay *r = *state;
	char log[2048], aside[80], expected[160], *text;

	snprintf(aside, sizeof(aside), "%s.bad", r->path);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		write_file(r->path, files[i][0]);
		assert_int_equal(restore_logged(r, log, sizeof(log)), 0);
		snprintf(expected, sizeof(expected), "restart state %s %s", r->path, files[i][1]);
		if (!strstr(log, expected))
			fail_msg("expected \"%s\" in the log: %s", expected, log);
		snprintf(expected, sizeof(expected), "kept as %s; starting without calls", aside);
		assert_non_null(strstr(log, expected));
		assert_int_equal(access(r->path, F_OK), -1);
		text = read_file(aside);
		assert_string_equal(text, files[i][0]);
		free(text);
		assert_int_equal(sessions_count(r->sessions), 0);
		assert_int_equal(port_pool_free_count(r->pool), PAIRS);
	}
}

#define BAD_FIELDS (sizeof(bad_fields) / sizeof(bad_fields[0]))

int main(void)
{
	struct CMUnitTest tests[6 + BAD_FIELDS] = {
		cmocka_unit_test_setup_teardown(test_restore_then_save, relay_setup, relay_teardown),
		cmocka_unit_test_setup_teardown(test_quality_restored, relay_setup, relay_teardown),
		cmocka_unit_test_setup_teardown(test_without_quality, relay_setup, relay_teardown),
		cmocka_unit_test_setup_teardown(test_port_taken, relay_setup, relay_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_key, relay_setup, relay_teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, relay_setup, relay_teardown),
	};
	static char names[BAD_FIELDS][96];

	for (size_t i = 0; i < BAD_FIELDS; i++) {
		const struct bad_field *bad = &bad_fields[i];

		snprintf(names[i], sizeof(names[i]), "left out: session %u, %s = %s", bad->session,
			 *bad->path ? bad->path : "itself", bad->value ? bad->value : "(none)");
		tests[6 + i] = (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
			test_bad_field, relay_setup, relay_teardown, (void *)bad);
		tests[6 + i].name = names[i];
	}
	mp_log_open("test_state", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
