#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "state.h"

#define STATE_VERSION 1

/* ---- values ------------------------------------------------------------------ */

/* SIP texts are UTF-8 in practice; anything else is kept as hex. */
static json_t *text_json(const char *text)
{
	json_t *json = json_string(text);
	char *hex;

	if (json)
		return json;
	hex = malloc(2 * strlen(text) + 1);
	for (size_t i = 0; hex && text[i]; i++)
		sprintf(hex + 2 * i, "%02x", (unsigned char)text[i]);
	json = hex ? json_pack("{ss}", "hex", text[0] ? hex : "") : NULL;
	free(hex);
	return json;
}

static void text_read(const json_t *json, char *out, size_t size)
{
	const char *hex = json_string_value(json_object_get(json, "hex"));
	size_t i = 0;

	if (json_is_string(json)) {
		snprintf(out, size, "%s", json_string_value(json));
		return;
	}
	for (unsigned byte; hex && hex[2 * i] && i + 1 < size && sscanf(hex + 2 * i, "%2x", &byte) == 1; i++)
		out[i] = (char)byte;
	out[i] = '\0';
}

/* text_read into a heap copy of at most `limit` bytes with its NUL. */
static char *text_dup(const json_t *json, size_t limit)
{
	char text[MP_TEXT_LEN];

	text_read(json, text, limit < sizeof(text) ? limit : sizeof(text));
	return strdup(text);
}

static json_t *ip_json(struct in_addr ip)
{
	char text[INET_ADDRSTRLEN];

	return json_string(inet_ntop(AF_INET, &ip, text, sizeof(text)));
}

static struct in_addr ip_read(const json_t *json)
{
	struct in_addr ip = { 0 };
	const char *text = json_string_value(json);

	if (text)
		inet_pton(AF_INET, text, &ip);
	return ip;
}

/* ---- save ------------------------------------------------------------------------ */

static json_t *leg_json(const struct mp_leg *leg)
{
	return json_pack("{sb sb sb so sI sI sI}", "has_remote", leg->has_remote, "in_use", leg->in_use, "got_media",
			 leg->got_media, "remote_ip", ip_json(leg->remote_ip), "remote_port",
			 (json_int_t)leg->remote_port, "packets", (json_int_t)leg->packets, "bytes",
			 (json_int_t)leg->bytes);
}

static json_t *party_json(const struct mp_party *p)
{
	return json_pack("{so sI sb sb so sI sb sb ss so so}", "local_ip", ip_json(p->local_ip), "rtp_port",
			 (json_int_t)p->rtp_port, "has_ports", p->has_ports, "has_sdp", p->has_sdp, "sdp_ip",
			 text_json(p->sdp_ip), "sdp_port", (json_int_t)p->sdp_port, "on_hold", p->on_hold, "ice", p->ice,
			 "codec", p->codec, "rtp", leg_json(&p->rtp), "rtcp", leg_json(&p->rtcp));
}

static json_t *stream_json(const struct mp_stream *st)
{
	return json_pack("{so si sb sI s[oo] sf sf sf sf sI so}", "media_type", text_json(st->media_type), "status",
			 (int)st->status, "alive", st->alive, "timeout_wait", (json_int_t)st->timeout_wait, "party",
			 party_json(&st->party[0]), party_json(&st->party[1]), "created_at", st->created_at,
			 "answered_at", st->answered_at, "first_media_at", st->first_media_at, "ended_at", st->ended_at,
			 "answer_order", (json_int_t)st->answer_order, "media", media_stream_save(st));
}

static unsigned stream_index(const struct mp_session *s, const struct mp_stream *st)
{
	unsigned i = 0;

	while (i < s->stream_count && s->streams[i] != st)
		i++;
	return i;
}

