/* Unit tests of sessions, generations and streams (userspace/session.c)
 * against doc/relay-sessions.md §1-§8, §10.3-§10.6 and §19 and
 * doc/relay-protocol.md §6.1-§6.2.  The running example is the one of
 * doc/relay-protocol.md §10: relay 198.18.0.50, caller 10.0.0.23 (tag
 * a73kszlfl), callee 192.168.5.9 (tag 8321234356), ports from 40000 up,
 * caller-side pair first.
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

#define CALL "7f3c9a21e5b04d2c@10.0.0.23"
#define TAG_A "a73kszlfl"
#define TAG_B "8321234356"
#define UA_A "ExamplePhone/2.1"
#define UA_B "OtherPhone 5.0"
#define T0 1767225600.0
#define SEC 1000000000ULL
#define POOL_PAIRS 50

#define A_AUDIO "audio:10.0.0.23:49170:sendrecv:ice=no"
#define A_VIDEO "video:10.0.0.23:51372:sendrecv:ice=no"
#define B_AUDIO "audio:192.168.5.9:30000:sendrecv:ice=no"
#define B_VIDEO "video:192.168.5.9:30002:sendrecv:ice=no"

/* ---- fixture ------------------------------------------------------------- */

struct event {
	char kind; /* A allocated, R released, H hold, P party reset, C closed */
	struct stream *stream;
	int side;
};

static struct event events[16384];
static unsigned n_events;
static bool bound[65536];
static unsigned bound_count;
static struct in_addr relay_ip, other_ip;
static bool split_sides; /* the callee side binds on other_ip */

static struct port_pool *pool;
static struct sessions *table;
static struct clock_reading now;
static char reply[UPDATE_REPLY_LEN];
static struct request req;

static int fake_bind(void *ctx, struct in_addr ip, unsigned port)
{
	assert_false(bound[port]);
	bound[port] = true;
	bound_count++;
	return 0;
}

static void fake_unbind(void *ctx, struct in_addr ip, unsigned port)
{
	assert_true(bound[port]);
	bound[port] = false;
	bound_count--;
}

static void record(char kind, struct stream *stream, int side)
{
	assert_true(n_events < sizeof(events) / sizeof(events[0]));
	events[n_events++] = (struct event){ kind, stream, side };
}

static void ev_allocated(void *ctx, struct stream *stream, enum side side)
{
	assert_true(stream->party[side].has_ports);
	assert_true(stream->alive);
	record('A', stream, side);
}

static void ev_released(void *ctx, struct stream *stream, enum side side)
{
	assert_true(stream->party[side].has_ports);
	assert_false(stream->alive);
	record('R', stream, side);
}

static void ev_hold(void *ctx, struct stream *stream)
{
	record('H', stream, -1);
}

static void ev_reset(void *ctx, struct stream *stream, enum side side)
{
	record('P', stream, side);
}

static void ev_closed(void *ctx, struct stream *stream)
{
	assert_false(stream->alive);
	record('C', stream, -1);
}

static struct in_addr ev_local(void *ctx, const struct session *s, enum side side)
{
	return split_sides && side == SIDE_CALLEE ? other_ip : relay_ip;
}

static const struct session_events event_table = {
	NULL, ev_allocated, ev_released, ev_hold, ev_reset, ev_closed, ev_local,
};

static void set_time(double seconds)
{
	now.wall = T0 + seconds;
	now.mono_ns = (uint64_t)(seconds * 1e9);
}

static void make_table(const char *advertised)
{
	struct sessions_config config = { relay_ip, { 0 } };

	if (advertised)
		inet_pton(AF_INET, advertised, &config.advertised_ip);
	table = sessions_new(&config, pool, &event_table);
	assert_non_null(table);
}

static int setup_range(unsigned pairs)
{
	static const struct port_binder binder = { fake_bind, fake_unbind, NULL };
	struct mp_port_range range = { 40000, 40000 + 2 * pairs };

	memset(bound, 0, sizeof(bound));
	bound_count = 0;
	n_events = 0;
	split_sides = false;
	inet_pton(AF_INET, "198.18.0.50", &relay_ip);
	inet_pton(AF_INET, "203.0.113.5", &other_ip);
	set_time(0);
	pool = port_pool_new(&range, PORT_POOL_QUARANTINE_NS, &binder);
	assert_non_null(pool);
	make_table(NULL);
	return 0;
}

static int setup(void **state)
{
	return setup_range(POOL_PAIRS);
}

static int setup_small(void **state)
{
	return setup_range(6);
}

/* Per stream the events come in the order session.h promises. */
static void check_event_order(void)
{
	for (unsigned i = 0; i < n_events; i++) {
		struct stream *stream = events[i].stream;
		unsigned allocated = 0, released = 0, closed = 0, others = 0;

		for (unsigned j = 0; j < n_events; j++) {
			if (events[j].stream != stream)
				continue;
			switch (events[j].kind) {
			case 'A':
				assert_int_equal(others + closed + released, 0);
				allocated++;
				break;
			case 'H':
			case 'P':
				assert_int_equal(closed + released, 0);
				others++;
				break;
			case 'C':
				assert_int_equal(closed + released, 0);
				closed++;
				break;
			case 'R':
				assert_int_equal(closed, 1);
				released++;
				break;
			}
		}
		assert_true(allocated == 0 || allocated == 2);
		assert_true(released <= allocated);
	}
}

static int teardown(void **state)
{
	check_event_order();
	set_time(100000);
	sessions_free(table, &now);
	check_event_order();
	/* every pair went back to the pool, nothing stays bound */
	assert_int_equal(bound_count, 0);
	assert_int_equal(port_pool_free_count(pool) + port_pool_bad_count(pool),
			 port_pool_free_count(pool));
	port_pool_free(pool);
	return 0;
}

static unsigned count_events(char kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_events; i++)
		n += events[i].kind == kind;
	return n;
}

static unsigned count_stream_events(char kind, const struct stream *stream)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_events; i++)
		n += events[i].kind == kind && events[i].stream == stream;
	return n;
}

/* Frees a session taken out of the table, forgetting its streams' events
 * (their addresses may be reused by the next streams).
 */
static void drop_session(struct session *s)
{
	unsigned kept = 0;

	check_event_order();
	for (unsigned i = 0; i < n_events; i++) {
		bool mine = false;

		for (unsigned j = 0; j < s->stream_count; j++)
			mine |= events[i].stream == s->streams[j];
		if (!mine)
			events[kept++] = events[i];
	}
	n_events = kept;
	session_free(s);
}

/* ---- requests ------------------------------------------------------------ */

/* An update as the parser gives it; to_tag and media may be NULL (absent). */
static struct request *msg(const char *type, const char *from_tag, const char *to_tag, unsigned cseq,
			      const char *ua, const char *media)
{
	char block[4096], why[256];
	int n;

	n = snprintf(block, sizeof(block),
		     "update 1\r\ntype: %s\r\ncall_id: " CALL "\r\ncseq: %u\r\n"
		     "from_uri: %s\r\nto_uri: %s\r\nfrom_tag: %s\r\n%s%s%suser_agent: %s\r\n"
		     "signaling_ip: 198.18.1.7\r\n%s%s%s\r\n",
		     type, cseq, !strcmp(from_tag, TAG_A) ? "alice@example.org" : "bob@example.net",
		     !strcmp(from_tag, TAG_A) ? "bob@example.net" : "alice@example.org", from_tag,
		     to_tag ? "to_tag: " : "", to_tag ? to_tag : "", to_tag ? "\r\n" : "", ua,
		     media ? "media: " : "", media ? media : "", media ? "\r\n" : "");
	assert_true(n > 0 && (size_t)n < sizeof(block));
	if (request_parse(block, n, &req, why, sizeof(why)) != PARSE_OK)
		fail_msg("parse: %s", why);
	return &req;
}

