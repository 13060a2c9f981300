#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clock.h"
#include "json_fields.h"
#include "log.h"
#include "state.h"

#define STATE_VERSION 1

/* ---- the saved form of each struct ------------------------------------------------- */

static const struct json_field leg_fields[] = {
	JSON_FIELD(struct leg, has_remote, BOOL),
	JSON_FIELD(struct leg, in_use, BOOL),
	JSON_FIELD(struct leg, got_media, BOOL),
	JSON_FIELD(struct leg, remote_ip, IPV4),
	JSON_FIELD(struct leg, remote_port, UINT),
	JSON_FIELD(struct leg, packets, UINT),
	JSON_FIELD(struct leg, bytes, UINT),
	JSON_FIELDS_END,
};

static const struct json_field party_fields[] = {
	JSON_FIELD(struct party, local_ip, IPV4),
	JSON_FIELD(struct party, rtp_port, UINT),
	JSON_FIELD(struct party, has_ports, BOOL),
	JSON_FIELD(struct party, has_sdp, BOOL),
	JSON_FIELD(struct party, sdp_ip, TEXT),
	JSON_FIELD(struct party, sdp_port, UINT),
	JSON_FIELD(struct party, on_hold, BOOL),
	JSON_FIELD(struct party, ice, BOOL),
	JSON_FIELD(struct party, codec, TEXT),
	JSON_FIELD(struct party, rtp, OBJECT, .fields = leg_fields),
	JSON_FIELD(struct party, rtcp, OBJECT, .fields = leg_fields),
	JSON_FIELDS_END,
};

/* Then "media": media_stream_save(). */
static const struct json_field stream_fields[] = {
	JSON_FIELD(struct stream, media_type, TEXT),
	JSON_FIELD(struct stream, status, UINT),
	JSON_FIELD(struct stream, alive, BOOL),
	JSON_FIELD(struct stream, timeout_wait, UINT),
	JSON_ARRAY(struct stream, party, OBJECT, .fields = party_fields),
	JSON_FIELD(struct stream, created_at, REAL),
	JSON_FIELD(struct stream, answered_at, REAL),
	JSON_FIELD(struct stream, first_media_at, REAL),
	JSON_FIELD(struct stream, ended_at, REAL),
	JSON_FIELD(struct stream, answer_order, UINT),
	JSON_FIELDS_END,
};

/* Then "streams": their indices in the session's streams. */
static const struct json_field generation_fields[] = {
	JSON_ARRAY(struct generation, cseq, UINT),
	JSON_FIELDS_END,
};

/* Then "streams", "generations" and "dispatcher" (the origin's name). */
static const struct json_field session_fields[] = {
	JSON_TEXT_COPY(struct session, call_id, REQUEST_ID_LEN),
	JSON_TEXT_COPY(struct session, from_tag, REQUEST_ID_LEN),
	JSON_TEXT_COPY(struct session, to_tag, REQUEST_ID_LEN),
	JSON_TEXT_COPY(struct session, from_uri, REQUEST_TEXT_LEN),
	JSON_TEXT_COPY(struct session, to_uri, REQUEST_TEXT_LEN),
	JSON_TEXT_COPY(struct session, caller_ua, REQUEST_TEXT_LEN),
	JSON_TEXT_COPY(struct session, callee_ua, REQUEST_TEXT_LEN),
	JSON_FIELD(struct session, has_username, BOOL),
	JSON_TEXT_COPY(struct session, username, REQUEST_TEXT_LEN),
	JSON_FIELD(struct session, caller_address, IPV4),
	JSON_FIELD(struct session, destination_address, IPV4),
	JSON_FIELD(struct session, has_cseq, BOOL),
	JSON_ARRAY(struct session, cseq, UINT),
	JSON_FIELD(struct session, start_time, REAL),
	JSON_FIELD(struct session, end_time, REAL),
	JSON_FIELD(struct session, next_answer_order, UINT),
	JSON_FIELDS_END,
};

/* `json` with `key` added, or NULL (both freed) when either is NULL. */
static json_t *with(json_t *json, const char *key, json_t *value)
{
	if (!json) {
		json_decref(value);
		return NULL;
	}
	if (json_object_set_new(json, key, value)) { /* it frees `value` */
		json_decref(json);
		return NULL;
	}
	return json;
}

/* ---- save ------------------------------------------------------------------------ */

static json_t *stream_json(const struct stream *st)
{
	return with(json_fields_write(stream_fields, st), "media", media_stream_save(st));
}

static unsigned stream_index(const struct session *s, const struct stream *st)
{
	unsigned i = 0;

	while (i < s->stream_count && s->streams[i] != st)
		i++;
	return i;
}

static json_t *generation_json(const struct session *s, const struct generation *g)
{
	json_t *members = json_array();

	for (unsigned j = 0; j < g->count; j++)
		json_array_append_new(members, json_integer(stream_index(s, g->streams[j])));
	return with(json_fields_write(generation_fields, g), "streams", members);
}

