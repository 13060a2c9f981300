/* Unit tests of the relay's JSON (userspace/session_json.c): the session
 * statistics object of doc/relay-sessions.md §12.4 and doc/accounting.md §2, the
 * `sessions` and `summary` replies of doc/relay-protocol.md §6.2-§6.4, and
 * session_json_text's Python-style formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "log.h"
#include "port_pool.h"
#include "request_parse.h"
#include "session.h"
#include "session_json.h"

#define CALL "7f3c9a21e5b04d2c@10.0.0.23"
#define TAG_A "a73kszlfl"
#define TAG_B "8321234356"
#define UA_A "ExamplePhone/2.1"
#define UA_B "OtherPhone 5.0"
#define T0 1767225610.0

#define A_AUDIO "audio:10.0.0.23:49170:sendrecv:ice=no"
#define A_VIDEO "video:10.0.0.23:51372:sendrecv:ice=no"
#define B_AUDIO "audio:192.168.5.9:30000:sendrecv:ice=no"
#define B_VIDEO "video:192.168.5.9:30002:sendrecv:ice=no"

static struct port_pool *pool;
static struct sessions *table;
static struct clock_reading now;
static struct request req;
static struct in_addr relay_ip;

static void set_time(double wall)
{
	now.wall = wall;
	now.mono_ns = (uint64_t)((wall - T0 + 1000) * 1e9);
}

static int setup(void **state)
{
	struct mp_port_range range = { 40000, 40100 };
	struct sessions_config config = { { 0 }, { 0 } };

	inet_pton(AF_INET, "198.18.0.50", &relay_ip);
	config.relay_ip = relay_ip;
	pool = port_pool_new(&range, PORT_POOL_QUARANTINE_NS, NULL);
	assert_non_null(pool);
	table = sessions_new(&config, pool, NULL);
	assert_non_null(table);
	set_time(T0);
	return 0;
}

static int teardown(void **state)
{
	sessions_free(table, &now);
	port_pool_free(pool);
	return 0;
}

/* An update through the parser; `extra` holds additional header lines. */
static void update(const char *type, const char *from_tag, const char *to_tag, unsigned cseq, const char *ua,
		   const char *media, const char *extra)
{
	char block[4096], why[256], reply[UPDATE_REPLY_LEN];
	struct session *updated;
	int n = snprintf(block, sizeof(block),
			 "update 1\r\ntype: %s\r\ncall_id: " CALL "\r\ncseq: %u\r\nfrom_uri: alice@example.org\r\n"
			 "to_uri: bob@example.net\r\nfrom_tag: %s\r\n%s%s%suser_agent: %s\r\n%s%s%s%s\r\n",
			 type, cseq, from_tag, to_tag ? "to_tag: " : "", to_tag ? to_tag : "", to_tag ? "\r\n" : "",
			 ua, media ? "media: " : "", media ? media : "", media ? "\r\n" : "",
			 extra ? extra : "signaling_ip: 198.18.1.7\r\n");

	assert_true(n > 0 && (size_t)n < sizeof(block));
	if (request_parse(block, n, &req, why, sizeof(why)) != PARSE_OK)
		fail_msg("parse: %s", why);
	if (sessions_update(table, &req, &now, reply, sizeof(reply), &updated) != UPDATE_PORTS)
		fail_msg("update: %s", reply);
}

static struct session *session(void)
{
	struct session *s = sessions_find(table, CALL, TAG_A, "");

	assert_non_null(s);
	return s;
}

static struct session *remove_session(void)
{
	struct request bye = { .command = COMMAND_REMOVE };
	struct session *s;

	strcpy(bye.call_id, CALL);
	strcpy(bye.from_tag, TAG_A);
	s = sessions_remove(table, &bye, &now);
	assert_non_null(s);
	return s;
}

static void latch(struct leg *leg, const char *ip, unsigned port)
{
	leg->has_remote = leg->in_use = leg->got_media = true;
	inet_pton(AF_INET, ip, &leg->remote_ip);
	leg->remote_port = port;
}

/* The text of a JSON value, freed at the next call. */
static const char *text_of(json_t *json)
{
	static char *text;

	free(text);
	assert_non_null(json);
	text = session_json_text(json);
	json_decref(json);
	assert_non_null(text);
	return text;
}