/* The caller's requests and the callee's replies to them... */
#define INVITE(cseq, media)   msg("request", TAG_A, NULL, cseq, UA_A, media)
#define REINVITE(cseq, media) msg("request", TAG_A, TAG_B, cseq, UA_A, media)
#define OK(cseq, media)       msg("reply", TAG_A, TAG_B, cseq, UA_B, media)
/* ...and the callee's requests and the caller's replies (tags swapped). */
#define B_INVITE(cseq, media) msg("request", TAG_B, TAG_A, cseq, UA_B, media)
#define A_OK(cseq, media)     msg("reply", TAG_B, TAG_A, cseq, UA_A, media)

static enum update_result update(const struct request *r)
{
	struct session *updated;
	enum update_result result;

	memset(reply, 'x', sizeof(reply));
	result = sessions_update(table, r, &now, reply, sizeof(reply), &updated);
	/* the session updated is the one the request names */
	if (result == UPDATE_PORTS)
		assert_ptr_equal(updated, sessions_find(table, r->call_id, r->from_tag, r->to_tag));
	else
		assert_null(updated);
	return result;
}

static void expect_ports(const struct request *r, const char *expected)
{
	enum update_result result = update(r);

	if (result != UPDATE_PORTS || strcmp(reply, expected))
		fail_msg("update gave %d '%s', expected '%s'", result, reply, expected);
}

static void expect_error(const struct request *r)
{
	enum update_result result = update(r);

	if (result != UPDATE_ERROR || strcmp(reply, "error"))
		fail_msg("update gave %d '%s', expected error", result, reply);
}

static struct session *session(void)
{
	return sessions_find(table, CALL, TAG_A, "");
}

static struct stream *current_stream(unsigned i)
{
	struct generation *g = session_generation(session(), 0);

	assert_non_null(g);
	assert_true(i < g->count);
	return g->streams[i];
}

static const char *status(const struct stream *stream)
{
	return stream_status_name(stream->status);
}

/* INVITE audio+video and the 200 OK accepting both. */
static void establish_av(void)
{
	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	set_time(2);
	expect_ports(OK(101, B_AUDIO "," B_VIDEO), "198.18.0.50 40000 40004");
}

static void establish_audio(void)
{
	expect_ports(INVITE(101, A_AUDIO), "198.18.0.50 40002");
	set_time(2);
	expect_ports(OK(101, B_AUDIO), "198.18.0.50 40000");
}

/* ---- offer and answer ---------------------------------------------------- */

/* doc/relay-protocol.md §6.1's example, then doc/relay-protocol.md §6's retransmission. */
static void test_offer_answer_from_caller(void **state)
{
	struct session *s;
	struct stream *audio, *video;

	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	s = session();
	assert_non_null(s);
	assert_int_equal(sessions_count(table), 1);
	assert_ptr_equal(sessions_first(table), s);
	assert_string_equal(s->from_tag, TAG_A);
	assert_string_equal(s->to_tag, "");
	assert_string_equal(s->from_uri, "alice@example.org");
	assert_string_equal(s->to_uri, "bob@example.net");
	assert_string_equal(s->caller_ua, UA_A);
	assert_string_equal(s->callee_ua, "");
	assert_true(s->start_time == 0);
	assert_int_equal(s->generation_count, 1);
	assert_int_equal(s->stream_count, 2);
	audio = current_stream(0);
	video = current_stream(1);
	assert_string_equal(audio->media_type, "audio");
	assert_string_equal(video->media_type, "video");
	assert_ptr_equal(audio->session, s);
	assert_string_equal(status(audio), "active");
	assert_true(audio->alive);
	assert_int_equal(audio->party[SIDE_CALLER].rtp_port, 40000);
	assert_int_equal(audio->party[SIDE_CALLEE].rtp_port, 40002);
	assert_int_equal(video->party[SIDE_CALLER].rtp_port, 40004);
	assert_int_equal(video->party[SIDE_CALLEE].rtp_port, 40006);
	assert_int_equal(audio->party[SIDE_CALLER].local_ip.s_addr, relay_ip.s_addr);
	assert_true(audio->party[SIDE_CALLER].has_sdp);
	assert_string_equal(audio->party[SIDE_CALLER].sdp_ip, "10.0.0.23");
	assert_int_equal(audio->party[SIDE_CALLER].sdp_port, 49170);
	assert_false(audio->party[SIDE_CALLEE].has_sdp);
	assert_true(audio->created_at == T0);
	assert_true(audio->answered_at == 0);
	assert_int_equal(count_events('A'), 4);
	assert_int_equal(bound_count, 4);
	assert_int_equal(port_pool_free_count(pool), POOL_PAIRS - 4);

	/* the 200 OK rejects the video */
	set_time(2.5);
	expect_ports(OK(101, B_AUDIO ",video:192.168.5.9:0:sendrecv:ice=no"), "198.18.0.50 40000 0");
	assert_string_equal(s->to_tag, TAG_B);
	assert_string_equal(s->callee_ua, UA_B);
	assert_true(s->start_time == T0 + 2.5);
	assert_true(audio->answered_at == T0 + 2.5);
	assert_true(video->answered_at == T0 + 2.5);
	assert_true(audio->answer_order < video->answer_order);
	assert_string_equal(status(audio), "active");
	assert_string_equal(status(video), "rejected");
	assert_false(video->alive);
	assert_true(video->ended_at == T0 + 2.5);
	assert_false(video->party[SIDE_CALLER].has_ports);
	assert_int_equal(video->party[SIDE_CALLER].rtp_port, 40004); /* kept for the statistics */
	assert_string_equal(audio->party[SIDE_CALLEE].sdp_ip, "192.168.5.9");
	assert_int_equal(count_events('P'), 0);
	assert_int_equal(count_stream_events('C', video), 1);
	assert_int_equal(count_stream_events('R', video), 2);
	assert_int_equal(bound_count, 2);

	/* retransmitted INVITE and the ACK: same ports, nothing changes */
	set_time(3);
	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 0");
	expect_ports(REINVITE(101, NULL), "198.18.0.50 40002 0");
	expect_ports(REINVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 0"); /* setup 4: ACK with SDP */
	assert_true(s->start_time == T0 + 2.5);
	assert_true(audio->answered_at == T0 + 2.5);
	assert_int_equal(s->generation_count, 1);
	assert_int_equal(s->stream_count, 2);
	assert_int_equal(n_events, 7);
}

/* A callee re-INVITE: callee slot, caller-side ports; the caller's 200 gets callee-side ports. */
static void test_offer_answer_from_callee(void **state)
{
	struct session *s;
	struct stream *audio;

	establish_audio();
	s = session();
	audio = current_stream(0);
	set_time(10);
	expect_ports(B_INVITE(1, B_AUDIO), "198.18.0.50 40000");
	assert_int_equal(s->generation_count, 2);
	assert_ptr_equal(current_stream(0), audio);
	assert_int_equal(session_generation(s, 0)->cseq[SIDE_CALLER], 101);
	assert_int_equal(session_generation(s, 0)->cseq[SIDE_CALLEE], 1);
	expect_ports(A_OK(1, A_AUDIO), "198.18.0.50 40002");
	assert_string_equal(status(audio), "active");
	assert_int_equal(s->stream_count, 1);
	assert_string_equal(s->to_tag, TAG_B);
	assert_string_equal(s->caller_ua, UA_A);
	assert_string_equal(s->callee_ua, UA_B);

	/* the callee moves its audio: a new stream, new relay ports on both sides */
	set_time(20);
	expect_ports(B_INVITE(2, "audio:192.168.5.9:30010:sendrecv:ice=no"), "198.18.0.50 40004");
	assert_ptr_not_equal(current_stream(0), audio);
	assert_true(audio->alive); /* until the answer */
	assert_int_equal(current_stream(0)->party[SIDE_CALLEE].sdp_port, 30010);
	assert_false(current_stream(0)->party[SIDE_CALLER].has_sdp);
	expect_ports(A_OK(2, A_AUDIO), "198.18.0.50 40006");
	assert_false(audio->alive);
	assert_string_equal(status(audio), "closed");
	assert_true(current_stream(0)->party[SIDE_CALLER].has_sdp);
	/* the caller's 200 was not the caller's slot: to_tag untouched */
	assert_string_equal(s->to_tag, TAG_B);
}

/* setup 5: INVITE without SDP, 200 with the offer, ACK with the answer. */
static void test_session_created_by_reply(void **state)
{
	struct session *s;

	expect_error(INVITE(101, NULL));
	assert_int_equal(sessions_count(table), 0);
	expect_ports(OK(101, B_AUDIO), "198.18.0.50 40000");
	s = session();
	assert_non_null(s);
	assert_string_equal(s->from_tag, TAG_A); /* the caller is still the INVITE sender */
	assert_string_equal(s->to_tag, TAG_B);
	assert_string_equal(s->callee_ua, UA_B);
	assert_string_equal(s->caller_ua, "");
	assert_true(current_stream(0)->party[SIDE_CALLEE].has_sdp);
	assert_false(current_stream(0)->party[SIDE_CALLER].has_sdp);
	assert_true(s->start_time == 0);
	set_time(1);
	expect_ports(REINVITE(101, A_AUDIO), "198.18.0.50 40002");
	assert_string_equal(s->caller_ua, UA_A);
	assert_true(s->start_time == T0 + 1);
	assert_string_equal(current_stream(0)->party[SIDE_CALLER].sdp_ip, "10.0.0.23");
	assert_int_equal(count_events('P'), 0);
}

/* doc/relay-sessions.md §6: the address is the local address of the side returned (or advertised_ip). */
static void test_reply_address_per_side(void **state)
{
	split_sides = true;
	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "203.0.113.5 40002 40006");
	assert_int_equal(current_stream(0)->party[SIDE_CALLEE].local_ip.s_addr, other_ip.s_addr);
	expect_ports(OK(101, B_AUDIO "," B_VIDEO), "198.18.0.50 40000 40004");
	expect_ports(B_INVITE(1, B_AUDIO "," B_VIDEO), "198.18.0.50 40000 40004");
	expect_ports(A_OK(1, A_AUDIO "," A_VIDEO), "203.0.113.5 40002 40006");

	/* the first stream's address even when its port is 0 */
	expect_ports(msg("request", "other-tag", NULL, 5, UA_A, "audio:10.0.0.23:0:sendrecv:ice=no," A_VIDEO),
		     "203.0.113.5 0 40010");
}

