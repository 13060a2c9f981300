/* Unit tests of the relay's saved state (userspace/state.c, media.c): a
 * state file an earlier relay wrote is restored, and saved again byte for
 * byte, so that a relay restarted after an upgrade takes over its calls.
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
#include "state.h"

#define DISPATCHER "dispatcher.example.org:25060"

/* Two sessions as the relay wrote them: one with a latched, installed
 * stream, a caller user agent that is not UTF-8 and a dispatcher; one with
 * a closed stream and a live one on hold, in two generations.  A leg's
 * packets and bytes are its base counters: the userspace tier adds none.
 */
static const char saved_state[] =
	"{\"version\":1,\"sessions\":[{\"call_id\":\"c1\",\"from_tag\":\"ft-c1\","
	"\"to_tag\":\"tt-c1\",\"from_uri\":\"alice@example.org\",\"to_uri\":\"bob@example.net\","
	"\"caller_ua\":{\"hex\":\"50686f6ee9\"},\"callee_ua\":\"callee\",\"has_username\":true,"
	"\"username\":\"alice\",\"caller_address\":\"198.18.1.7\","
	"\"destination_address\":\"198.18.2.9\",\"has_cseq\":true,\"cseq\":[1,0],"
	"\"start_time\":1796621644.0090578,\"end_time\":0.0,\"next_answer_order\":1,"
	"\"streams\":[{\"media_type\":\"audio\",\"status\":0,\"alive\":true,\"timeout_wait\":0,"
	"\"party\":[{\"local_ip\":\"198.18.0.50\",\"rtp_port\":40000,\"has_ports\":true,"
	"\"has_sdp\":true,\"sdp_ip\":\"198.18.1.7\",\"sdp_port\":49170,\"on_hold\":false,"
	"\"ice\":false,\"codec\":\"G711u\",\"rtp\":{\"has_remote\":true,\"in_use\":true,"
	"\"got_media\":true,\"remote_ip\":\"198.18.1.7\",\"remote_port\":49170,\"packets\":361,"
	"\"bytes\":72200},\"rtcp\":{\"has_remote\":true,\"in_use\":true,\"got_media\":true,"
	"\"remote_ip\":\"198.18.1.7\",\"remote_port\":49171,\"packets\":2,\"bytes\":160}},"
	"{\"local_ip\":\"198.18.0.50\",\"rtp_port\":40002,\"has_ports\":true,\"has_sdp\":true,"
	"\"sdp_ip\":\"198.18.2.9\",\"sdp_port\":30000,\"on_hold\":false,\"ice\":false,"
	"\"codec\":\"G711u\",\"rtp\":{\"has_remote\":true,\"in_use\":true,\"got_media\":true,"
	"\"remote_ip\":\"198.18.2.9\",\"remote_port\":30000,\"packets\":335,\"bytes\":67000},"
	"\"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0}}],"
	"\"created_at\":1796621643.9259217,\"answered_at\":1796621644.0090578,"
	"\"first_media_at\":1796621644.1300805,\"ended_at\":0.0,\"answer_order\":0,"
	"\"media\":{\"id\":1,\"installed\":[true,false],\"base_packets\":[[361,2],[335,0]],"
	"\"base_bytes\":[[72200,160],[67000,0]],\"relayed_ns\":[742277745822,742277745901],"
	"\"reset_ns\":[0,0],\"timers\":[[0,false],[0,false],[0,false],[831725601536,false]]}}],"
	"\"generations\":[{\"cseq\":[1,0],\"streams\":[0]}],"
	"\"dispatcher\":\"dispatcher.example.org:25060\"},{\"call_id\":\"c2\",\"from_tag\":\"ft-c2\","
	"\"to_tag\":\"\",\"from_uri\":\"carol@example.org\",\"to_uri\":\"dave@example.net\","
	"\"caller_ua\":\"caller\",\"callee_ua\":\"\",\"has_username\":false,\"username\":\"\","
	"\"caller_address\":\"198.18.1.7\",\"destination_address\":\"0.0.0.0\",\"has_cseq\":true,"
	"\"cseq\":[2,1],\"start_time\":0.0,\"end_time\":0.0,\"next_answer_order\":0,"
	"\"streams\":[{\"media_type\":\"video\",\"status\":2,\"alive\":false,\"timeout_wait\":0,"
	"\"party\":[{\"local_ip\":\"198.18.0.50\",\"rtp_port\":40004,\"has_ports\":false,"
	"\"has_sdp\":true,\"sdp_ip\":\"198.18.1.7\",\"sdp_port\":51372,\"on_hold\":false,"
	"\"ice\":false,\"codec\":\"\",\"rtp\":{\"has_remote\":false,\"in_use\":false,"
	"\"got_media\":false,\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0},"
	"\"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0}},"
	"{\"local_ip\":\"198.18.0.50\",\"rtp_port\":40006,\"has_ports\":false,\"has_sdp\":true,"
	"\"sdp_ip\":\"\",\"sdp_port\":0,\"on_hold\":false,\"ice\":false,\"codec\":\"\","
	"\"rtp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0},"
	"\"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0}}],"
	"\"created_at\":1796621650.25,\"answered_at\":0.0,\"first_media_at\":0.0,"
	"\"ended_at\":1796621655.5,\"answer_order\":0,\"media\":null},{\"media_type\":\"audio\","
	"\"status\":1,\"alive\":true,\"timeout_wait\":0,\"party\":[{\"local_ip\":\"198.18.0.50\","
	"\"rtp_port\":40008,\"has_ports\":true,\"has_sdp\":true,\"sdp_ip\":\"0.0.0.0\","
	"\"sdp_port\":49180,\"on_hold\":true,\"ice\":true,\"codec\":\"\","
	"\"rtp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0},"
	"\"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0}},"
	"{\"local_ip\":\"198.18.0.50\",\"rtp_port\":40010,\"has_ports\":true,\"has_sdp\":true,"
	"\"sdp_ip\":\"198.18.2.9\",\"sdp_port\":30020,\"on_hold\":false,\"ice\":false,\"codec\":\"\","
	"\"rtp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0},"
	"\"rtcp\":{\"has_remote\":false,\"in_use\":false,\"got_media\":false,"
	"\"remote_ip\":\"0.0.0.0\",\"remote_port\":0,\"packets\":0,\"bytes\":0}}],"
	"\"created_at\":1796621655.5,\"answered_at\":0.0,\"first_media_at\":0.0,\"ended_at\":0.0,"
	"\"answer_order\":0,\"media\":{\"id\":3,\"installed\":[false,false],\"base_packets\":[[0,0],"
	"[0,0]],\"base_bytes\":[[0,0],[0,0]],\"relayed_ns\":[0,0],\"reset_ns\":[0,840000000000],"
	"\"timers\":[[861725601386,true],[861725601386,true],[861725601386,true],[861725601386,"
	"true]]}}],\"generations\":[{\"cseq\":[1,0],\"streams\":[0]},{\"cseq\":[2,1],"
	"\"streams\":[1]}],\"dispatcher\":null}]}";

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