static json_t *session_json(const struct mp_session *s, const struct state_origins *origins)
{
	const char *origin = s->owner && origins->name ? origins->name(s->owner) : NULL;
	json_t *streams = json_array(), *generations = json_array();

	for (unsigned i = 0; i < s->stream_count; i++)
		json_array_append_new(streams, stream_json(s->streams[i]));
	for (unsigned i = 0; i < s->generation_count; i++) {
		const struct mp_generation *g = s->generations[i];
		json_t *members = json_array();

		for (unsigned j = 0; j < g->count; j++)
			json_array_append_new(members, json_integer(stream_index(s, g->streams[j])));
		json_array_append_new(generations, json_pack("{s[II] so}", "cseq", (json_int_t)g->cseq[0],
							     (json_int_t)g->cseq[1], "streams", members));
	}
	return json_pack("{so so so so so so so sb so so so sb s[II] sf sf sI so so so}", "call_id",
			 text_json(s->call_id), "from_tag", text_json(s->from_tag), "to_tag", text_json(s->to_tag),
			 "from_uri", text_json(s->from_uri), "to_uri", text_json(s->to_uri), "caller_ua",
			 text_json(s->caller_ua), "callee_ua", text_json(s->callee_ua), "has_username",
			 s->has_username, "username", text_json(s->username), "caller_address",
			 ip_json(s->caller_address), "destination_address", ip_json(s->destination_address), "has_cseq",
			 s->has_cseq, "cseq", (json_int_t)s->cseq[0], (json_int_t)s->cseq[1], "start_time",
			 s->start_time, "end_time", s->end_time, "next_answer_order", (json_int_t)s->next_answer_order,
			 "streams", streams, "generations", generations, "dispatcher", origin ? json_string(origin) : json_null());
}

int state_save(const char *path, const struct mp_sessions *sessions, const struct state_origins *origins)
{
	char tmp[PATH_MAX + 8];
	json_t *list = json_array(), *state;
	int err;

	for (const struct mp_session *s = mp_sessions_first(sessions); s; s = s->next)
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

static void leg_read(const json_t *j, struct mp_leg *leg)
{
	leg->has_remote = json_is_true(json_object_get(j, "has_remote"));
	leg->in_use = json_is_true(json_object_get(j, "in_use"));
	leg->got_media = json_is_true(json_object_get(j, "got_media"));
	leg->remote_ip = ip_read(json_object_get(j, "remote_ip"));
	leg->remote_port = (uint16_t)json_integer_value(json_object_get(j, "remote_port"));
	leg->packets = (uint64_t)json_integer_value(json_object_get(j, "packets"));
	leg->bytes = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
}

static void party_read(const json_t *j, struct mp_party *p)
{
	p->local_ip = ip_read(json_object_get(j, "local_ip"));
	p->rtp_port = (unsigned)json_integer_value(json_object_get(j, "rtp_port"));
	p->has_ports = json_is_true(json_object_get(j, "has_ports"));
	p->has_sdp = json_is_true(json_object_get(j, "has_sdp"));
	text_read(json_object_get(j, "sdp_ip"), p->sdp_ip, sizeof(p->sdp_ip));
	p->sdp_port = (unsigned short)json_integer_value(json_object_get(j, "sdp_port"));
	p->on_hold = json_is_true(json_object_get(j, "on_hold"));
	p->ice = json_is_true(json_object_get(j, "ice"));
	text_read(json_object_get(j, "codec"), p->codec, sizeof(p->codec));
	leg_read(json_object_get(j, "rtp"), &p->rtp);
	leg_read(json_object_get(j, "rtcp"), &p->rtcp);
}

static struct mp_stream *stream_read(const json_t *j, struct mp_session *s)
{
	struct mp_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->session = s;
	text_read(json_object_get(j, "media_type"), st->media_type, sizeof(st->media_type));
	st->status = (enum mp_stream_status)json_integer_value(json_object_get(j, "status"));
	st->alive = json_is_true(json_object_get(j, "alive"));
	st->timeout_wait = (unsigned)json_integer_value(json_object_get(j, "timeout_wait"));
	for (size_t side = 0; side < 2; side++)
		party_read(json_array_get(json_object_get(j, "party"), side), &st->party[side]);
	st->created_at = json_real_value(json_object_get(j, "created_at"));
	st->answered_at = json_real_value(json_object_get(j, "answered_at"));
	st->first_media_at = json_real_value(json_object_get(j, "first_media_at"));
	st->ended_at = json_real_value(json_object_get(j, "ended_at"));
	st->answer_order = (unsigned long)json_integer_value(json_object_get(j, "answer_order"));
	return st;
}

static struct mp_session *session_read(const json_t *j)
{
	const json_t *streams = json_object_get(j, "streams"), *generations = json_object_get(j, "generations");
	struct mp_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->call_id = text_dup(json_object_get(j, "call_id"), MP_ID_LEN);
	s->from_tag = text_dup(json_object_get(j, "from_tag"), MP_ID_LEN);
	s->to_tag = text_dup(json_object_get(j, "to_tag"), MP_ID_LEN);
	s->from_uri = text_dup(json_object_get(j, "from_uri"), MP_TEXT_LEN);
	s->to_uri = text_dup(json_object_get(j, "to_uri"), MP_TEXT_LEN);
	s->caller_ua = text_dup(json_object_get(j, "caller_ua"), MP_TEXT_LEN);
	s->callee_ua = text_dup(json_object_get(j, "callee_ua"), MP_TEXT_LEN);
	s->has_username = json_is_true(json_object_get(j, "has_username"));
	s->username = text_dup(json_object_get(j, "username"), MP_TEXT_LEN);
	if (!s->call_id || !s->from_tag || !s->to_tag || !s->from_uri || !s->to_uri || !s->caller_ua ||
	    !s->callee_ua || !s->username)
		goto fail;
	s->caller_address = ip_read(json_object_get(j, "caller_address"));
	s->destination_address = ip_read(json_object_get(j, "destination_address"));
	s->has_cseq = json_is_true(json_object_get(j, "has_cseq"));
	for (size_t i = 0; i < 2; i++)
		s->cseq[i] = (unsigned)json_integer_value(json_array_get(json_object_get(j, "cseq"), i));
	s->start_time = json_real_value(json_object_get(j, "start_time"));
	s->end_time = json_real_value(json_object_get(j, "end_time"));
	s->next_answer_order = (unsigned long)json_integer_value(json_object_get(j, "next_answer_order"));
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
		struct mp_generation *gen = calloc(1, sizeof(*gen));

		if (!gen)
			goto fail;
		s->generations[s->generation_count] = gen;
		for (size_t i = 0; i < 2; i++)
			gen->cseq[i] = (unsigned)json_integer_value(json_array_get(json_object_get(g, "cseq"), i));
		for (; gen->count < json_array_size(members) && gen->count < MP_MAX_STREAMS; gen->count++) {
			json_int_t index = json_integer_value(json_array_get(members, gen->count));

			if (index < 0 || index >= s->stream_count)
				goto fail;
			gen->streams[gen->count] = s->streams[index];
		}
	}
	return s;
fail:
	mp_session_free(s);
	return NULL;
}