static void test_reply_advertised_ip(void **state)
{
	sessions_free(table, &now);
	make_table("192.0.2.1");
	split_sides = true;
	expect_ports(INVITE(101, A_AUDIO), "192.0.2.1 40002");
	expect_ports(OK(101, B_AUDIO), "192.0.2.1 40000");
}

/* ---- re-offers and generations ------------------------------------------- */

/* update 4 / doc/relay-sessions.md §4: a re-offer with a changed port gets a new stream; the old
 * one lives until the answer.
 */
static void test_reoffer_new_generation(void **state)
{
	struct session *s;
	struct stream *audio, *video, *audio2;

	establish_av();
	s = session();
	audio = current_stream(0);
	video = current_stream(1);
	set_time(10);
	expect_ports(REINVITE(102, "audio:10.0.0.23:49180:sendrecv:ice=no," A_VIDEO), "198.18.0.50 40010 40006");
	assert_int_equal(s->generation_count, 2);
	audio2 = current_stream(0);
	assert_ptr_not_equal(audio2, audio);
	assert_ptr_equal(current_stream(1), video);
	assert_ptr_equal(session_generation(s, 1)->streams[0], audio);
	assert_int_equal(audio2->party[SIDE_CALLER].rtp_port, 40008);
	assert_true(audio->alive);
	assert_true(audio2->created_at == T0 + 10);
	assert_true(audio2->answered_at == 0);
	assert_int_equal(s->stream_count, 3);

	/* the old generation's reply still works (a late retransmission) */
	expect_ports(OK(101, B_AUDIO "," B_VIDEO), "198.18.0.50 40000 40004");
	assert_true(audio->alive);
	assert_true(audio2->answered_at == 0);

	set_time(11);
	expect_ports(OK(102, B_AUDIO "," B_VIDEO), "198.18.0.50 40008 40004");
	assert_false(audio->alive);
	assert_string_equal(status(audio), "closed");
	assert_true(audio->ended_at == T0 + 11);
	assert_true(audio2->answered_at == T0 + 11);
	assert_true(video->answered_at == T0 + 2);
	assert_true(s->start_time == T0 + 2);
	assert_int_equal(count_stream_events('R', audio), 2);

	/* a re-offer of the audio only: the video lives until the answer, then closes */
	set_time(20);
	expect_ports(REINVITE(103, "audio:10.0.0.23:49180:sendrecv:ice=no"), "198.18.0.50 40010");
	assert_true(video->alive);
	assert_ptr_equal(current_stream(0), audio2);
	expect_ports(OK(103, B_AUDIO), "198.18.0.50 40008");
	assert_false(video->alive);
	assert_string_equal(status(video), "closed");
	assert_true(audio2->alive);
	assert_int_equal(s->generation_count, 3);
}

/* doc/relay-sessions.md §4 step 3: a second re-offer before the answer closes what the first one
 * left of the older generation.
 */
static void test_reoffer_previous_generation_cleanup(void **state)
{
	struct session *s;
	struct stream *a1, *a2, *a3;

	establish_audio();
	s = session();
	a1 = current_stream(0);
	expect_ports(REINVITE(102, "audio:10.0.0.23:49180:sendrecv:ice=no"), "198.18.0.50 40006");
	a2 = current_stream(0);
	assert_true(a1->alive && a2->alive);
	expect_ports(REINVITE(103, "audio:10.0.0.23:49190:sendrecv:ice=no"), "198.18.0.50 40010");
	a3 = current_stream(0);
	assert_false(a1->alive);
	assert_string_equal(status(a1), "closed");
	assert_true(a2->alive); /* the old current one waits for the answer */
	assert_true(a3->alive);
	expect_ports(OK(103, B_AUDIO), "198.18.0.50 40008");
	assert_false(a2->alive);
	assert_string_equal(status(a2), "closed");
	assert_true(a3->alive);
	assert_int_equal(s->generation_count, 3);
	assert_true(a2->answered_at == 0);
}

/* update 2: the callee drops the video in a re-INVITE. */
static void test_removed_stream(void **state)
{
	struct stream *audio, *video;

	establish_av();
	audio = current_stream(0);
	video = current_stream(1);
	expect_ports(B_INVITE(1, B_AUDIO), "198.18.0.50 40000");
	assert_true(video->alive);
	expect_ports(A_OK(1, A_AUDIO), "198.18.0.50 40002");
	assert_string_equal(status(video), "closed");
	assert_true(audio->alive);
	assert_int_equal(audio->party[SIDE_CALLER].rtp_port, 40000);
}

/* update 3: video; video + 2 audio; only the 2nd audio. */
static void test_added_streams(void **state)
{
	struct session *s;
	struct stream *video, *audio1, *audio2;

	expect_ports(INVITE(101, A_VIDEO), "198.18.0.50 40002");
	expect_ports(OK(101, B_VIDEO), "198.18.0.50 40000");
	s = session();
	video = current_stream(0);
	expect_ports(REINVITE(102, A_VIDEO "," A_AUDIO ",audio:10.0.0.23:49172:sendrecv:ice=no"),
		     "198.18.0.50 40002 40006 40010");
	assert_ptr_equal(current_stream(0), video);
	audio1 = current_stream(1);
	audio2 = current_stream(2);
	assert_string_equal(status(audio1), "active");
	expect_ports(OK(102, B_VIDEO "," B_AUDIO ",audio:192.168.5.9:30004:sendrecv:ice=no"),
		     "198.18.0.50 40000 40004 40008");
	expect_ports(REINVITE(103, "audio:10.0.0.23:49172:sendrecv:ice=no"), "198.18.0.50 40010");
	assert_ptr_equal(current_stream(0), audio2);
	expect_ports(OK(103, "audio:192.168.5.9:30004:sendrecv:ice=no"), "198.18.0.50 40008");
	assert_false(video->alive);
	assert_false(audio1->alive);
	assert_true(audio2->alive);
	assert_int_equal(s->stream_count, 3);
}