static void expect_text(json_t *json, const char *expected)
{
	const char *text = text_of(json);

	if (strcmp(text, expected))
		fail_msg("got\n%s\nexpected\n%s", text, expected);
}

/* doc/accounting.md §2, first example: the two-stream call ended by `remove`. */
static void test_accounting_example_remove(void **state)
{
	struct session *s;
	struct stream *audio, *video;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO "," A_VIDEO, NULL);
	audio = session()->streams[0];
	video = session()->streams[1];
	set_time(1767225612.482913);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO "," B_VIDEO, NULL);
	stream_note_first_media(audio, T0 + 1.8427);
	stream_note_first_media(video, T0 + 2.0513);
	party_note_codec(&audio->party[SIDE_CALLER], 0);
	party_note_codec(&audio->party[SIDE_CALLEE], 0x80);
	party_note_codec(&video->party[SIDE_CALLER], 96);
	party_note_codec(&video->party[SIDE_CALLEE], 96 | 0x80);
	latch(&audio->party[SIDE_CALLER].rtp, "198.18.1.7", 49170);
	latch(&audio->party[SIDE_CALLEE].rtp, "198.18.2.9", 30000);
	latch(&audio->party[SIDE_CALLER].rtcp, "198.18.1.7", 49171);
	latch(&video->party[SIDE_CALLER].rtp, "198.18.1.7", 51372);
	latch(&video->party[SIDE_CALLEE].rtp, "198.18.2.9", 30002);
	audio->party[SIDE_CALLER].rtp = (struct leg){ .has_remote = true, .packets = 3000, .bytes = 480000,
						       .remote_port = 49170 };
	inet_pton(AF_INET, "198.18.1.7", &audio->party[SIDE_CALLER].rtp.remote_ip);
	audio->party[SIDE_CALLER].rtcp.packets = 100;
	audio->party[SIDE_CALLER].rtcp.bytes = 16000;
	audio->party[SIDE_CALLEE].rtp.packets = 3111;
	audio->party[SIDE_CALLEE].rtp.bytes = 497720;
	video->party[SIDE_CALLER].rtp.packets = 3720;
	video->party[SIDE_CALLER].rtp.bytes = 3511200;
	video->party[SIDE_CALLEE].rtp.packets = 3500;
	video->party[SIDE_CALLEE].rtp.bytes = 3280000;
	video->party[SIDE_CALLEE].rtcp.packets = 42;
	video->party[SIDE_CALLEE].rtcp.bytes = 10110;
	set_time(1767225612.482913 + 62.7);
	s = remove_session();
	expect_text(session_stats_json(s, now.wall + 1000),
		    "{\"call_id\": \"7f3c9a21e5b04d2c@10.0.0.23\", \"from_tag\": \"a73kszlfl\", \"from_uri\": \"alice@example.org\", "
		    "\"to_tag\": \"8321234356\", \"to_uri\": \"bob@example.net\", \"start_time\": 1767225612.482913, "
		    "\"duration\": 62, \"caller_ua\": \"ExamplePhone/2.1\", \"callee_ua\": \"OtherPhone 5.0\", "
		    "\"username\": null, \"streams\": [{\"media_type\": \"audio\", \"status\": \"closed\", "
		    "\"timeout_wait\": 0, \"caller_codec\": \"G711u\", \"callee_codec\": \"G711u\", \"start_time\": 0, "
		    "\"end_time\": 62, \"post_dial_delay\": 1.8427, \"caller_bytes\": 496000, \"callee_bytes\": 497720, "
		    "\"caller_packets\": 3100, \"callee_packets\": 3111, \"caller_local\": \"198.18.0.50:40000\", "
		    "\"callee_local\": \"198.18.0.50:40002\", \"caller_remote\": \"198.18.1.7:49170\", "
		    "\"callee_remote\": \"198.18.2.9:30000\"}, {\"media_type\": \"video\", \"status\": \"closed\", "
		    "\"timeout_wait\": 0, \"caller_codec\": \"Dynamic(96)\", \"callee_codec\": \"Dynamic(96)\", "
		    "\"start_time\": 0, \"end_time\": 62, \"post_dial_delay\": 2.0513, \"caller_bytes\": 3511200, "
		    "\"callee_bytes\": 3290110, \"caller_packets\": 3720, \"callee_packets\": 3542, "
		    "\"caller_local\": \"198.18.0.50:40004\", \"callee_local\": \"198.18.0.50:40006\", "
		    "\"caller_remote\": \"198.18.1.7:51372\", \"callee_remote\": \"198.18.2.9:30002\"}]}");
	session_free(s);
}