/* Claims the ports of the session's live streams and restores their media;
 * on failure the claimed ports go back.
 */
static int session_adopt(struct mp_session *s, const json_t *j, struct mp_sessions *sessions,
			 struct mp_port_pool *pool, struct media *m)
{
	const json_t *streams = json_object_get(j, "streams");
	struct mp_time now = media_now();

	for (unsigned i = 0; i < s->stream_count; i++)
		for (enum mp_side side = MP_CALLER; side <= MP_CALLEE; side++) {
			struct mp_party *party = &s->streams[i]->party[side];

			if (party->has_ports && mp_port_pool_claim(pool, party->local_ip, party->rtp_port)) {
				log_warn("restart: port %u of session %s is taken; its stream ends", party->rtp_port,
					 s->call_id);
				party->has_ports = false;
				s->streams[i]->alive = false;
				s->streams[i]->status = MP_STREAM_CLOSED;
				s->streams[i]->ended_at = now.wall;
			}
		}
	for (unsigned i = 0; i < s->stream_count; i++) {
		const json_t *saved = json_object_get(json_array_get(streams, i), "media");

		if (s->streams[i]->alive && media_stream_restore(m, s->streams[i], saved))
			log_warn("restart: stream %u of session %s has no saved media state", i, s->call_id);
	}
	mp_sessions_adopt(sessions, s);
	return 0;
}

int state_restore(const char *path, struct mp_sessions *sessions, struct mp_port_pool *pool, struct media *m,
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
		struct mp_session *s = session_read(json_array_get(list, i));

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