/* doc/relay-sessions.md §4 Ambiguity: two identical entries do not share one old stream. */
static void test_duplicate_entries(void **state)
{
	struct stream *audio;

	establish_audio();
	audio = current_stream(0);
	expect_ports(REINVITE(102, A_AUDIO "," A_AUDIO), "198.18.0.50 40002 40006");
	assert_ptr_equal(current_stream(0), audio);
	assert_ptr_not_equal(current_stream(1), audio);
	assert_int_equal(session()->stream_count, 2);
}

/* ---- port 0 ---------------------------------------------------------------- */

/* setup 7: a stream offered with port 0 is closed from the start. */
static void test_port0_in_offer(void **state)
{
	struct stream *audio;

	expect_ports(INVITE(101, "audio:10.0.0.23:0:sendrecv:ice=no"), "198.18.0.50 0");
	audio = current_stream(0);
	assert_false(audio->alive);
	assert_string_equal(status(audio), "closed");
	assert_false(audio->party[SIDE_CALLER].has_ports);
	assert_int_equal(bound_count, 0);
	assert_int_equal(count_events('A') + count_events('C'), 0);
	expect_ports(OK(101, "audio:192.168.5.9:0:sendrecv:ice=no"), "198.18.0.50 0");
	assert_string_equal(status(audio), "closed");
	assert_true(audio->answered_at != 0);
}

/* update 6: video disabled by port 0 in a re-offer, then re-enabled. */
static void test_port0_in_reoffer(void **state)
{
	struct stream *video, *video2;

	establish_av();
	video = current_stream(1);
	set_time(5);
	expect_ports(REINVITE(102, A_AUDIO ",video:10.0.0.23:0:sendrecv:ice=no"), "198.18.0.50 40002 0");
	assert_ptr_equal(current_stream(1), video); /* same stream, slot kept */
	assert_false(video->alive);
	assert_string_equal(status(video), "closed");
	assert_true(video->ended_at == T0 + 5);
	assert_int_equal(count_stream_events('R', video), 2);
	assert_int_equal(bound_count, 2);
	expect_ports(OK(102, B_AUDIO ",video:192.168.5.9:0:sendrecv:ice=no"), "198.18.0.50 40000 0");
	assert_string_equal(status(video), "closed"); /* not re-closed as rejected */
	expect_ports(REINVITE(103, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40010");
	video2 = current_stream(1);
	assert_ptr_not_equal(video2, video);
	assert_true(video2->alive);
	expect_ports(OK(103, B_AUDIO "," B_VIDEO), "198.18.0.50 40000 40008");
}

/* setup 6: answer ports 0,0,x; then fewer entries than streams. */
static void test_port0_and_missing_in_answer(void **state)
{
	struct session *s;

	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO ",audio:10.0.0.23:49172:sendrecv:ice=no"),
		     "198.18.0.50 40002 40006 40010");
	expect_ports(OK(101, "audio:192.168.5.9:0:sendrecv:ice=no,video:192.168.5.9:0:sendrecv:ice=no,"
			     "audio:192.168.5.9:30004:sendrecv:ice=no"),
		     "198.18.0.50 0 0 40008");
	s = session();
	assert_string_equal(status(current_stream(0)), "rejected");
	assert_string_equal(status(current_stream(1)), "rejected");
	assert_string_equal(status(current_stream(2)), "active");
	assert_int_equal(bound_count, 2);

	/* another call: the answer has one entry for three streams */
	expect_ports(msg("request", "tag-2", NULL, 1, UA_A, A_AUDIO "," A_VIDEO "," A_AUDIO),
		     "198.18.0.50 40014 40018 40022");
	expect_ports(msg("reply", "tag-2", "tag-3", 1, UA_B, B_AUDIO), "198.18.0.50 40012 0 0");
	s = sessions_find(table, CALL, "tag-2", "");
	assert_string_equal(status(session_generation(s, 0)->streams[0]), "active");
	assert_string_equal(status(session_generation(s, 0)->streams[1]), "rejected");
	assert_string_equal(status(session_generation(s, 0)->streams[2]), "rejected");
	assert_true(session_generation(s, 0)->streams[2]->answered_at != 0);
}

/* doc/relay-sessions.md §5 step 3: a 200 OK without SDP after SDP in an 18x changes no stream. */
static void test_answer_without_media(void **state)
{
	struct session *s;

	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	set_time(3);
	expect_ports(OK(101, NULL), "198.18.0.50 40000 40004");
	s = session();
	assert_string_equal(s->to_tag, TAG_B);
	assert_string_equal(s->callee_ua, UA_B);
	assert_true(s->start_time == T0 + 3);
	assert_true(current_stream(1)->answered_at == T0 + 3);
	assert_string_equal(status(current_stream(0)), "active");
	assert_string_equal(status(current_stream(1)), "active");
	assert_false(current_stream(0)->party[SIDE_CALLEE].has_sdp);
	/* also without a to_tag */
	expect_ports(msg("reply", TAG_A, NULL, 101, UA_B, NULL), "198.18.0.50 40000 40004");
	assert_true(current_stream(1)->alive);
}

/* ---- hold ---------------------------------------------------------------- */

static void test_hold_null_address(void **state)
{
	struct stream *audio;

	establish_audio();
	audio = current_stream(0);
	set_time(10);
	expect_ports(REINVITE(102, "audio:0.0.0.0:49170:sendrecv:ice=no"), "198.18.0.50 40002");
	assert_ptr_equal(current_stream(0), audio);
	assert_string_equal(status(audio), "on hold");
	assert_true(audio->alive);
	assert_true(audio->party[SIDE_CALLER].on_hold);
	assert_string_equal(audio->party[SIDE_CALLER].sdp_ip, "10.0.0.23"); /* not updated on reuse */
	assert_int_equal(count_stream_events('H', audio), 1);
	expect_ports(OK(102, "audio:192.168.5.9:30000:recvonly:ice=no"), "198.18.0.50 40000");
	assert_string_equal(status(audio), "on hold");
	assert_false(audio->party[SIDE_CALLEE].on_hold); /* recvonly is not hold */
	assert_int_equal(count_stream_events('H', audio), 1);
	assert_int_equal(count_events('P'), 0);
	/* back */
	expect_ports(REINVITE(103, A_AUDIO), "198.18.0.50 40002");
	assert_string_equal(status(audio), "active");
	assert_int_equal(count_stream_events('H', audio), 2);
	expect_ports(OK(103, B_AUDIO), "198.18.0.50 40000");
	assert_string_equal(status(audio), "active");
	assert_int_equal(count_stream_events('H', audio), 2);
	assert_int_equal(bound_count, 2);
}

static void test_hold_sendonly_inactive(void **state)
{
	struct stream *audio;

	establish_audio();
	audio = current_stream(0);
	expect_ports(REINVITE(102, "audio:10.0.0.23:49170:sendonly:ice=no"), "198.18.0.50 40002");
	assert_string_equal(status(audio), "on hold");
	expect_ports(OK(102, "audio:192.168.5.9:30000:recvonly:ice=no"), "198.18.0.50 40000");
	expect_ports(REINVITE(103, "audio:10.0.0.23:49170:inactive:ice=no"), "198.18.0.50 40002");
	assert_string_equal(status(audio), "on hold");
	assert_int_equal(count_stream_events('H', audio), 1); /* still held: no transition */
	expect_ports(OK(103, "audio:192.168.5.9:30000:inactive:ice=no"), "198.18.0.50 40000");
	/* the caller resumes, the callee still holds (inactive answer) */
	expect_ports(REINVITE(104, "audio:10.0.0.23:49170:recvonly:ice=no"), "198.18.0.50 40002");
	assert_false(audio->party[SIDE_CALLER].on_hold);
	assert_string_equal(status(audio), "on hold");
	expect_ports(OK(104, B_AUDIO), "198.18.0.50 40000");
	assert_string_equal(status(audio), "active");
	assert_int_equal(count_stream_events('H', audio), 2);
	assert_ptr_equal(current_stream(0), audio);
	assert_int_equal(session()->stream_count, 1);
}

