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
	JSON_FIELD(struct party, rtp_port, UINT, .max = UINT16_MAX - 1), /* RTCP is the next one */
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
	JSON_FIELD(struct stream, status, UINT, .max = STREAM_UNSELECTED_ICE),
	JSON_FIELD(struct stream, alive, BOOL),
	JSON_FIELD(struct stream, timeout_wait, UINT),
	JSON_ARRAY(struct stream, party, OBJECT, .fields = party_fields),
	JSON_FIELD(struct stream, created_at, TIME),
	JSON_FIELD(struct stream, answered_at, TIME),
	JSON_FIELD(struct stream, first_media_at, TIME),
	JSON_FIELD(struct stream, ended_at, TIME),
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
	JSON_FIELD(struct session, start_time, TIME),
	JSON_FIELD(struct session, end_time, TIME),
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

/* The checks each saved struct needs beyond its field table. */

static int leg_check(const struct leg *leg, const json_t *j, struct json_fields_error *err)
{
	if (leg->in_use && !leg->has_remote)
		return json_fields_reject(err, "in_use", json_object_get(j, "in_use"), "true without a remote address");
	if (leg->got_media && !leg->in_use)
		return json_fields_reject(err, "got_media", json_object_get(j, "got_media"), "true on a leg not in use");
	return 0;
}

static int party_check(const struct stream *st, const struct party *party, const json_t *j,
		       struct json_fields_error *err)
{
	/* a live stream holds both its pairs, an ended one none */
	if (party->has_ports != st->alive)
		return json_fields_reject(err, "has_ports", json_object_get(j, "has_ports"),
					  st->alive ? "false in a live stream" : "true in an ended stream");
	if (leg_check(&party->rtp, json_object_get(j, "rtp"), err)) {
		json_fields_error_within(err, "rtp");
		return -1;
	}
	if (leg_check(&party->rtcp, json_object_get(j, "rtcp"), err)) {
		json_fields_error_within(err, "rtcp");
		return -1;
	}
	return 0;
}

static int stream_check(const struct stream *st, const json_t *j, struct json_fields_error *err)
{
	const json_t *media = json_object_get(j, "media");
	bool alive_status = st->status == STREAM_ACTIVE || st->status == STREAM_ON_HOLD;

	if (!st->media_type[0])
		return json_fields_reject(err, "media_type", json_object_get(j, "media_type"), "empty");
	if (st->alive != alive_status)
		return json_fields_reject(err, "alive", json_object_get(j, "alive"),
					  st->alive ? "true with the status of an ended stream" : "false with a live status");
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++)
		if (party_check(st, &st->party[side], json_array_get(json_object_get(j, "party"), side), err)) {
			json_fields_error_within(err, "party[%d]", side);
			return -1;
		}
	if (!st->alive)
		return json_is_null(media) ? 0 : json_fields_reject(err, "media", media, "not null in an ended stream");
	if (media_stream_check(media, err)) {
		json_fields_error_within(err, "media");
		return -1;
	}
	return 0;
}

static int stream_read(const json_t *j, struct stream *st, struct json_fields_error *err)
{
	return json_fields_read(stream_fields, j, st, err) || stream_check(st, j, err) ? -1 : 0;
}

/* Its "streams": 1 to REQUEST_MAX_STREAMS indices into the session's streams. */
static int generation_read(const json_t *j, const struct session *s, struct generation *gen,
			   struct json_fields_error *err)
{
	const json_t *members = json_object_get(j, "streams");

	if (json_fields_read(generation_fields, j, gen, err))
		return -1;
	if (!json_is_array(members) || !json_array_size(members) || json_array_size(members) > REQUEST_MAX_STREAMS)
		return json_fields_reject(err, "streams", members, "not an array of 1 to 32 stream indices");
	for (; gen->count < json_array_size(members); gen->count++) {
		const json_t *index = json_array_get(members, gen->count);

		if (!json_is_integer(index) || json_integer_value(index) < 0 ||
		    json_integer_value(index) >= s->stream_count) {
			json_fields_reject(err, "", index, "not the index of a stream");
			json_fields_error_within(err, "streams[%u]", gen->count);
			return -1;
		}
		gen->streams[gen->count] = s->streams[json_integer_value(index)];
	}
	return 0;
}