/* doc/accounting.md §2, second example: expiry by conntrack timeout, with a username. */
static void test_accounting_example_expired(void **state)
{
	struct session *s;
	struct stream *audio;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO,
	       "signaling_ip: {\"source\": \"198.18.1.7\", \"username\": \"alice@example.org\"}\r\n");
	audio = session()->streams[0];
	set_time(1767225612.482913);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO, NULL);
	stream_note_first_media(audio, T0 + 1.8427);
	party_note_codec(&audio->party[SIDE_CALLER], 0);
	party_note_codec(&audio->party[SIDE_CALLEE], 0);
	latch(&audio->party[SIDE_CALLER].rtp, "198.18.1.7", 49170);
	latch(&audio->party[SIDE_CALLEE].rtp, "198.18.2.9", 30000);
	audio->party[SIDE_CALLER].rtp.packets = 12200;
	audio->party[SIDE_CALLER].rtp.bytes = 1952000;
	audio->party[SIDE_CALLEE].rtp.packets = 12207;
	audio->party[SIDE_CALLEE].rtp.bytes = 1953120;
	set_time(1767225612.482913 + 305.2);
	s = sessions_stream_expired(table, audio, STREAM_CONNTRACK_TIMEOUT, 180, &now);
	assert_ptr_equal(s, audio->session);
	expect_text(session_stats_json(s, now.wall + 50),
		    "{\"call_id\": \"7f3c9a21e5b04d2c@10.0.0.23\", \"from_tag\": \"a73kszlfl\", \"from_uri\": \"alice@example.org\", "
		    "\"to_tag\": \"8321234356\", \"to_uri\": \"bob@example.net\", \"start_time\": 1767225612.482913, "
		    "\"duration\": 305, \"caller_ua\": \"ExamplePhone/2.1\", \"callee_ua\": \"OtherPhone 5.0\", "
		    "\"username\": \"alice@example.org\", \"streams\": [{\"media_type\": \"audio\", "
		    "\"status\": \"conntrack timeout\", \"timeout_wait\": 180, \"caller_codec\": \"G711u\", "
		    "\"callee_codec\": \"G711u\", \"start_time\": 0, \"end_time\": 305, \"post_dial_delay\": 1.8427, "
		    "\"caller_bytes\": 1952000, \"callee_bytes\": 1953120, \"caller_packets\": 12200, "
		    "\"callee_packets\": 12207, \"caller_local\": \"198.18.0.50:40000\", "
		    "\"callee_local\": \"198.18.0.50:40002\", \"caller_remote\": \"198.18.1.7:49170\", "
		    "\"callee_remote\": \"198.18.2.9:30000\"}]}");
	session_free(s);
}

/* Setup 1: never answered → null start_time and to_tag, duration 0, no streams. */
static void test_unanswered(void **state)
{
	struct session *s;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	set_time(T0 + 90);
	s = sessions_stream_expired(table, session()->streams[0], STREAM_NO_TRAFFIC_TIMEOUT, 90, &now);
	assert_non_null(s);
	expect_text(session_stats_json(s, now.wall),
		    "{\"call_id\": \"7f3c9a21e5b04d2c@10.0.0.23\", \"from_tag\": \"a73kszlfl\", \"from_uri\": \"alice@example.org\", "
		    "\"to_tag\": null, \"to_uri\": \"bob@example.net\", \"start_time\": null, \"duration\": 0, "
		    "\"caller_ua\": \"ExamplePhone/2.1\", \"callee_ua\": \"Unknown\", \"username\": null, \"streams\": []}");
	session_free(s);
}