/* A new stream offered on hold starts `on hold`, without a hold_changed. */
static void test_hold_in_first_offer(void **state)
{
	expect_ports(INVITE(101, "audio:10.0.0.23:49170:sendonly:ice=no"), "198.18.0.50 40002");
	assert_string_equal(status(current_stream(0)), "on hold");
	assert_int_equal(count_events('H'), 0);
	expect_ports(OK(101, "audio:192.168.5.9:30000:recvonly:ice=no"), "198.18.0.50 40000");
	assert_string_equal(status(current_stream(0)), "on hold");
}

/* hold 2: the callee answers with 0.0.0.0 and the same port: on hold, no reset. */
static void test_hold_by_answer(void **state)
{
	struct stream *audio;

	establish_audio();
	audio = current_stream(0);
	expect_ports(REINVITE(102, "audio:10.0.0.23:49170:sendonly:ice=no"), "198.18.0.50 40002");
	expect_ports(OK(102, "audio:0.0.0.0:30000:sendrecv:ice=no"), "198.18.0.50 40000");
	assert_true(audio->party[SIDE_CALLEE].on_hold);
	assert_string_equal(audio->party[SIDE_CALLEE].sdp_ip, "192.168.5.9");
	assert_int_equal(count_events('P'), 0);
	expect_ports(REINVITE(103, A_AUDIO), "198.18.0.50 40002");
	assert_string_equal(status(audio), "on hold"); /* the callee still holds */
	expect_ports(OK(103, B_AUDIO), "198.18.0.50 40000");
	assert_string_equal(status(audio), "active");
	assert_int_equal(count_events('P'), 0);
	assert_int_equal(count_stream_events('H', audio), 2);
}

/* ---- answers changing addresses ------------------------------------------ */

/* update 1 / update 5: a 183, then a 200 from elsewhere. */
static void test_answer_resets_party(void **state)
{
	struct stream *audio;

	expect_ports(INVITE(101, A_AUDIO), "198.18.0.50 40002");
	audio = current_stream(0);
	expect_ports(msg("reply", TAG_A, "gw1", 101, "Gateway", B_AUDIO), "198.18.0.50 40000");
	assert_int_equal(count_events('P'), 0);
	assert_string_equal(session()->to_tag, "gw1"); /* set once */
	/* a second 183 from another gateway: new port */
	expect_ports(msg("reply", TAG_A, "gw2", 101, "Gateway", "audio:192.168.5.9:30010:sendrecv:ice=no"),
		     "198.18.0.50 40000");
	assert_int_equal(count_stream_events('P', audio), 1);
	assert_int_equal(events[n_events - 1].side, SIDE_CALLEE);
	assert_int_equal(audio->party[SIDE_CALLEE].sdp_port, 30010);
	/* the 200 from another address, same port */
	expect_ports(OK(101, "audio:198.18.2.9:30010:sendrecv:ice=no"), "198.18.0.50 40000");
	assert_int_equal(count_stream_events('P', audio), 2);
	assert_string_equal(audio->party[SIDE_CALLEE].sdp_ip, "198.18.2.9");
	/* the ACK repeats the caller's SDP: nothing to reset */
	expect_ports(REINVITE(101, A_AUDIO), "198.18.0.50 40002");
	/* the same answer again: no reset */
	expect_ports(OK(101, "audio:198.18.2.9:30010:sendrecv:ice=no"), "198.18.0.50 40000");
	assert_int_equal(count_events('P'), 2);
	assert_string_equal(session()->to_tag, "gw1");
	assert_string_equal(session()->callee_ua, "Gateway");
	/* relay ports never changed */
	assert_int_equal(audio->party[SIDE_CALLER].rtp_port, 40000);
	assert_int_equal(audio->party[SIDE_CALLEE].rtp_port, 40002);
	assert_int_equal(session()->stream_count, 1);
	assert_true(audio->alive);
}

/* ---- CSeq --------------------------------------------------------------------- */

static void test_cseq_rules(void **state)
{
	struct session *s;
	struct stream *audio;
	unsigned before;

	establish_audio();
	s = session();
	audio = current_stream(0);
	expect_ports(REINVITE(102, "audio:10.0.0.23:49180:sendrecv:ice=no"), "198.18.0.50 40006");
	expect_ports(OK(102, B_AUDIO), "198.18.0.50 40004");
	before = n_events;
	/* stale: an old 200 OK retransmitted, an old INVITE */
	expect_ports(OK(101, "audio:192.168.5.9:30010:sendrecv:ice=no"), "198.18.0.50 0");
	expect_ports(INVITE(101, "audio:10.0.0.23:49190:sendrecv:ice=no"), "198.18.0.50 0");
	assert_int_equal(n_events, before);
	assert_int_equal(s->generation_count, 2);
	assert_int_equal(s->cseq[SIDE_CALLER], 102);
	assert_int_equal(current_stream(0)->party[SIDE_CALLEE].sdp_port, 30000);
	assert_false(audio->alive);
	/* stale with no generation of that CSeq */
	expect_error(REINVITE(50, A_AUDIO));
	assert_int_equal(s->generation_count, 2);
	/* a callee request is an offer even with a small CSeq */
	expect_ports(B_INVITE(1, B_AUDIO), "198.18.0.50 40004");
	assert_int_equal(s->generation_count, 3);
	assert_int_equal(s->cseq[SIDE_CALLER], 102);
	assert_int_equal(s->cseq[SIDE_CALLEE], 1);
	expect_ports(A_OK(1, "audio:10.0.0.23:49180:sendrecv:ice=no"), "198.18.0.50 40006");
	/* the caller's slot still orders first: (102, 1) < (103, 0) */
	expect_ports(REINVITE(103, "audio:10.0.0.23:49180:sendrecv:ice=no"), "198.18.0.50 40006");
	assert_int_equal(s->generation_count, 4);
	assert_int_equal(s->cseq[SIDE_CALLER], 103);
	assert_int_equal(s->cseq[SIDE_CALLEE], 1);
	/* an old callee CSeq is stale: the newest generation with callee CSeq 0 answers */
	expect_ports(B_INVITE(0, "audio:192.168.5.9:30020:sendrecv:ice=no"), "198.18.0.50 40004");
	assert_int_equal(current_stream(0)->party[SIDE_CALLEE].sdp_port, 30000);
	assert_int_equal(s->generation_count, 4);
	assert_int_equal(n_events, before);
}

/* An offer without media: error, nothing changes. */
static void test_offer_without_media(void **state)
{
	struct session *s;

	establish_audio();
	s = session();
	expect_error(REINVITE(102, NULL));
	assert_int_equal(s->generation_count, 1);
	assert_int_equal(s->cseq[SIDE_CALLER], 101);
	expect_ports(OK(101, B_AUDIO), "198.18.0.50 40000");
}

/* doc/relay-sessions.md §3.1 items 4 and 5. */
static void test_to_tag_and_user_agents(void **state)
{
	struct session *s;

	expect_ports(INVITE(101, A_AUDIO), "198.18.0.50 40002");
	s = session();
	/* a caller-slot message without to_tag, then ones with */
	expect_ports(msg("reply", TAG_A, NULL, 101, "First UA", NULL), "198.18.0.50 40000");
	assert_string_equal(s->to_tag, "");
	assert_string_equal(s->callee_ua, "First UA");
	expect_ports(msg("reply", TAG_A, "tt1", 101, UA_B, NULL), "198.18.0.50 40000");
	assert_string_equal(s->to_tag, "tt1");
	assert_string_equal(s->callee_ua, "First UA"); /* the first one stays */
	expect_ports(msg("reply", TAG_A, "tt2", 101, UA_B, NULL), "198.18.0.50 40000");
	assert_string_equal(s->to_tag, "tt1");
	/* a callee request carries the caller's tag as to_tag: not recorded */
	expect_ports(msg("request", "tt1", TAG_A, 1, UA_B, B_AUDIO), "198.18.0.50 40004");
	assert_string_equal(s->to_tag, "tt1");
	assert_string_equal(s->caller_ua, UA_A);
	assert_string_equal(s->callee_ua, "First UA");
	/* found by the to_tag too (tags swapped) */
	assert_ptr_equal(sessions_find(table, CALL, "tt1", TAG_A), s);
	assert_ptr_equal(sessions_find(table, CALL, "nothing", TAG_A), s);
	assert_null(sessions_find(table, CALL, "nothing", ""));
	assert_null(sessions_find(table, "other-call", TAG_A, ""));
}