static json_t *session_json(const struct session *s, const struct state_origins *origins)
{
	const char *origin = s->owner && origins->name ? origins->name(s->owner) : NULL;
	json_t *json = json_fields_write(session_fields, s), *streams = json_array(), *generations = json_array();

	for (unsigned i = 0; i < s->stream_count; i++)
		json_array_append_new(streams, stream_json(s->streams[i]));
	for (unsigned i = 0; i < s->generation_count; i++)
		json_array_append_new(generations, generation_json(s, s->generations[i]));
	json = with(json, "streams", streams);
	json = with(json, "generations", generations);
	return with(json, "dispatcher", origin ? json_string(origin) : json_null());
}

int state_save(const char *path, const struct sessions *sessions, const struct state_origins *origins)
{
	char tmp[PATH_MAX + 8];
	json_t *list = json_array(), *state;
	int err;

	for (const struct session *s = sessions_first(sessions); s; s = s->next)
		if (json_array_append_new(list, session_json(s, origins)))
			log_warn("restart state: session %s cannot be saved", s->call_id);
	state = json_pack("{si so}", "version", STATE_VERSION, "sessions", list);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	err = !state || json_dump_file(state, tmp, JSON_COMPACT) || rename(tmp, path);
	if (err)
		log_err("restart state: cannot write %s: %s", path, strerror(errno));
	json_decref(state);
	return err ? -1 : 0;
}

/* ---- restore ---------------------------------------------------------------------- */

static struct stream *stream_read(const json_t *j, struct session *s)
{
	struct stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->session = s;
	json_fields_read(stream_fields, j, st); /* no text copy: it cannot fail */
	return st;
}

static struct session *session_read(const json_t *j)
{
	const json_t *streams = json_object_get(j, "streams"), *generations = json_object_get(j, "generations");
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (json_fields_read(session_fields, j, s))
		goto fail;
	s->stream_cap = (unsigned)json_array_size(streams);
	s->generation_cap = (unsigned)json_array_size(generations);
	s->streams = calloc(s->stream_cap + 1, sizeof(*s->streams));
	s->generations = calloc(s->generation_cap + 1, sizeof(*s->generations));
	if (!s->streams || !s->generations)
		goto fail;
	for (; s->stream_count < s->stream_cap; s->stream_count++) {
		s->streams[s->stream_count] = stream_read(json_array_get(streams, s->stream_count), s);
		if (!s->streams[s->stream_count])
			goto fail;
	}
	for (; s->generation_count < s->generation_cap; s->generation_count++) {
		const json_t *g = json_array_get(generations, s->generation_count);
		const json_t *members = json_object_get(g, "streams");
		struct generation *gen = calloc(1, sizeof(*gen));

		if (!gen)
			goto fail;
		s->generations[s->generation_count] = gen;
		json_fields_read(generation_fields, g, gen); /* numbers only: it cannot fail */
		for (; gen->count < json_array_size(members) && gen->count < REQUEST_MAX_STREAMS; gen->count++) {
			json_int_t index = json_integer_value(json_array_get(members, gen->count));

			if (index < 0 || index >= s->stream_count)
				goto fail;
			gen->streams[gen->count] = s->streams[index];
		}
	}
	return s;
fail:
	session_free(s);
	return NULL;
}

/* Claims the ports of the session's live streams and restores their media;
 * on failure the claimed ports go back.
 */
static int session_adopt(struct session *s, const json_t *j, struct sessions *sessions,
			 struct port_pool *pool, struct media *m)
{
	const json_t *streams = json_object_get(j, "streams");
	struct clock_reading now = clock_now();

	for (unsigned i = 0; i < s->stream_count; i++)
		for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
			struct party *party = &s->streams[i]->party[side];

			if (party->has_ports && port_pool_claim(pool, party->local_ip, party->rtp_port)) {
				log_warn("restart: port %u of session %s is taken; its stream ends", party->rtp_port,
					 s->call_id);
				party->has_ports = false;
				s->streams[i]->alive = false;
				s->streams[i]->status = STREAM_CLOSED;
				s->streams[i]->ended_at = now.wall;
			}
		}
	for (unsigned i = 0; i < s->stream_count; i++) {
		const json_t *saved = json_object_get(json_array_get(streams, i), "media");

		if (s->streams[i]->alive && media_stream_restore(m, s->streams[i], saved))
			log_warn("restart: stream %u of session %s has no saved media state", i, s->call_id);
	}
	sessions_adopt(sessions, s);
	return 0;
}

int state_restore(const char *path, struct sessions *sessions, struct port_pool *pool, struct media *m,
		  const struct state_origins *origins)
{
	json_error_t error;
	json_t *state, *list;
	int restored = 0;

	if (access(path, F_OK))
		return 0;
	state = json_load_file(path, 0, &error);
	list = json_object_get(state, "sessions");
	if (!state || json_integer_value(json_object_get(state, "version")) != STATE_VERSION || !json_is_array(list)) {
		log_err("restart state %s unreadable (%s, line %d); starting without calls", path,
			state ? "unknown version" : error.text, error.line);
		json_decref(state);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		struct session *s = session_read(json_array_get(list, i));

		if (!s) {
			log_err("restart state %s: session %zu unreadable; left out", path, i);
			continue;
		}
		const char *origin = json_string_value(json_object_get(json_array_get(list, i), "dispatcher"));

		if (origin && origins->find)
			s->owner = origins->find(origins->ctx, origin);
		session_adopt(s, json_array_get(list, i), sessions, pool, m);
		restored++;
	}
	json_decref(state);
	media_prune(m);
	return restored;
}