/* Every key, its type and order, for a live session; codecs Unknown, remotes Unknown. */
static void test_types_and_order(void **state)
{
	static const char *const session_keys[] = {
		"call_id", "from_tag", "from_uri", "to_tag", "to_uri", "start_time", "duration",
		"caller_ua", "callee_ua", "username", "streams",
	};
	static const char *const stream_keys[] = {
		"media_type", "status", "timeout_wait", "caller_codec", "callee_codec", "start_time", "end_time",
		"post_dial_delay", "caller_bytes", "callee_bytes", "caller_packets", "callee_packets",
		"caller_local", "callee_local", "caller_remote", "callee_remote",
	};
	json_t *stats, *stream;
	const char *key;
	json_t *value;
	unsigned i = 0;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	set_time(T0 + 2.25);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO, NULL);
	set_time(T0 + 40);
	stats = session_stats_json(session(), now.wall);
	assert_non_null(stats);
	json_object_foreach(stats, key, value) {
		assert_true(i < 11);
		assert_string_equal(key, session_keys[i]);
		i++;
	}
	assert_int_equal(i, 11);
	assert_true(json_is_string(json_object_get(stats, "call_id")));
	assert_true(json_is_string(json_object_get(stats, "to_tag")));
	assert_true(json_is_real(json_object_get(stats, "start_time")));
	assert_true(json_real_value(json_object_get(stats, "start_time")) == T0 + 2.25);
	assert_true(json_is_integer(json_object_get(stats, "duration")));
	assert_int_equal(json_integer_value(json_object_get(stats, "duration")), 37);
	assert_true(json_is_null(json_object_get(stats, "username")));
	assert_true(json_is_array(json_object_get(stats, "streams")));
	stream = json_array_get(json_object_get(stats, "streams"), 0);
	i = 0;
	json_object_foreach(stream, key, value) {
		assert_true(i < 16);
		assert_string_equal(key, stream_keys[i]);
		i++;
	}
	assert_int_equal(i, 16);
	assert_string_equal(json_string_value(json_object_get(stream, "status")), "active");
	assert_true(json_is_integer(json_object_get(stream, "timeout_wait")));
	assert_string_equal(json_string_value(json_object_get(stream, "caller_codec")), "Unknown");
	assert_string_equal(json_string_value(json_object_get(stream, "callee_codec")), "Unknown");
	assert_true(json_is_integer(json_object_get(stream, "start_time")));
	assert_int_equal(json_integer_value(json_object_get(stream, "end_time")), 37); /* alive: = duration */
	assert_true(json_is_null(json_object_get(stream, "post_dial_delay")));
	assert_true(json_is_integer(json_object_get(stream, "caller_bytes")));
	assert_int_equal(json_integer_value(json_object_get(stream, "callee_packets")), 0);
	assert_string_equal(json_string_value(json_object_get(stream, "caller_remote")), "Unknown");
	assert_string_equal(json_string_value(json_object_get(stream, "callee_remote")), "Unknown");
	assert_string_equal(json_string_value(json_object_get(stream, "callee_local")), "198.18.0.50:40002");
	json_decref(stats);
}

/* doc/relay-sessions.md §12.1: 64-bit counters, RTP and RTCP summed, never wrapped at 2^32. */
static void test_counters_64bit(void **state)
{
	json_t *stats, *stream;
	struct stream *audio;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO, NULL);
	audio = session()->streams[0];
	audio->party[SIDE_CALLER].rtp.bytes = 5000000000ULL;
	audio->party[SIDE_CALLER].rtcp.bytes = 123;
	audio->party[SIDE_CALLER].rtp.packets = 4294967296ULL;
	audio->party[SIDE_CALLER].rtcp.packets = 5;
	audio->party[SIDE_CALLEE].rtp.bytes = 2147483648ULL; /* 2^31: not negative */
	audio->party[SIDE_CALLEE].rtp.packets = 4294967295ULL;
	audio->party[SIDE_CALLEE].rtcp.packets = 1;
	stats = session_stats_json(session(), now.wall);
	stream = json_array_get(json_object_get(stats, "streams"), 0);
	assert_int_equal(json_integer_value(json_object_get(stream, "caller_bytes")), 5000000123LL);
	assert_int_equal(json_integer_value(json_object_get(stream, "caller_packets")), 4294967301LL);
	assert_int_equal(json_integer_value(json_object_get(stream, "callee_bytes")), 2147483648LL);
	assert_int_equal(json_integer_value(json_object_get(stream, "callee_packets")), 4294967296LL);
	json_decref(stats);
	assert_non_null(strstr(text_of(session_stats_json(session(), now.wall)),
			       "\"caller_bytes\": 5000000123, \"callee_bytes\": 2147483648, "
			       "\"caller_packets\": 4294967301, \"callee_packets\": 4294967296,"));
}

