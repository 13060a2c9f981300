/* The relay's saved calls (userspace/state.c, json_fields.c, the media
 * part of media.c; doc/fast-path.md §8): the input is the state file a
 * restarted relay reads back.  It is restored into a session table with
 * the userspace tier (no BPF, no sockets), as selftests/unit/test_state.c does.
 *
 * Checked besides memory, on what was restored: only alive streams hold
 * ports and the pool lent exactly those, every status is one of
 * session.h's, every session has a current offer, its statistics are
 * JSON, and saving then restoring again gives as many sessions.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include "forwarder.h"
#include "fuzz.h"
#include "media.h"
#include "port_pool.h"
#include "session.h"
#include "session_json.h"
#include "state.h"

#define PAIRS 10000 /* [Relay] port_range's default, 40000:60000 */

static struct event_base *base;

static void session_expired(void *ctx, struct session *session)
{
	session_free(session);
}

static void state_changed(void *ctx)
{
}

/* A table, its pool and its media, as the agent makes them. */
struct relay {
	struct forwarder fwd;
	struct media *media;
	struct port_pool *pool;
	struct sessions *sessions;
};

static void relay_open(struct relay *r)
{
	const struct media_config media_cfg = { .transmit_every = 1, .rtp_stats = true }; /* the default */
	const struct media_owner owner = { .expired = session_expired, .changed = state_changed };
	const struct mp_port_range range = { 40000, 40000 + 2 * PAIRS };
	struct sessions_config cfg = { { 0 }, { 0 } };
	struct session_events events;

	inet_pton(AF_INET, "198.18.0.50", &cfg.relay_ip);
	r->fwd = (struct forwarder){ .tier = FORWARDER_USERSPACE };
	r->media = media_new(base, &media_cfg, &r->fwd, &owner);
	FUZZ_CHECK(r->media);
	events = media_session_events(r->media);
	r->pool = port_pool_new(&range, PORT_POOL_QUARANTINE_NS, NULL);
	r->sessions = r->pool ? sessions_new(&cfg, r->pool, &events) : NULL;
	FUZZ_CHECK(r->sessions);
	media_set_sessions(r->media, r->sessions);
}

static void relay_close(struct relay *r)
{
	const struct clock_reading now = clock_now();

	sessions_free(r->sessions, &now);
	FUZZ_CHECK(port_pool_free_count(r->pool) == PAIRS);
	port_pool_free(r->pool);
	media_free(r->media);
}

static void check_restored(const struct relay *r)
{
	unsigned held = 0;
	json_t *all;
	char *text;

	for (const struct session *s = sessions_first(r->sessions); s; s = s->next) {
		FUZZ_CHECK(session_generation(s, 0));
		for (unsigned i = 0; i < s->stream_count; i++) {
			const struct stream *stream = s->streams[i];

			FUZZ_CHECK(stream->status <= STREAM_UNSELECTED_ICE);
			for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
				FUZZ_CHECK(!stream->party[side].has_ports || stream->alive);
				held += stream->party[side].has_ports;
			}
		}
	}
	FUZZ_CHECK(port_pool_free_count(r->pool) + held == PAIRS);
	all = sessions_json(r->sessions, clock_now().wall);
	text = all ? session_json_text(all) : NULL;
	FUZZ_CHECK(text);
	json_decref(all);
	all = json_loads(text, 0, NULL);
	FUZZ_CHECK(json_is_array(all));
	json_decref(all);
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-state");
	base = event_base_new();
	return base ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct state_origins origins = { 0 };
	char path[PATH_MAX], again[PATH_MAX];
	struct relay first, second;
	int restored;

	fuzz_write_file("in.json", (struct fuzz_bytes){ data, size }, path, sizeof(path));
	relay_open(&first);
	restored = state_restore(path, first.sessions, first.pool, first.media, &origins);
	FUZZ_CHECK(restored == -1 || restored == (int)sessions_count(first.sessions));
	if (restored > 0) {
		check_restored(&first);
		snprintf(again, sizeof(again), "%s/again.json", fuzz_dir());
		FUZZ_CHECK(state_save(again, first.sessions, &origins) == 0);
		relay_open(&second);
		FUZZ_CHECK(state_restore(again, second.sessions, second.pool, second.media, &origins) == restored);
		relay_close(&second);
	}
	relay_close(&first);
	return 0;
}