/* ---- errors leave everything unchanged ------------------------------------ */

static void fill_update(struct request *r, const char *from_tag, unsigned cseq, unsigned streams)
{
	memset(r, 0, sizeof(*r));
	r->command = COMMAND_UPDATE;
	strcpy(r->seq, "9");
	strcpy(r->call_id, CALL);
	strcpy(r->from_tag, from_tag);
	strcpy(r->from_uri, "alice@example.org");
	strcpy(r->to_uri, "bob@example.net");
	strcpy(r->user_agent, UA_A);
	r->has_cseq = true;
	r->cseq = cseq;
	r->has_type = true;
	r->type = MESSAGE_REQUEST;
	r->has_signaling_ip = true;
	inet_pton(AF_INET, "198.18.1.7", &r->signaling_source);
	r->has_media = streams > 0;
	r->stream_count = streams;
	for (unsigned i = 0; i < streams && i < REQUEST_MAX_STREAMS; i++) {
		strcpy(r->streams[i].type, "audio");
		snprintf(r->streams[i].ip, sizeof(r->streams[i].ip), "10.0.0.23");
		r->streams[i].port = 50000 + 2 * i;
	}
}

static void test_missing_headers(void **state)
{
	static const size_t offsets[] = {
		offsetof(struct request, call_id), offsetof(struct request, from_tag),
		offsetof(struct request, from_uri), offsetof(struct request, to_uri),
		offsetof(struct request, user_agent),
	};
	struct request r;

	for (unsigned i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		fill_update(&r, TAG_A, 101, 1);
		((char *)&r)[offsets[i]] = '\0';
		expect_error(&r);
	}
	fill_update(&r, TAG_A, 101, 1);
	r.has_cseq = false;
	expect_error(&r);
	fill_update(&r, TAG_A, 101, 1);
	r.has_type = false;
	expect_error(&r);
	assert_int_equal(sessions_count(table), 0);
	assert_int_equal(n_events, 0);
	/* a reply or a request without media for an unknown session */
	expect_error(OK(101, NULL));
	expect_error(INVITE(101, NULL));
	assert_int_equal(sessions_count(table), 0);
	/* signaling_ip is optional for us (doc/relay-sessions.md §17, item 7) */
	fill_update(&r, TAG_A, 101, 1);
	r.has_signaling_ip = false;
	r.signaling_source.s_addr = 0;
	expect_ports(&r, "198.18.0.50 40002");
}