/* doc/relay-sessions.md §12.5: the RTP figures follow callee_remote, caller
 * then callee; null where not measured (jitter: no clock rate); absent when
 * rtp_stats is off, leaving the original's object.
 */
static void test_rtp_quality_keys(void **state)
{
	json_t *stats, *stream;
	struct stream *audio;
	const char *text;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO, NULL);
	audio = session()->streams[0];
	text = text_of(session_stats_json(session(), now.wall));
	assert_non_null(strstr(text, "\"callee_remote\": \"Unknown\"}")); /* off: nothing added */
	audio->party[SIDE_CALLER].rtp.quality = (struct rtp_quality){ .enabled = true, .measured = true, .has_jitter = true,
								     .lost = 7, .out_of_order = 3, .duplicates = 2,
								     .ssrc_changes = 1, .jitter_ms = 2.3456 };
	audio->party[SIDE_CALLEE].rtp.quality = (struct rtp_quality){ .enabled = true, .measured = true, .lost = 1 };
	text = text_of(session_stats_json(session(), now.wall));
	assert_non_null(strstr(text, "\"callee_remote\": \"Unknown\", \"caller_lost\": 7, \"caller_out_of_order\": 3, "
				     "\"caller_duplicates\": 2, \"caller_ssrc_changes\": 1, \"caller_jitter_ms\": 2.346, "
				     "\"callee_lost\": 1, \"callee_out_of_order\": 0, \"callee_duplicates\": 0, "
				     "\"callee_ssrc_changes\": 0, \"callee_jitter_ms\": null}"));
	audio->party[SIDE_CALLEE].rtp.quality = (struct rtp_quality){ .enabled = true, .measured = false, .lost = 1 };
	stats = session_stats_json(session(), now.wall);
	stream = json_array_get(json_object_get(stats, "streams"), 0);
	assert_true(json_is_null(json_object_get(stream, "callee_lost")));
	assert_true(json_is_null(json_object_get(stream, "callee_ssrc_changes")));
	assert_int_equal(json_integer_value(json_object_get(stream, "caller_lost")), 7);
	json_decref(stats);
}

/* doc/relay-sessions.md §12.2 codec strings as they appear in the statistics. */
static void test_codec_strings(void **state)
{
	static const struct {
		unsigned char pt;
		const char *name;
	} cases[] = {
		{ 0, "G711u" }, { 3, "GSM" }, { 8, "G711a" }, { 9, "G722" }, { 13, "Unknown(13)" },
		{ 18, "G729" }, { 34, "H263" }, { 72, "Unknown(72)" }, { 96, "Dynamic(96)" }, { 0xff, "Dynamic(127)" },
	};
	struct stream *audio;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO, NULL);
	audio = session()->streams[0];
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char expected[128];
		json_t *stats;

		audio->party[SIDE_CALLER].codec[0] = '\0';
		party_note_codec(&audio->party[SIDE_CALLER], cases[i].pt);
		stats = session_stats_json(session(), now.wall);
		snprintf(expected, sizeof(expected), "\"caller_codec\": \"%s\", \"callee_codec\": \"Unknown\"",
			 cases[i].name);
		assert_non_null(strstr(text_of(stats), expected));
	}
}