static void test_restore_then_save(void **state)
{
	struct event_base *base = event_base_new();
	struct forwarder fwd = { .tier = FORWARDER_USERSPACE };
	const struct media_config media_cfg = { .transmit_every = 1 };
	const struct media_owner owner = { .expired = session_expired, .changed = state_changed };
	const struct mp_port_range range = { 40000, 40100 };
	const struct state_origins origins = { .name = origin_name, .find = find_origin };
	struct sessions_config sessions_cfg = { { 0 }, { 0 } };
	char dir[] = "/tmp/test_state.XXXXXX", in[64], out[64], *text;
	struct clock_reading now = { 0 };
	struct session_events events;
	struct sessions *sessions;
	struct port_pool *pool;
	struct media *m;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(in, sizeof(in), "%s/in.json", dir);
	snprintf(out, sizeof(out), "%s/out.json", dir);
	f = fopen(in, "w");
	assert_non_null(f);
	fputs(saved_state, f);
	fclose(f);
	inet_pton(AF_INET, "198.18.0.50", &sessions_cfg.relay_ip);
	assert_non_null(base);
	m = media_new(base, &media_cfg, &fwd, &owner);
	assert_non_null(m);
	events = media_session_events(m);
	pool = port_pool_new(&range, PORT_POOL_QUARANTINE_NS, NULL);
	sessions = sessions_new(&sessions_cfg, pool, &events);
	assert_non_null(sessions);
	media_set_sessions(m, sessions);

	assert_int_equal(state_restore(in, sessions, pool, m, &origins), 2);
	assert_int_equal(state_save(out, sessions, &origins), 0);
	text = read_file(out);
	assert_string_equal(text, saved_state);

	free(text);
	sessions_free(sessions, &now);
	port_pool_free(pool);
	media_free(m);
	event_base_free(base);
	unlink(in);
	unlink(out);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_then_save),
	};

	mp_log_open("test_state", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