/* Streams end when they leave the last two generations (doc/relay-sessions.md §4, §5). */
static bool in_recent_generation(const struct session *s, const struct stream *st)
{
	for (unsigned age = 0; age < 2; age++) {
		const struct generation *g = session_generation(s, age);

		for (unsigned i = 0; g && i < g->count; i++)
			if (g->streams[i] == st)
				return true;
	}
	return false;
}

static int session_check(const struct session *s, const json_t *j, struct json_fields_error *err)
{
	const json_t *origin = json_object_get(j, "dispatcher");

	if (!s->call_id[0])
		return json_fields_reject(err, "call_id", json_object_get(j, "call_id"), "empty");
	if (!s->from_tag[0])
		return json_fields_reject(err, "from_tag", json_object_get(j, "from_tag"), "empty");
	if (!json_is_array(json_object_get(j, "streams")))
		return json_fields_reject(err, "streams", json_object_get(j, "streams"), "not an array");
	if (!json_array_size(json_object_get(j, "generations")))
		return json_fields_reject(err, "generations", json_object_get(j, "generations"),
					  "not an array of at least one generation");
	if (!json_is_string(origin) && !json_is_null(origin))
		return json_fields_reject(err, "dispatcher", origin, "neither a name nor null");
	return 0;
}

/* A session as saved, every field checked; NULL with `err` saying why. */
static struct session *session_read(const json_t *j, struct json_fields_error *err)
{
	const json_t *streams = json_object_get(j, "streams"), *generations = json_object_get(j, "generations");
	struct session *s = calloc(1, sizeof(*s));

	if (!s) {
		json_fields_reject(err, "", NULL, "out of memory");
		return NULL;
	}
	if (json_fields_read(session_fields, j, s, err) || session_check(s, j, err))
		goto fail;
	/* all allocated first, so that session_free() finds them on failure */
	s->stream_cap = (unsigned)json_array_size(streams);
	s->generation_cap = (unsigned)json_array_size(generations);
	s->streams = calloc(s->stream_cap + 1, sizeof(*s->streams));
	s->generations = calloc(s->generation_cap + 1, sizeof(*s->generations));
	if (!s->streams || !s->generations)
		goto no_memory;
	for (; s->stream_count < s->stream_cap; s->stream_count++)
		if (!(s->streams[s->stream_count] = calloc(1, sizeof(struct stream))))
			goto no_memory;
	for (; s->generation_count < s->generation_cap; s->generation_count++)
		if (!(s->generations[s->generation_count] = calloc(1, sizeof(struct generation))))
			goto no_memory;
	for (unsigned i = 0; i < s->stream_count; i++) {
		s->streams[i]->session = s;
		if (stream_read(json_array_get(streams, i), s->streams[i], err)) {
			json_fields_error_within(err, "streams[%u]", i);
			goto fail;
		}
	}
	for (unsigned i = 0; i < s->generation_count; i++)
		if (generation_read(json_array_get(generations, i), s, s->generations[i], err)) {
			json_fields_error_within(err, "generations[%u]", i);
			goto fail;
		}
	for (unsigned i = 0; i < s->stream_count; i++)
		if (s->streams[i]->alive && !in_recent_generation(s, s->streams[i])) {
			json_fields_reject(err, "alive", json_object_get(json_array_get(streams, i), "alive"),
					   "true in a stream of neither of the last two generations");
			json_fields_error_within(err, "streams[%u]", i);
			goto fail;
		}
	return s;
no_memory:
	json_fields_reject(err, "", NULL, "out of memory");
fail:
	session_free(s);
	return NULL;
}

/* Claims a live stream's pairs again; a pair that cannot be claimed ends
 * the stream, and the other one goes back.
 */