/* doc/relay-sessions.md §12.3, §12.4: stream times, statuses, order, and which streams are listed. */
static void test_stream_times_and_order(void **state)
{
	struct session *s;
	json_t *stats, *streams;
	double start = T0 + 2;

	/* audio, video (port 0 from the start), audio2 */
	update("request", TAG_A, NULL, 101, UA_A,
	       A_AUDIO ",video:10.0.0.23:0:sendrecv:ice=no,audio:10.0.0.23:49172:sendrecv:ice=no", NULL);
	set_time(start);
	update("reply", TAG_A, TAG_B, 101, UA_B,
	       B_AUDIO ",video:192.168.5.9:0:sendrecv:ice=no,audio:192.168.5.9:30004:sendrecv:ice=no", NULL);
	/* re-offer at +10: audio moves (new stream), a new video, audio2 kept */
	set_time(start + 10);
	update("request", TAG_A, TAG_B, 102, UA_A,
	       "audio:10.0.0.23:49180:sendrecv:ice=no," A_VIDEO ",audio:10.0.0.23:49172:sendrecv:ice=no", NULL);
	/* never answered: a third re-offer's stream is not listed */
	set_time(start + 11.7);
	update("reply", TAG_A, TAG_B, 102, UA_B,
	       B_AUDIO ",video:192.168.5.9:0:sendrecv:ice=no,audio:192.168.5.9:30004:sendrecv:ice=no", NULL);
	set_time(start + 20);
	update("request", TAG_A, TAG_B, 103, UA_A, "image:10.0.0.23:49190:sendrecv:ice=no", NULL);
	s = session();
	assert_int_equal(s->stream_count, 6);
	set_time(start + 30.9);
	stats = session_stats_json(s, now.wall);
	streams = json_object_get(stats, "streams");
	assert_int_equal(json_array_size(streams), 5);
	assert_int_equal(json_integer_value(json_object_get(stats, "duration")), 30);
#define FIELD(i, key) json_object_get(json_array_get(streams, i), key)
	/* answered first, in generation order */
	assert_string_equal(json_string_value(FIELD(0, "media_type")), "audio");
	assert_string_equal(json_string_value(FIELD(0, "status")), "closed"); /* replaced at the answer */
	assert_int_equal(json_integer_value(FIELD(0, "start_time")), 0);
	assert_int_equal(json_integer_value(FIELD(0, "end_time")), 11);
	assert_string_equal(json_string_value(FIELD(1, "media_type")), "video");
	assert_string_equal(json_string_value(FIELD(1, "status")), "closed"); /* closed before the start */
	assert_int_equal(json_integer_value(FIELD(1, "start_time")), 0);
	assert_int_equal(json_integer_value(FIELD(1, "end_time")), 0);
	assert_string_equal(json_string_value(FIELD(1, "callee_local")), "198.18.0.50:0");
	assert_string_equal(json_string_value(FIELD(2, "media_type")), "audio");
	assert_string_equal(json_string_value(FIELD(2, "status")), "active"); /* audio2, still current */
	assert_int_equal(json_integer_value(FIELD(2, "end_time")), 30);
	assert_string_equal(json_string_value(FIELD(2, "caller_local")), "198.18.0.50:40004");
	/* then the re-offer's streams */
	assert_string_equal(json_string_value(FIELD(3, "media_type")), "audio");
	assert_string_equal(json_string_value(FIELD(3, "status")), "active");
	assert_int_equal(json_integer_value(FIELD(3, "start_time")), 11);
	assert_int_equal(json_integer_value(FIELD(3, "end_time")), 30);
	assert_string_equal(json_string_value(FIELD(4, "media_type")), "video");
	assert_string_equal(json_string_value(FIELD(4, "status")), "rejected");
	assert_int_equal(json_integer_value(FIELD(4, "start_time")), 11);
	assert_int_equal(json_integer_value(FIELD(4, "end_time")), 11);
	json_decref(stats);

	/* remove: ended streams are capped at the duration */
	set_time(start + 45.5);
	s = remove_session();
	stats = session_stats_json(s, now.wall + 100);
	streams = json_object_get(stats, "streams");
	assert_int_equal(json_integer_value(json_object_get(stats, "duration")), 45);
	assert_string_equal(json_string_value(FIELD(2, "status")), "closed");
	assert_int_equal(json_integer_value(FIELD(2, "end_time")), 45);
	assert_int_equal(json_integer_value(FIELD(3, "end_time")), 45);
	assert_int_equal(json_integer_value(FIELD(4, "end_time")), 11);
#undef FIELD
	json_decref(stats);
	session_free(s);
}