/* Malformed media: nothing created, nothing changed. */
static void test_malformed_media(void **state)
{
	struct request r;
	struct session *s;
	struct stream *audio;
	unsigned free_before, events_before;

	fill_update(&r, TAG_A, 101, 0);
	r.has_media = true; /* a media header with no stream */
	expect_error(&r);
	fill_update(&r, TAG_A, 101, REQUEST_MAX_STREAMS + 1);
	expect_error(&r);
	fill_update(&r, TAG_A, 101, 2);
	r.streams[1].type[0] = '\0';
	expect_error(&r);
	fill_update(&r, TAG_A, 101, 2);
	r.streams[0].ip[0] = '\0';
	expect_error(&r);
	assert_int_equal(sessions_count(table), 0);
	assert_int_equal(n_events, 0);
	assert_int_equal(bound_count, 0);

	establish_audio();
	s = session();
	audio = current_stream(0);
	free_before = port_pool_free_count(pool);
	events_before = n_events;
	fill_update(&r, TAG_A, 102, 0);
	r.has_media = true;
	strcpy(r.to_tag, TAG_B);
	expect_error(&r);
	fill_update(&r, TAG_A, 102, 3);
	strcpy(r.to_tag, TAG_B);
	r.streams[2].type[0] = '\0';
	expect_error(&r);
	fill_update(&r, TAG_A, 102, REQUEST_MAX_STREAMS + 5);
	strcpy(r.to_tag, TAG_B);
	expect_error(&r);
	/* an answer whose media type differs, in its second entry */
	expect_ports(REINVITE(102, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	events_before = n_events;
	free_before = port_pool_free_count(pool);
	set_time(50);
	expect_error(OK(102, "audio:192.168.5.9:0:sendrecv:ice=no,audio:192.168.5.9:30002:sendrecv:ice=no"));
	assert_true(audio->alive);
	assert_true(current_stream(1)->alive);
	assert_true(current_stream(1)->answered_at == 0);
	assert_false(current_stream(1)->party[SIDE_CALLEE].has_sdp);
	assert_int_equal(n_events, events_before);
	assert_int_equal(port_pool_free_count(pool), free_before);
	assert_int_equal(s->generation_count, 2);
	assert_int_equal(s->cseq[SIDE_CALLER], 102);
	assert_string_equal(s->to_tag, TAG_B);
	expect_ports(OK(102, B_AUDIO "," B_VIDEO), "198.18.0.50 40000 40004");
}

/* doc/relay-sessions.md §2: not enough ports → error, nothing allocated, nothing changed. */
static void test_port_exhaustion(void **state)
{
	struct session *s;
	struct stream *audio;

	/* 6 pairs: one audio call takes 2 */
	establish_audio();
	s = session();
	audio = current_stream(0);
	assert_int_equal(port_pool_free_count(pool), 4);
	/* a new session wanting 3 streams (6 pairs) */
	expect_error(msg("request", "tag-2", NULL, 1, UA_A, A_AUDIO "," A_VIDEO "," A_AUDIO));
	assert_int_equal(sessions_count(table), 1);
	assert_int_equal(bound_count, 2);
	assert_int_equal(port_pool_free_count(pool), 4);
	assert_int_equal(n_events, 2);
	/* a re-offer adding three streams on the existing session */
	expect_error(REINVITE(102, A_AUDIO "," A_VIDEO ",video:10.0.0.23:51374:sendrecv:ice=no,"
				"video:10.0.0.23:51376:sendrecv:ice=no"));
	assert_int_equal(s->generation_count, 1);
	assert_int_equal(s->stream_count, 1);
	assert_int_equal(s->cseq[SIDE_CALLER], 101);
	assert_int_equal(n_events, 2);
	assert_true(audio->alive);
	/* one added stream fits, and ports are the next ones in the FIFO */
	expect_ports(REINVITE(102, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	expect_ports(OK(102, B_AUDIO "," B_VIDEO), "198.18.0.50 40000 40004");
	/* two pairs left: a second call with two streams gets error, one stream fits */
	expect_error(msg("request", "tag-2", NULL, 1, UA_A, A_AUDIO "," A_VIDEO));
	assert_int_equal(sessions_count(table), 1);
	expect_ports(msg("request", "tag-2", NULL, 1, UA_A, A_AUDIO), "198.18.0.50 40010");
	assert_int_equal(port_pool_free_count(pool), 0);
	expect_error(msg("request", "tag-3", NULL, 1, UA_A, A_AUDIO));
	assert_int_equal(sessions_count(table), 2);
}

/* Pairs released are quarantined: a new call right after gets error. */
static void test_released_pairs_quarantined(void **state)
{
	struct session *s;

	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO "," A_AUDIO), "198.18.0.50 40002 40006 40010");
	s = sessions_remove(table, OK(101, NULL), &now);
	assert_non_null(s);
	drop_session(s);
	assert_int_equal(bound_count, 0);
	set_time(1);
	expect_error(INVITE(101, A_AUDIO));
	set_time(10);
	expect_ports(INVITE(101, A_AUDIO), "198.18.0.50 40002");
}

/* ---- remove, expiry, halting ------------------------------------------------- */

static void test_remove(void **state)
{
	struct session *s;
	struct stream *audio, *video;
	struct request bye;

	establish_av();
	audio = current_stream(0);
	video = current_stream(1);
	set_time(62);
	/* unknown session, missing key */
	fill_update(&bye, "no-such-tag", 0, 0);
	bye.command = COMMAND_REMOVE;
	assert_null(sessions_remove(table, &bye, &now));
	fill_update(&bye, TAG_A, 0, 0);
	bye.command = COMMAND_REMOVE;
	bye.call_id[0] = '\0';
	assert_null(sessions_remove(table, &bye, &now));
	assert_int_equal(sessions_count(table), 1);
	/* a BYE from the callee: tags swapped */
	fill_update(&bye, TAG_B, 0, 0);
	bye.command = COMMAND_REMOVE;
	strcpy(bye.to_tag, TAG_A);
	s = sessions_remove(table, &bye, &now);
	assert_non_null(s);
	assert_int_equal(sessions_count(table), 0);
	assert_null(sessions_first(table));
	assert_null(session());
	assert_true(s->end_time == T0 + 62);
	assert_string_equal(status(audio), "closed");
	assert_string_equal(status(video), "closed");
	assert_true(audio->ended_at == T0 + 62);
	assert_int_equal(audio->timeout_wait, 0);
	assert_int_equal(bound_count, 0);
	assert_int_equal(count_events('R'), 4);
	assert_int_equal(count_events('C'), 2);
	assert_int_equal(port_pool_free_count(pool), POOL_PAIRS);
	/* the statistics survive: ports, addresses */
	assert_int_equal(audio->party[SIDE_CALLEE].rtp_port, 40002);
	assert_null(sessions_remove(table, &bye, &now));
	drop_session(s);
	/* the same call can start again */
	expect_ports(INVITE(101, A_AUDIO), "198.18.0.50 40010");
}

/* Several sessions: the table links stay right through removals. */
static void test_many_sessions(void **state)
{
	char tag[32];
	unsigned count = 0;

	sessions_free(table, &now);
	port_pool_free(pool);
	{
		static const struct port_binder binder = { fake_bind, fake_unbind, NULL };
		struct mp_port_range range = { 20000, 20000 + 4 * 1200 };

		pool = port_pool_new(&range, 0, &binder);
	}
	make_table(NULL);
	for (unsigned i = 0; i < 1200; i++) {
		snprintf(tag, sizeof(tag), "tag-%u", i);
		assert_int_equal(update(msg("request", tag, NULL, 1, UA_A, A_AUDIO)), UPDATE_PORTS);
	}
	assert_int_equal(sessions_count(table), 1200);
	for (unsigned i = 0; i < 1200; i += 2) {
		struct request bye;
		struct session *s;

		snprintf(tag, sizeof(tag), "tag-%u", i);
		fill_update(&bye, tag, 0, 0);
		bye.command = COMMAND_REMOVE;
		s = sessions_remove(table, &bye, &now);
		assert_non_null(s);
		assert_string_equal(s->from_tag, tag);
		drop_session(s);
	}
	assert_int_equal(sessions_count(table), 600);
	for (unsigned i = 0; i < 1200; i++) {
		snprintf(tag, sizeof(tag), "tag-%u", i);
		if (i % 2)
			assert_non_null(sessions_find(table, CALL, tag, ""));
		else
			assert_null(sessions_find(table, CALL, tag, ""));
	}
	for (struct session *s = sessions_first(table); s; s = s->next) {
		snprintf(tag, sizeof(tag), "tag-%u", 2 * count + 1);
		assert_string_equal(s->from_tag, tag); /* creation order */
		count++;
	}
	assert_int_equal(count, 600);
	assert_int_equal(bound_count, 2 * 600);
}

/* setup 1: never answered, the no-traffic timers end it. */
static void test_expiry_unanswered(void **state)
{
	struct session *s;
	struct stream *audio, *video;

	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	s = session();
	audio = current_stream(0);
	video = current_stream(1);
	set_time(90);
	assert_null(sessions_stream_expired(table, audio, STREAM_NO_TRAFFIC_TIMEOUT, 90, &now));
	assert_string_equal(status(audio), "no-traffic timeout");
	assert_int_equal(audio->timeout_wait, 90);
	assert_true(audio->ended_at == T0 + 90);
	assert_int_equal(sessions_count(table), 1);
	assert_int_equal(bound_count, 2);
	/* a closed stream does not expire again */
	assert_null(sessions_stream_expired(table, audio, STREAM_NO_TRAFFIC_TIMEOUT, 90, &now));
	set_time(91);
	assert_ptr_equal(sessions_stream_expired(table, video, STREAM_NO_TRAFFIC_TIMEOUT, 90, &now), s);
	assert_int_equal(sessions_count(table), 0);
	assert_true(s->end_time == T0 + 91);
	assert_true(s->start_time == 0);
	assert_string_equal(status(video), "no-traffic timeout");
	assert_int_equal(bound_count, 0);
	drop_session(s);
}

/* doc/relay-sessions.md §10.5: the previous generation keeps the session up while a re-offer is pending. */
static void test_expiry_with_pending_reoffer(void **state)
{
	struct session *s;
	struct stream *a1, *a2;

	establish_audio();
	s = session();
	a1 = current_stream(0);
	expect_ports(REINVITE(102, "audio:10.0.0.23:49180:sendrecv:ice=no"), "198.18.0.50 40006");
	a2 = current_stream(0);
	set_time(100);
	assert_null(sessions_stream_expired(table, a2, STREAM_NO_TRAFFIC_TIMEOUT, 90, &now));
	assert_string_equal(status(a2), "no-traffic timeout");
	assert_ptr_equal(sessions_stream_expired(table, a1, STREAM_CONNTRACK_TIMEOUT, 120, &now), s);
	assert_string_equal(status(a1), "conntrack timeout");
	assert_int_equal(a1->timeout_wait, 120);
	assert_true(s->end_time == T0 + 100);
	drop_session(s);
}

/* A stream closed by SDP does not keep the session: expiry of the other one ends it. */
static void test_expiry_after_sdp_close(void **state)
{
	struct session *s;
	struct stream *audio;

	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	expect_ports(OK(101, B_AUDIO ",video:192.168.5.9:0:sendrecv:ice=no"), "198.18.0.50 40000 0");
	s = session();
	audio = current_stream(0);
	set_time(7300);
	assert_ptr_equal(sessions_stream_expired(table, audio, STREAM_ON_HOLD_TIMEOUT, 7200, &now), s);
	assert_string_equal(status(audio), "on hold timeout");
	assert_int_equal(audio->timeout_wait, 7200);
	assert_string_equal(status(session_generation(s, 0)->streams[1]), "rejected");
	drop_session(s);
}

/* doc/relay-sessions.md §10.3: both parties ICE → `unselected ICE candidate`, keeping the timeout. */
static void test_expiry_ice(void **state)
{
	struct session *s;
	struct stream *audio;

	expect_ports(INVITE(101, "audio:10.0.0.23:49170:sendrecv:ice=yes"), "198.18.0.50 40002");
	expect_ports(OK(101, "audio:192.168.5.9:30000:sendrecv:ice=yes"), "198.18.0.50 40000");
	s = session();
	audio = current_stream(0);
	assert_true(audio->party[SIDE_CALLER].ice && audio->party[SIDE_CALLEE].ice);
	assert_ptr_equal(sessions_stream_expired(table, audio, STREAM_NO_TRAFFIC_TIMEOUT, 90, &now), s);
	assert_string_equal(status(audio), "unselected ICE candidate");
	assert_int_equal(audio->timeout_wait, 90);
	drop_session(s);

	/* one side only: a plain timeout */
	expect_ports(INVITE(101, "audio:10.0.0.23:49170:sendrecv:ice=yes"), "198.18.0.50 40006");
	expect_ports(OK(101, "audio:192.168.5.9:30000:sendrecv:ice=no"), "198.18.0.50 40004");
	s = session();
	audio = current_stream(0);
	assert_ptr_equal(sessions_stream_expired(table, audio, STREAM_CONNTRACK_TIMEOUT, 120, &now), s);
	assert_string_equal(status(audio), "conntrack timeout");
	drop_session(s);
}

/* doc/relay-sessions.md §11.2: a re-offer reusing a stream keeps the offering party's ICE flag;
 * every answer sets the answering party's.
 */
static void test_ice_flags(void **state)
{
	struct session *s;
	struct stream *audio;

	establish_audio();
	s = session();
	audio = current_stream(0);
	expect_ports(REINVITE(102, "audio:10.0.0.23:49170:sendrecv:ice=yes"), "198.18.0.50 40002");
	assert_ptr_equal(current_stream(0), audio);
	assert_false(audio->party[SIDE_CALLER].ice);
	expect_ports(OK(102, "audio:192.168.5.9:30000:sendrecv:ice=yes"), "198.18.0.50 40000");
	assert_true(audio->party[SIDE_CALLEE].ice);
	expect_ports(OK(102, "audio:192.168.5.9:30000:sendrecv:ice=no"), "198.18.0.50 40000");
	assert_false(audio->party[SIDE_CALLEE].ice);
	expect_ports(OK(102, "audio:192.168.5.9:30000:sendrecv:ice=yes"), "198.18.0.50 40000");
	assert_ptr_equal(sessions_stream_expired(table, audio, STREAM_NO_TRAFFIC_TIMEOUT, 90, &now), s);
	assert_string_equal(status(audio), "no-traffic timeout");
	drop_session(s);
}

/* sessions_close: alive streams become `closed`, the rest keep their status. */
static void test_close(void **state)
{
	struct session *s;

	expect_ports(INVITE(101, A_AUDIO "," A_VIDEO), "198.18.0.50 40002 40006");
	expect_ports(OK(101, B_AUDIO ",video:192.168.5.9:0:sendrecv:ice=no"), "198.18.0.50 40000 0");
	s = session();
	set_time(30);
	sessions_close(table, s, &now);
	assert_int_equal(sessions_count(table), 0);
	assert_string_equal(status(s->streams[0]), "closed");
	assert_string_equal(status(s->streams[1]), "rejected");
	assert_true(s->end_time == T0 + 30);
	assert_int_equal(bound_count, 0);
	drop_session(s);
}

/* During shutdown only messages that would create a session get `halting`. */
static void test_halting(void **state)
{
	struct session *s;

	establish_audio();
	sessions_set_halting(table, true);
	assert_true(sessions_halting(table));
	assert_int_equal(update(msg("request", "tag-2", NULL, 1, UA_A, A_AUDIO)), UPDATE_HALTING);
	assert_string_equal(reply, "halting");
	assert_int_equal(sessions_count(table), 1);
	assert_int_equal(bound_count, 2);
	/* no session would be created: error */
	expect_error(msg("reply", "tag-2", NULL, 1, UA_A, NULL));
	/* the existing session is still served */
	expect_ports(REINVITE(102, "audio:10.0.0.23:49180:sendrecv:ice=no"), "198.18.0.50 40006");
	expect_ports(OK(102, B_AUDIO), "198.18.0.50 40004");
	s = sessions_remove(table, OK(102, NULL), &now);
	assert_non_null(s);
	drop_session(s);
	sessions_set_halting(table, false);
	assert_false(sessions_halting(table));
	expect_ports(msg("request", "tag-2", NULL, 1, UA_A, A_AUDIO), "198.18.0.50 40010");
}

/* signaling_ip and username are taken from the creating update. */
static void test_signaling_addresses(void **state)
{
	struct request r;
	struct session *s;

	fill_update(&r, TAG_A, 101, 1);
	inet_pton(AF_INET, "198.18.2.9", &r.signaling_destination);
	r.has_username = true;
	strcpy(r.username, "alice@example.org");
	expect_ports(&r, "198.18.0.50 40002");
	s = session();
	assert_string_equal(inet_ntoa(s->caller_address), "198.18.1.7");
	assert_string_equal(inet_ntoa(s->destination_address), "198.18.2.9");
	assert_true(s->has_username);
	assert_string_equal(s->username, "alice@example.org");
	/* later updates do not change them */
	r.type = MESSAGE_REPLY;
	strcpy(r.username, "mallory");
	inet_pton(AF_INET, "192.0.2.99", &r.signaling_source);
	expect_ports(&r, "198.18.0.50 40000");
	assert_string_equal(s->username, "alice@example.org");
	assert_string_equal(inet_ntoa(s->caller_address), "198.18.1.7");
}

/* ---- recorders -------------------------------------------------------------- */

static void test_codec_names(void **state)
{
	static const struct {
		unsigned char pt;
		const char *name;
	} cases[] = {
		{ 0, "G711u" }, { 1, "1016" }, { 2, "G721" }, { 3, "GSM" }, { 4, "G723" }, { 5, "DVI4" },
		{ 6, "DVI4" }, { 7, "LPC" }, { 8, "G711a" }, { 9, "G722" }, { 10, "L16" }, { 11, "L16" },
		{ 12, "Unknown(12)" }, { 13, "Unknown(13)" }, { 14, "MPA" }, { 15, "G728" },
		{ 16, "Unknown(16)" }, { 18, "G729" }, { 19, "Unknown(19)" }, { 25, "CelB" }, { 26, "JPEG" },
		{ 28, "nv" }, { 31, "H261" }, { 32, "MPV" }, { 33, "MP2T" }, { 34, "H263" },
		{ 35, "Unknown(35)" }, { 95, "Unknown(95)" }, { 96, "Dynamic(96)" }, { 127, "Dynamic(127)" },
		{ 0x80, "G711u" }, { 0x80 | 101, "Dynamic(101)" }, { 0x80 | 8, "G711a" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct party party = { 0 };

		party_note_codec(&party, cases[i].pt);
		if (strcmp(party.codec, cases[i].name))
			fail_msg("payload byte %u: '%s', expected '%s'", cases[i].pt, party.codec, cases[i].name);
		party_note_codec(&party, 8); /* determined once */
		assert_string_equal(party.codec, cases[i].name);
	}
}

static void test_first_media(void **state)
{
	struct stream stream = { 0 };

	stream_note_first_media(&stream, T0 + 1.5);
	stream_note_first_media(&stream, T0 + 3);
	assert_true(stream.first_media_at == T0 + 1.5);
}

static void test_status_names(void **state)
{
	assert_string_equal(stream_status_name(STREAM_ACTIVE), "active");
	assert_string_equal(stream_status_name(STREAM_ON_HOLD), "on hold");
	assert_string_equal(stream_status_name(STREAM_CLOSED), "closed");
	assert_string_equal(stream_status_name(STREAM_REJECTED), "rejected");
	assert_string_equal(stream_status_name(STREAM_NO_TRAFFIC_TIMEOUT), "no-traffic timeout");
	assert_string_equal(stream_status_name(STREAM_ON_HOLD_TIMEOUT), "on hold timeout");
	assert_string_equal(stream_status_name(STREAM_CONNTRACK_TIMEOUT), "conntrack timeout");
	assert_string_equal(stream_status_name(STREAM_UNSELECTED_ICE), "unselected ICE candidate");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	static const struct CMUnitTest tests[] = {
		T(test_offer_answer_from_caller),
		T(test_offer_answer_from_callee),
		T(test_session_created_by_reply),
		T(test_reply_address_per_side),
		T(test_reply_advertised_ip),
		T(test_reoffer_new_generation),
		T(test_reoffer_previous_generation_cleanup),
		T(test_removed_stream),
		T(test_added_streams),
		T(test_duplicate_entries),
		T(test_port0_in_offer),
		T(test_port0_in_reoffer),
		T(test_port0_and_missing_in_answer),
		T(test_answer_without_media),
		T(test_hold_null_address),
		T(test_hold_sendonly_inactive),
		T(test_hold_in_first_offer),
		T(test_hold_by_answer),
		T(test_answer_resets_party),
		T(test_cseq_rules),
		T(test_offer_without_media),
		T(test_to_tag_and_user_agents),
		T(test_missing_headers),
		T(test_malformed_media),
		cmocka_unit_test_setup_teardown(test_port_exhaustion, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_released_pairs_quarantined, setup_small, teardown),
		T(test_remove),
		T(test_many_sessions),
		T(test_expiry_unanswered),
		T(test_expiry_with_pending_reoffer),
		T(test_expiry_after_sdp_close),
		T(test_expiry_ice),
		T(test_ice_flags),
		T(test_close),
		T(test_halting),
		T(test_signaling_addresses),
		T(test_codec_names),
		T(test_first_media),
		T(test_status_names),
	};

	mp_log_open("test_session", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_CRIT);
	return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