static void stream_claim_ports(struct stream *st, struct port_pool *pool, const struct clock_reading *now)
{
	struct party *caller = &st->party[SIDE_CALLER], *callee = &st->party[SIDE_CALLEE];

	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		struct party *party = &st->party[side];

		if (!port_pool_claim(pool, party->local_ip, party->rtp_port))
			continue;
		log_warn("restart: port %u of session %s is taken or out of the port range; its stream ends",
			 party->rtp_port, st->session->call_id);
		if (side == SIDE_CALLEE)
			port_pool_release(pool, caller->local_ip, caller->rtp_port, now->mono_ns);
		caller->has_ports = callee->has_ports = false;
		st->alive = false;
		st->status = STREAM_CLOSED;
		st->ended_at = now->wall;
		return;
	}
}

/* Claims the ports of the session's live streams and restores their media. */
static void session_adopt(struct session *s, const json_t *j, struct sessions *sessions, struct port_pool *pool,
			  struct media *m)
{
	const json_t *streams = json_object_get(j, "streams");
	struct clock_reading now = clock_now();

	for (unsigned i = 0; i < s->stream_count; i++) {
		struct stream *st = s->streams[i];

		if (st->alive)
			stream_claim_ports(st, pool, &now);
		if (st->alive && media_stream_restore(m, st, json_object_get(json_array_get(streams, i), "media")))
			log_err("restart: stream %u of session %s: no memory for its media", i, s->call_id);
	}
	sessions_adopt(sessions, s);
}

/* Keeps a state file that cannot be read for a look, out of the way of the next start. */
static void set_aside(const char *path, const char *why)
{
	char aside[PATH_MAX + 8];

	snprintf(aside, sizeof(aside), "%s.bad", path);
	if (rename(path, aside))
		log_err("restart state %s unreadable (%s), and it cannot be renamed: %s; starting without calls", path,
			why, strerror(errno));
	else
		log_err("restart state %s unreadable (%s); kept as %s; starting without calls", path, why, aside);
}

int state_restore(const char *path, struct sessions *sessions, struct port_pool *pool, struct media *m,
		  const struct state_origins *origins)
{
	char why[JSON_ERROR_TEXT_LENGTH + 32];
	json_error_t error;
	json_t *state, *list;
	int restored = 0;

	if (access(path, F_OK))
		return 0;
	state = json_load_file(path, 0, &error);
	list = json_object_get(state, "sessions");
	if (!state || json_integer_value(json_object_get(state, "version")) != STATE_VERSION || !json_is_array(list)) {
		if (!state)
			snprintf(why, sizeof(why), "%s, line %d", error.text, error.line);
		else if (json_integer_value(json_object_get(state, "version")) != STATE_VERSION)
			snprintf(why, sizeof(why), "not version %d", STATE_VERSION);
		else
			snprintf(why, sizeof(why), "no sessions array");
		set_aside(path, why);
		json_decref(state);
		media_prune(m);
		return 0;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *j = json_array_get(list, i), *id = json_object_get(j, "call_id");
		struct json_fields_error err;
		struct session *s = session_read(j, &err);

		if (s && sessions_find(sessions, s->call_id, s->from_tag, "")) {
			json_fields_reject(&err, "from_tag", json_object_get(j, "from_tag"), "the key of an earlier session too");
			session_free(s);
			s = NULL;
		}
		if (!s) {
			/* as JSON: the file's bytes are no more to be trusted in a log line */
			char *call_id = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

			log_err("restart state %s: session %zu (call_id %s) left out: %s%s%s: %s", path, i,
				call_id ? call_id : "unknown", err.field[0] ? err.field : "entry", err.value[0] ? " = " : "",
				err.value, err.problem);
			free(call_id);
			continue;
		}
		if (json_is_string(json_object_get(j, "dispatcher")) && origins->find)
			s->owner = origins->find(origins->ctx, json_string_value(json_object_get(j, "dispatcher")));
		session_adopt(s, j, sessions, pool, m);
		restored++;
	}
	json_decref(state);
	media_prune(m);
	return restored;
}