/* post_dial_delay: first media − creation, a float even when whole. */
static void test_post_dial_delay(void **state)
{
	struct stream *audio;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO, NULL);
	audio = session()->streams[0];
	stream_note_first_media(audio, T0 + 2);
	assert_non_null(strstr(text_of(session_stats_json(session(), now.wall)), "\"post_dial_delay\": 2.0,"));
	audio->first_media_at = T0 + 0.000012;
	assert_non_null(strstr(text_of(session_stats_json(session(), now.wall)), "\"post_dial_delay\": 1.2e-05,"));
	audio->first_media_at = T0 + 0.25;
	assert_non_null(strstr(text_of(session_stats_json(session(), now.wall)), "\"post_dial_delay\": 0.25,"));
}

/* Status strings of doc/relay-sessions.md §10.4 through the statistics. */
static void test_status_strings(void **state)
{
	static const char *const names[] = {
		"active", "on hold", "closed", "rejected", "no-traffic timeout", "on hold timeout",
		"conntrack timeout", "unselected ICE candidate",
	};
	struct stream *audio;

	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO, NULL);
	audio = session()->streams[0];
	for (enum stream_status st = STREAM_ACTIVE; st <= STREAM_UNSELECTED_ICE; st++) {
		char expected[96];

		audio->status = st;
		snprintf(expected, sizeof(expected), "\"status\": \"%s\", ", names[st]);
		assert_non_null(strstr(text_of(session_stats_json(session(), now.wall)), expected));
	}
	audio->status = STREAM_ACTIVE;
	/* on hold through a re-offer */
	update("request", TAG_A, TAG_B, 102, UA_A, "audio:10.0.0.23:49170:sendonly:ice=no", NULL);
	assert_non_null(strstr(text_of(session_stats_json(session(), now.wall)), "\"status\": \"on hold\""));
}

/* Text from the wire: non-ASCII escaped, invalid UTF-8 does not lose the record. */
static void test_text_fields(void **state)
{
	const char *text;

	update("request", TAG_A, NULL, 101, "Zo\xc3\xab Phone \xe2\x98\x8e", A_AUDIO,
	       "signaling_ip: {\"source\": \"198.18.1.7\", \"username\": \"b\\u00f6b\"}\r\n");
	update("reply", TAG_A, TAG_B, 101, "Bad \xff\xfe UA", B_AUDIO, NULL);
	text = text_of(session_stats_json(session(), now.wall));
	assert_non_null(strstr(text, "\"caller_ua\": \"Zo\\u00eb Phone \\u260e\""));
	assert_non_null(strstr(text, "\"username\": \"b\\u00f6b\""));
	assert_non_null(strstr(text, "\"callee_ua\": \"Bad"));
	for (const char *p = text; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

/* doc/relay-protocol.md §6.4: an array, exactly `[]` when empty, creation order. */
static void test_sessions_array(void **state)
{
	const char *text;
	json_t *array;

	expect_text(sessions_json(table, now.wall), "[]");
	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO, NULL);
	update("request", "second", NULL, 7, UA_A, A_VIDEO, NULL);
	set_time(T0 + 1);
	update("reply", "second", "x", 7, UA_B, B_VIDEO, NULL);
	array = sessions_json(table, T0 + 61.5);
	assert_int_equal(json_array_size(array), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(array, 0), "from_tag")), TAG_A);
	assert_string_equal(json_string_value(json_object_get(json_array_get(array, 1), "from_tag")), "second");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(array, 1), "duration")), 60);
	text = text_of(array);
	assert_true(text[0] == '[' && text[strlen(text) - 1] == ']');
	assert_non_null(strstr(text, "\"streams\": []}, {\"call_id\""));
	assert_non_null(strstr(text, "\"status\": \"active\""));
}

