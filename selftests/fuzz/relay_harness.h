/* A relay agent without sockets or BPF, for the targets that drive the
 * relay's session table (userspace/session.c) with parsed requests: a port
 * pool of 100 pairs whose binder only keeps count, a clock that moves half
 * a second per request, and a handler that answers as agent_handle()
 * does.  After each request harness_check() holds the table to what
 * session.h promises: a stream holds ports exactly while it is alive, the
 * pool's bound pairs are the ones the streams hold, the events of a stream
 * come in their documented order, and every JSON text is one line of JSON.
 */
#ifndef MP_RELAY_HARNESS_H
#define MP_RELAY_HARNESS_H

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <jansson.h>
#include "fuzz.h"
#include "port_pool.h"
#include "request_parse.h"
#include "session.h"
#include "session_json.h"

#define HARNESS_PORT_FIRST 40000
#define HARNESS_PORT_END 40200

/* Where a stream is in its events (stream->owner). */
enum stream_phase { PHASE_NEW, PHASE_CALLER_PORTS, PHASE_PORTS, PHASE_CLOSED };

static struct {
	struct port_pool *pool;
	struct sessions *sessions;
	struct clock_reading now;
	bool bound[HARNESS_PORT_END];
	unsigned bound_pairs;
} harness;

static int harness_bind(void *ctx, struct in_addr ip, unsigned port)
{
	FUZZ_CHECK(port >= HARNESS_PORT_FIRST && port < HARNESS_PORT_END && port % 2 == 0 && !harness.bound[port]);
	harness.bound[port] = true;
	harness.bound_pairs++;
	return 0;
}

static void harness_unbind(void *ctx, struct in_addr ip, unsigned port)
{
	FUZZ_CHECK(port < HARNESS_PORT_END && harness.bound[port]);
	harness.bound[port] = false;
	harness.bound_pairs--;
}

static enum stream_phase phase(const struct stream *stream)
{
	return (enum stream_phase)(uintptr_t)stream->owner;
}

static void set_phase(struct stream *stream, enum stream_phase p)
{
	stream->owner = (void *)(uintptr_t)p;
}

static void on_ports_allocated(void *ctx, struct stream *stream, enum side side)
{
	FUZZ_CHECK(stream->alive && stream->party[side].has_ports);
	FUZZ_CHECK(phase(stream) == (side == SIDE_CALLER ? PHASE_NEW : PHASE_CALLER_PORTS));
	set_phase(stream, side == SIDE_CALLER ? PHASE_CALLER_PORTS : PHASE_PORTS);
}

static void on_ports_released(void *ctx, struct stream *stream, enum side side)
{
	FUZZ_CHECK(!stream->alive && stream->party[side].has_ports && phase(stream) == PHASE_CLOSED);
}

static void on_hold_changed(void *ctx, struct stream *stream)
{
	FUZZ_CHECK(stream->alive && phase(stream) == PHASE_PORTS);
}

static void on_party_reset(void *ctx, struct stream *stream, enum side side)
{
	FUZZ_CHECK(stream->alive && phase(stream) == PHASE_PORTS);
}

static void on_stream_closed(void *ctx, struct stream *stream)
{
	FUZZ_CHECK(!stream->alive && phase(stream) == PHASE_PORTS);
	set_phase(stream, PHASE_CLOSED);
}

static void harness_start(void)
{
	const struct mp_port_range range = { HARNESS_PORT_FIRST, HARNESS_PORT_END };
	const struct port_binder binder = { .bind = harness_bind, .unbind = harness_unbind };
	const struct session_events events = {
		.ports_allocated = on_ports_allocated, .ports_released = on_ports_released,
		.hold_changed = on_hold_changed, .party_reset = on_party_reset, .stream_closed = on_stream_closed,
	};
	struct sessions_config cfg = { { 0 }, { 0 } };

	memset(&harness, 0, sizeof(harness));
	inet_pton(AF_INET, "198.18.0.50", &cfg.relay_ip);
	harness.now = (struct clock_reading){ .wall = 1767225600.0, .mono_ns = 1000 * 1000000000ULL };
	harness.pool = port_pool_new(&range, PORT_POOL_QUARANTINE_NS, &binder);
	harness.sessions = harness.pool ? sessions_new(&cfg, harness.pool, &events) : NULL;
	FUZZ_CHECK(harness.sessions);
}

static void harness_stop(void)
{
	sessions_free(harness.sessions, &harness.now);
	FUZZ_CHECK(harness.bound_pairs == 0);
	port_pool_free(harness.pool);
}

static bool stream_known(const struct session *s, const struct stream *stream)
{
	for (unsigned i = 0; i < s->stream_count; i++)
		if (s->streams[i] == stream)
			return true;
	return false;
}

static void harness_check(void)
{
	unsigned held = 0, count = 0;

	for (const struct session *s = sessions_first(harness.sessions); s; s = s->next, count++) {
		FUZZ_CHECK(s->generation_count > 0 && s->generation_count <= s->generation_cap);
		FUZZ_CHECK(s->stream_count <= s->stream_cap);
		FUZZ_CHECK(sessions_find(harness.sessions, s->call_id, s->from_tag, "") == s);
		for (unsigned g = 0; g < s->generation_count; g++) {
			FUZZ_CHECK(s->generations[g]->count <= REQUEST_MAX_STREAMS);
			for (unsigned i = 0; i < s->generations[g]->count; i++)
				FUZZ_CHECK(stream_known(s, s->generations[g]->streams[i]));
		}
		for (unsigned i = 0; i < s->stream_count; i++) {
			const struct stream *stream = s->streams[i];
			bool alive_status = stream->status == STREAM_ACTIVE || stream->status == STREAM_ON_HOLD;

			FUZZ_CHECK(stream->session == s && stream->status <= STREAM_UNSELECTED_ICE);
			FUZZ_CHECK(stream->alive == alive_status);
			FUZZ_CHECK(stream->party[SIDE_CALLER].has_ports == stream->alive);
			FUZZ_CHECK(stream->party[SIDE_CALLEE].has_ports == stream->alive);
			held += stream->alive ? 2 : 0;
		}
	}
	FUZZ_CHECK(count == sessions_count(harness.sessions));
	FUZZ_CHECK(held == harness.bound_pairs);
}

/* The relay's JSON texts go on one line of the protocol, and are JSON. */
static void reply_json(struct evbuffer *reply, json_t *json)
{
	char *text = json ? session_json_text(json) : NULL;
	json_t *back = text ? json_loads(text, 0, NULL) : NULL;

	FUZZ_CHECK(text && back && !strpbrk(text, "\r\n"));
	evbuffer_add_printf(reply, "%s", text);
	json_decref(back);
	free(text);
	json_decref(json);
}

/* What agent_handle() does, minus media and saving. */
static void harness_handle(void *owner, void *origin, const struct request *req, struct evbuffer *reply)
{
	const struct relay_status status = { .version = MP_VERSION };
	char ports[UPDATE_REPLY_LEN];
	struct session *s;

	harness.now.wall += 0.5;
	harness.now.mono_ns += 500000000;
	switch (req->command) {
	case COMMAND_UPDATE: {
		enum update_result result = sessions_update(harness.sessions, req, &harness.now, ports, sizeof(ports), &s);

		FUZZ_CHECK((result == UPDATE_PORTS) == (s != NULL));
		evbuffer_add_printf(reply, "%s", ports);
		break;
	}
	case COMMAND_REMOVE:
		s = sessions_remove(harness.sessions, req, &harness.now);
		if (s) {
			reply_json(reply, session_stats_json(s, harness.now.wall));
			session_free(s);
		} else {
			evbuffer_add_printf(reply, "error");
		}
		break;
	case COMMAND_SESSIONS:
		reply_json(reply, sessions_json(harness.sessions, harness.now.wall));
		break;
	case COMMAND_SUMMARY:
		reply_json(reply, summary_json(harness.sessions, &status));
		break;
	}
	harness_check();
}

#endif