/* doc/relay-protocol.md §6.3 and its example. */
static void test_summary(void **state)
{
	struct relay_status status = { relay_ip, "4.1.2", 86412, true, 132096.0 };

	expect_text(summary_json(table, &status),
		    "{\"ip\": \"198.18.0.50\", \"version\": \"4.1.2\", \"status\": \"active\", \"uptime\": 86412, "
		    "\"session_count\": 0, \"stream_count\": {}, \"bps_relayed\": 132096.0}");
	status.has_traffic_sample = false;
	status.uptime = 0;
	status.version = MP_VERSION;
	expect_text(summary_json(table, &status),
		    "{\"ip\": \"198.18.0.50\", \"version\": \"" MP_VERSION "\", \"status\": \"active\", \"uptime\": 0, "
		    "\"session_count\": 0, \"stream_count\": {}, \"bps_relayed\": 0}");

	/* live streams per type over all generations; dead ones not counted */
	update("request", TAG_A, NULL, 101, UA_A, A_AUDIO "," A_VIDEO ",image:10.0.0.23:0:sendrecv:ice=no", NULL);
	update("reply", TAG_A, TAG_B, 101, UA_B, B_AUDIO ",video:192.168.5.9:0:sendrecv:ice=no,image:1.2.3.4:0:sendrecv:ice=no",
	       NULL);
	status.has_traffic_sample = true;
	status.bps_relayed = 1234.5;
	expect_text(summary_json(table, &status),
		    "{\"ip\": \"198.18.0.50\", \"version\": \"" MP_VERSION "\", \"status\": \"active\", \"uptime\": 0, "
		    "\"session_count\": 1, \"stream_count\": {\"audio\": 1}, \"bps_relayed\": 1234.5}");
	update("request", TAG_A, TAG_B, 102, UA_A, "audio:10.0.0.23:49180:sendrecv:ice=no," A_VIDEO, NULL);
	update("request", "second", NULL, 1, UA_A, A_VIDEO, NULL);
	sessions_set_halting(table, true);
	expect_text(summary_json(table, &status),
		    "{\"ip\": \"198.18.0.50\", \"version\": \"" MP_VERSION "\", \"status\": \"halting\", \"uptime\": 0, "
		    "\"session_count\": 2, \"stream_count\": {\"audio\": 2, \"video\": 2}, \"bps_relayed\": 1234.5}");
}

/* session_json_text: Python json.dumps() output. */
static void test_json_text_format(void **state)
{
	json_t *json = json_pack("{s:[i, f, f, s], s:{}, s:[], s:b, s:n, s:{s:s}}",
				 "a", 1, 2.0, 1767225612.482913, "x", "empty", "list", "flag", 1, "none",
				 "nested", "k", "v");

	expect_text(json, "{\"a\": [1, 2.0, 1767225612.482913, \"x\"], \"empty\": {}, \"list\": [], "
			  "\"flag\": true, \"none\": null, \"nested\": {\"k\": \"v\"}}");
	/* escapes: lower-case hex, surrogate pairs, controls, DEL, quotes and backslashes */
	json = json_pack("[s, s, s, s]", "\xc3\xab\xc3\x8b", "\xf0\x9f\x98\x80", "q\"b\\s/\n\t\x01\x1f\x7f",
			 "\\u00EB is text");
	expect_text(json, "[\"\\u00eb\\u00cb\", \"\\ud83d\\ude00\", \"q\\\"b\\\\s/\\n\\t\\u0001\\u001f\\u007f\", "
			  "\"\\\\u00EB is text\"]");
	/* exponents as Python writes them */
	json = json_pack("[f, f, f, f, f, f]", 1e-06, 1.2e-05, 0.0001, 1e16, 1.5e300, -2.5e-10);
	expect_text(json, "[1e-06, 1.2e-05, 0.0001, 1e+16, 1.5e+300, -2.5e-10]");
	json = json_pack("[s, b, b, f]", "1e5 true", 0, 1, 123456.0);
	expect_text(json, "[\"1e5 true\", false, true, 123456.0]");
	json = json_pack("{s:I, s:I}", "big", (json_int_t)INT64_MAX, "neg", (json_int_t)-5);
	expect_text(json, "{\"big\": 9223372036854775807, \"neg\": -5}");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	static const struct CMUnitTest tests[] = {
		T(test_accounting_example_remove),
		T(test_accounting_example_expired),
		T(test_unanswered),
		T(test_types_and_order),
		T(test_counters_64bit),
		T(test_rtp_quality_keys),
		T(test_codec_strings),
		T(test_stream_times_and_order),
		T(test_post_dial_delay),
		T(test_status_strings),
		T(test_text_fields),
		T(test_sessions_array),
		T(test_summary),
		T(test_json_text_format),
	};

	mp_log_open("test_session_json", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_CRIT);
	return cmocka_run_group_tests_name("session_json", tests, NULL, NULL);
}
