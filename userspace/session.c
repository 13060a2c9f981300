/* Sessions, offer generations and streams (session.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "session.h"

#define FIRST_BUCKET_COUNT 256

struct sessions {
	struct sessions_config config;
	struct port_pool *pool;
	struct session_events events;
	bool halting;
	struct callid_table by_call_id;  /* a call's sessions (one per from_tag) share its Call-ID */
	struct session *first, *last; /* creation order */
};

/* One `update` as the session sees it (doc/relay-sessions.md §3.2). */
struct message {
	const struct request *req;
	enum side slot;      /* the CSeq slot: the side that started the transaction */
	enum side sdp_owner; /* whose SDP the message carries */
	unsigned cseq[2];       /* the candidate pair (doc/relay-sessions.md §3.3) */
};

enum cseq_class { OFFER, ANSWER, STALE };

static const char *const status_names[] = {
	[STREAM_ACTIVE] = "active",
	[STREAM_ON_HOLD] = "on hold",
	[STREAM_CLOSED] = "closed",
	[STREAM_REJECTED] = "rejected",
	[STREAM_NO_TRAFFIC_TIMEOUT] = "no-traffic timeout",
	[STREAM_ON_HOLD_TIMEOUT] = "on hold timeout",
	[STREAM_CONNTRACK_TIMEOUT] = "conntrack timeout",
	[STREAM_UNSELECTED_ICE] = "unselected ICE candidate",
};

const char *stream_status_name(enum stream_status status)
{
	return status_names[status];
}

static enum side other_side(enum side side)
{
	return side == SIDE_CALLER ? SIDE_CALLEE : SIDE_CALLER;
}

static void copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* Replaces *field with a copy of src; -1, *field unchanged, without memory. */
static int set_text(char **field, const char *src)
{
	char *copy = strdup(src);

	if (!copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* ---- the table ---------------------------------------------------------- */

static struct session *session_of(struct callid_entry *e)
{
	return callid_entry_container(e, struct session, by_call_id);
}

struct sessions *sessions_new(const struct sessions_config *config, struct port_pool *pool,
				    const struct session_events *events)
{
	struct sessions *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (callid_table_init(&t->by_call_id, FIRST_BUCKET_COUNT)) {
		free(t);
		return NULL;
	}
	t->config = *config;
	t->pool = pool;
	if (events)
		t->events = *events;
	return t;
}

void sessions_free(struct sessions *t, const struct clock_reading *now)
{
	if (!t)
		return;
	while (t->first) {
		struct session *s = t->first;

		sessions_close(t, s, now);
		session_free(s);
	}
	callid_table_release(&t->by_call_id);
	free(t);
}

static void link_session(struct sessions *t, struct session *s)
{
	callid_table_add(&t->by_call_id, &s->by_call_id, s->call_id);
	s->prev = t->last;
	s->next = NULL;
	if (t->last)
		t->last->next = s;
	else
		t->first = s;
	t->last = s;
}

static void unlink_session(struct sessions *t, struct session *s)
{
	callid_table_remove(&t->by_call_id, &s->by_call_id);
	if (s->prev)
		s->prev->next = s->next;
	else
		t->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		t->last = s->prev;
	s->prev = s->next = NULL;
}

static struct session *find_by_tag(const struct sessions *t, const char *call_id, const char *tag)
{
	for (struct callid_entry *e = callid_table_find(&t->by_call_id, call_id); e; e = callid_table_find_next(e))
		if (!strcmp(session_of(e)->from_tag, tag))
			return session_of(e);
	return NULL;
}

struct session *sessions_find(const struct sessions *t, const char *call_id, const char *from_tag,
				    const char *to_tag)
{
	struct session *s = find_by_tag(t, call_id, from_tag);

	if (!s && to_tag[0])
		s = find_by_tag(t, call_id, to_tag);
	return s;
}

struct session *sessions_first(const struct sessions *t)
{
	return t->first;
}

unsigned sessions_count(const struct sessions *t)
{
	return t->by_call_id.count;
}

void sessions_set_halting(struct sessions *t, bool halting)
{
	t->halting = halting;
}

bool sessions_halting(const struct sessions *t)
{
	return t->halting;
}

/* ---- streams -------------------------------------------------------------- */

struct generation *session_generation(const struct session *s, unsigned age)
{
	return age < s->generation_count ? s->generations[s->generation_count - 1 - age] : NULL;
}

static bool generation_holds(const struct generation *g, const struct stream *stream)
{
	for (unsigned i = 0; g && i < g->count; i++)
		if (g->streams[i] == stream)
			return true;
	return false;
}

static bool generation_alive(const struct generation *g)
{
	for (unsigned i = 0; g && i < g->count; i++)
		if (g->streams[i]->alive)
			return true;
	return false;
}

/* Ends a stream for good (doc/relay-sessions.md §10.3): the owner detaches first, then the pairs
 * go back to the pool.  The party keeps its port numbers for the statistics.
 */
static void close_stream(struct sessions *t, struct stream *stream, enum stream_status status,
			 const struct clock_reading *now)
{
	if (!stream->alive)
		return;
	stream->alive = false;
	stream->status = status;
	stream->ended_at = now->wall;
	if (t->events.stream_closed)
		t->events.stream_closed(t->events.ctx, stream);
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		struct party *party = &stream->party[side];

		if (!party->has_ports)
			continue;
		if (t->events.ports_released)
			t->events.ports_released(t->events.ctx, stream, side);
		port_pool_release(t->pool, party->local_ip, party->rtp_port, now->mono_ns);
		party->has_ports = false;
	}
}

/* doc/relay-sessions.md §8: sendonly, inactive or the old-style 0.0.0.0; recvonly is the held side. */
static bool media_holds(const struct request_media *media)
{
	return media->direction == DIRECTION_SENDONLY || media->direction == DIRECTION_INACTIVE ||
	       !strcmp(media->ip, "0.0.0.0");
}

static void set_party_hold(struct sessions *t, struct stream *stream, enum side side, bool on_hold)
{
	enum stream_status status;

	stream->party[side].on_hold = on_hold;
	if (!stream->alive)
		return;
	status = stream->party[SIDE_CALLER].on_hold || stream->party[SIDE_CALLEE].on_hold ? STREAM_ON_HOLD
										      : STREAM_ACTIVE;
	if (status == stream->status)
		return;
	stream->status = status;
	if (t->events.hold_changed)
		t->events.hold_changed(t->events.ctx, stream);
}

static void record_sdp(struct party *party, const struct request_media *media)
{
	party->has_sdp = true;
	copy_text(party->sdp_ip, sizeof(party->sdp_ip), media->ip);
	party->sdp_port = media->port;
}

void stream_note_first_media(struct stream *stream, double now)
{
	if (!stream->first_media_at)
		stream->first_media_at = now;
}

/* Static payload types of RFC 3551, named as the original names them. */
static const char *const static_codecs[] = {
	[0] = "G711u", [1] = "1016", [2] = "G721", [3] = "GSM", [4] = "G723", [5] = "DVI4", [6] = "DVI4",
	[7] = "LPC", [8] = "G711a", [9] = "G722", [10] = "L16", [11] = "L16", [14] = "MPA", [15] = "G728",
	[18] = "G729", [25] = "CelB", [26] = "JPEG", [28] = "nv", [31] = "H261", [32] = "MPV", [33] = "MP2T",
	[34] = "H263",
};

void party_note_codec(struct party *party, unsigned char payload_type)
{
	unsigned pt = payload_type & 0x7f; /* the marker bit shares the byte */

	if (party->codec[0])
		return;
	if (pt > 95)
		snprintf(party->codec, sizeof(party->codec), "Dynamic(%u)", pt);
	else if (pt < sizeof(static_codecs) / sizeof(static_codecs[0]) && static_codecs[pt])
		copy_text(party->codec, sizeof(party->codec), static_codecs[pt]);
	else
		snprintf(party->codec, sizeof(party->codec), "Unknown(%u)", pt);
}

/* ---- update: checks and classification ------------------------------------ */

static const char *missing_update_header(const struct request *req)
{
	if (!req->call_id[0])
		return "call_id";
	if (!req->from_tag[0])
		return "from_tag";
	if (!req->from_uri[0])
		return "from_uri";
	if (!req->to_uri[0])
		return "to_uri";
	if (!req->has_cseq)
		return "cseq";
	if (!req->user_agent[0])
		return "user_agent";
	if (!req->has_type)
		return "type";
	if (req->has_media && (req->stream_count == 0 || req->stream_count > REQUEST_MAX_STREAMS))
		return "media";
	for (unsigned i = 0; req->has_media && i < req->stream_count; i++)
		if (!req->streams[i].type[0] || !req->streams[i].ip[0])
			return "media";
	return NULL;
}

/* doc/relay-sessions.md §3.2: a new session's message always comes from the caller's side. */
static void classify_message(const struct session *s, const struct request *req, struct message *m)
{
	bool from_caller = !s || !strcmp(req->from_tag, s->from_tag);

	m->req = req;
	m->slot = from_caller ? SIDE_CALLER : SIDE_CALLEE;
	m->sdp_owner = req->type == MESSAGE_REQUEST ? m->slot : other_side(m->slot);
	m->cseq[SIDE_CALLER] = s && s->has_cseq ? s->cseq[SIDE_CALLER] : 0;
	m->cseq[SIDE_CALLEE] = s && s->has_cseq ? s->cseq[SIDE_CALLEE] : 0;
	m->cseq[m->slot] = req->cseq;
}

static enum cseq_class classify_cseq(const struct session *s, const struct message *m)
{
	if (!s->has_cseq)
		return OFFER;
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		if (m->cseq[side] > s->cseq[side])
			return OFFER;
		if (m->cseq[side] < s->cseq[side])
			return STALE;
	}
	return ANSWER;
}

/* doc/relay-sessions.md §3.1 items 4 and 5, once the message is known to succeed. */
static void record_tag_and_agent(struct session *s, const struct message *m)
{
	char **ua = m->sdp_owner == SIDE_CALLER ? &s->caller_ua : &s->callee_ua;

	/* out of memory, a text stays as it was: the call goes on */
	if (m->slot == SIDE_CALLER && !s->to_tag[0] && m->req->to_tag[0])
		set_text(&s->to_tag, m->req->to_tag);
	if (!(*ua)[0])
		set_text(ua, m->req->user_agent);
}

/* doc/relay-sessions.md §6: the ports of the side the message travels towards, in the newest
 * generation that has the message's CSeq in its slot.
 */
static int write_reply(const struct sessions *t, const struct session *s, const struct message *m,
		       char *reply, size_t reply_len)
{
	enum side towards = other_side(m->sdp_owner);
	const struct generation *g = NULL;
	struct in_addr ip;
	size_t used;

	for (unsigned age = 0; (g = session_generation(s, age)); age++)
		if (g->cseq[m->slot] == m->req->cseq)
			break;
	if (!g)
		return -1;
	ip = t->config.advertised_ip.s_addr ? t->config.advertised_ip : g->streams[0]->party[towards].local_ip;
	if (!inet_ntop(AF_INET, &ip, reply, reply_len))
		return -1;
	used = strlen(reply);
	for (unsigned i = 0; i < g->count; i++) {
		const struct stream *stream = g->streams[i];
		int n = snprintf(reply + used, reply_len - used, " %u",
				 stream->alive ? stream->party[towards].rtp_port : 0);

		if (n < 0 || (size_t)n >= reply_len - used)
			return -1;
		used += n;
	}
	return 0;
}

/* ---- offers (doc/relay-sessions.md §4) ------------------------------------------------------------ */

/* Everything an offer needs, reserved before anything changes. */
struct offer_plan {
	struct generation *generation; /* the new one, streams filled */
	bool is_new[REQUEST_MAX_STREAMS];
};

/* Grows `array` to hold `need` elements: the array to use, or NULL (the old
 * one untouched) without memory.
 */
static void *reserve(void *array, unsigned *cap, unsigned need, size_t elem_size)
{
	unsigned new_cap = *cap ? *cap : 4;

	if (need <= *cap)
		return array;
	while (new_cap < need)
		new_cap *= 2;
	array = realloc(array, new_cap * elem_size);
	if (array)
		*cap = new_cap;
	return array;
}

/* doc/relay-sessions.md §4 step 1: an alive stream of the same type whose offering party's SDP
 * address is the entry's, or the entry is its old-style hold (0.0.0.0, same
 * port) or its disabling (same ip, port 0).  Each old stream matches once.
 */
static int find_reusable(const struct generation *current, const bool *matched, const struct request_media *media,
			 enum side offerer)
{
	for (unsigned i = 0; current && i < current->count; i++) {
		const struct stream *stream = current->streams[i];
		const struct party *party = &stream->party[offerer];
		bool same_ip, same_port;

		if (matched[i] || !stream->alive || !party->has_sdp || strcmp(stream->media_type, media->type))
			continue;
		same_ip = !strcmp(party->sdp_ip, media->ip);
		same_port = party->sdp_port == media->port;
		if ((same_ip && same_port) || (!strcmp(media->ip, "0.0.0.0") && same_port) ||
		    (same_ip && media->port == 0))
			return i;
	}
	return -1;
}

static struct in_addr local_address(const struct sessions *t, const struct session *s, enum side side)
{
	if (t->events.local_address)
		return t->events.local_address(t->events.ctx, s, side);
	return t->config.relay_ip;
}

static void discard_plan(struct offer_plan *plan)
{
	for (unsigned i = 0; plan->generation && i < plan->generation->count; i++)
		if (plan->is_new[i])
			free(plan->generation->streams[i]);
	free(plan->generation);
}

/* Matches the entries, creates the new streams unlinked and takes their
 * ports, all or nothing.
 */
static int plan_offer(struct sessions *t, struct session *s, const struct message *m,
		      const struct clock_reading *now, struct offer_plan *plan)
{
	const struct request *req = m->req;
	const struct generation *current = session_generation(s, 0);
	bool matched[REQUEST_MAX_STREAMS] = { false };
	struct in_addr local_ips[2 * REQUEST_MAX_STREAMS];
	unsigned ports[2 * REQUEST_MAX_STREAMS], pairs = 0;
	struct generation **generations, *g;
	struct stream **streams;

	memset(plan, 0, sizeof(*plan));
	generations = reserve(s->generations, &s->generation_cap, s->generation_count + 1, sizeof(*generations));
	if (!generations)
		return -1;
	s->generations = generations;
	streams = reserve(s->streams, &s->stream_cap, s->stream_count + req->stream_count, sizeof(*streams));
	if (!streams)
		return -1;
	s->streams = streams;
	g = plan->generation = calloc(1, sizeof(*g));
	if (!g)
		return -1;
	memcpy(g->cseq, m->cseq, sizeof(g->cseq));
	for (unsigned i = 0; i < req->stream_count; i++) {
		const struct request_media *media = &req->streams[i];
		int reused = find_reusable(current, matched, media, m->sdp_owner);
		struct stream *stream;

		if (reused >= 0) {
			matched[reused] = true;
			g->streams[g->count++] = current->streams[reused];
			continue;
		}
		stream = calloc(1, sizeof(*stream));
		if (!stream)
			goto fail;
		plan->is_new[g->count] = true;
		g->streams[g->count++] = stream;
		copy_text(stream->media_type, sizeof(stream->media_type), media->type);
		for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++)
			stream->party[side].local_ip = local_address(t, s, side);
		/* A stream disabled from the start never needs ports. */
		if (media->port) {
			local_ips[pairs] = stream->party[SIDE_CALLER].local_ip;
			local_ips[pairs + 1] = stream->party[SIDE_CALLEE].local_ip;
			pairs += 2;
		}
	}
	if (pairs && port_pool_take(t->pool, pairs, local_ips, now->mono_ns, ports) < 0)
		goto fail;
	pairs = 0;
	for (unsigned i = 0; i < g->count; i++) {
		if (!plan->is_new[i] || !req->streams[i].port)
			continue;
		for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
			g->streams[i]->party[side].rtp_port = ports[pairs++];
			g->streams[i]->party[side].has_ports = true;
		}
	}
	return 0;
fail:
	discard_plan(plan);
	return -1;
}

static void open_stream(struct sessions *t, struct session *s, struct stream *stream,
			const struct request_media *media, enum side offerer, const struct clock_reading *now)
{
	struct party *party = &stream->party[offerer];

	stream->session = s;
	stream->created_at = now->wall;
	record_sdp(party, media);
	party->ice = media->ice;
	party->on_hold = media_holds(media);
	s->streams[s->stream_count++] = stream;
	if (!media->port) {
		/* doc/relay-sessions.md §4 step 2: closed at once, but it keeps its slot */
		stream->status = STREAM_CLOSED;
		stream->ended_at = now->wall;
		return;
	}
	stream->alive = true;
	stream->status = party->on_hold ? STREAM_ON_HOLD : STREAM_ACTIVE;
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++)
		if (t->events.ports_allocated)
			t->events.ports_allocated(t->events.ctx, stream, side);
}

static void apply_offer(struct sessions *t, struct session *s, const struct message *m,
			struct offer_plan *plan, const struct clock_reading *now)
{
	struct generation *g = plan->generation;
	const struct generation *current = session_generation(s, 0);
	const struct generation *previous = session_generation(s, 1);

	for (unsigned i = 0; i < g->count; i++) {
		const struct request_media *media = &m->req->streams[i];
		struct stream *stream = g->streams[i];

		if (plan->is_new[i])
			open_stream(t, s, stream, media, m->sdp_owner, now);
		else if (!media->port)
			close_stream(t, stream, STREAM_CLOSED, now);
		else
			set_party_hold(t, stream, m->sdp_owner, media_holds(media));
	}
	/* Step 3; the old current generation lives on until the answer. */
	for (unsigned i = 0; previous && i < previous->count; i++)
		if (!generation_holds(current, previous->streams[i]) && !generation_holds(g, previous->streams[i]))
			close_stream(t, previous->streams[i], STREAM_CLOSED, now);
	s->generations[s->generation_count++] = g;
	memcpy(s->cseq, m->cseq, sizeof(s->cseq));
	s->has_cseq = true;
}

/* ---- answers (doc/relay-sessions.md §5) ----------------------------------------------------------- */

static int check_answer(const struct session *s, const struct request *req)
{
	const struct generation *g = session_generation(s, 0);

	for (unsigned i = 0; req->has_media && i < g->count && i < req->stream_count; i++) {
		if (strcmp(g->streams[i]->media_type, req->streams[i].type)) {
			log_warn("session %s: answer has %s where the offer had %s", s->call_id,
				 req->streams[i].type, g->streams[i]->media_type);
			return -1;
		}
	}
	return 0;
}

static void answer_stream(struct sessions *t, struct stream *stream, enum side answerer,
			  const struct request_media *media, const struct clock_reading *now)
{
	struct party *party = &stream->party[answerer];
	bool to_null_ip = !strcmp(media->ip, "0.0.0.0");

	if (!media->port) {
		close_stream(t, stream, STREAM_REJECTED, now);
		return;
	}
	set_party_hold(t, stream, answerer, media_holds(media));
	party->ice = media->ice;
	if (!party->has_sdp || !strcmp(party->sdp_ip, "0.0.0.0")) {
		record_sdp(party, media);
	} else if (party->sdp_port != media->port || (strcmp(party->sdp_ip, media->ip) && !to_null_ip)) {
		/* 183 then 200 from elsewhere, forked 183s: the party moved */
		record_sdp(party, media);
		if (t->events.party_reset)
			t->events.party_reset(t->events.ctx, stream, answerer);
	}
}

static void apply_answer(struct sessions *t, struct session *s, const struct message *m,
			 const struct clock_reading *now)
{
	const struct request *req = m->req;
	struct generation *g = session_generation(s, 0);
	const struct generation *previous = session_generation(s, 1);

	if (!s->start_time)
		s->start_time = now->wall;
	for (unsigned i = 0; i < g->count; i++) {
		if (g->streams[i]->answered_at)
			continue;
		g->streams[i]->answered_at = now->wall;
		g->streams[i]->answer_order = s->next_answer_order++;
	}
	/* A 200 OK without SDP after SDP in an 18x changes no stream (step 3). */
	if (!req->has_media)
		return;
	for (unsigned i = 0; i < g->count; i++) {
		/* Closed streams only get their answer time (the original raised here). */
		if (!g->streams[i]->alive)
			continue;
		if (i >= req->stream_count)
			close_stream(t, g->streams[i], STREAM_REJECTED, now);
		else
			answer_stream(t, g->streams[i], m->sdp_owner, &req->streams[i], now);
	}
	for (unsigned i = 0; previous && i < previous->count; i++)
		if (!generation_holds(g, previous->streams[i]))
			close_stream(t, previous->streams[i], STREAM_CLOSED, now);
}

/* ---- update ----------------------------------------------------------------- */

static struct session *new_session(const struct request *req)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (set_text(&s->call_id, req->call_id) || set_text(&s->from_tag, req->from_tag) ||
	    set_text(&s->to_tag, "") || set_text(&s->from_uri, req->from_uri) || set_text(&s->to_uri, req->to_uri) ||
	    set_text(&s->caller_ua, "") || set_text(&s->callee_ua, "") || set_text(&s->username, req->username)) {
		session_free(s);
		return NULL;
	}
	s->has_username = req->has_username;
	s->caller_address = req->signaling_source;
	s->destination_address = req->signaling_destination;
	return s;
}

static enum update_result fail(char *reply, size_t reply_len, enum update_result result)
{
	snprintf(reply, reply_len, "%s", result == UPDATE_HALTING ? "halting" : "error");
	return result;
}

/* The first message of a session is its first offer (doc/relay-sessions.md §3.1 step 3). */
static enum update_result create_session(struct sessions *t, const struct request *req,
					    const struct clock_reading *now, char *reply, size_t reply_len,
					    struct session **created)
{
	struct offer_plan plan;
	struct message m;
	struct session *s;

	if (!req->has_media) {
		log_warn("update for unknown session %s without media: nothing to create", req->call_id);
		return fail(reply, reply_len, UPDATE_ERROR);
	}
	if (t->halting)
		return fail(reply, reply_len, UPDATE_HALTING);
	s = new_session(req);
	if (!s)
		return fail(reply, reply_len, UPDATE_ERROR);
	classify_message(NULL, req, &m);
	if (plan_offer(t, s, &m, now, &plan) < 0) {
		session_free(s);
		return fail(reply, reply_len, UPDATE_ERROR);
	}
	apply_offer(t, s, &m, &plan, now);
	record_tag_and_agent(s, &m);
	link_session(t, s);
	log_debug("session %s created with %u streams", s->call_id, req->stream_count);
	write_reply(t, s, &m, reply, reply_len);
	*created = s;
	return UPDATE_PORTS;
}

enum update_result sessions_update(struct sessions *t, const struct request *req,
					 const struct clock_reading *now, char *reply, size_t reply_len,
					 struct session **updated)
{
	const char *missing = missing_update_header(req);
	struct offer_plan plan;
	struct message m;
	struct session *s;

	*updated = NULL;
	if (missing) {
		log_warn("update %s: missing or bad header %s", req->seq, missing);
		return fail(reply, reply_len, UPDATE_ERROR);
	}
	s = sessions_find(t, req->call_id, req->from_tag, req->to_tag);
	if (!s)
		return create_session(t, req, now, reply, reply_len, updated);
	classify_message(s, req, &m);
	switch (classify_cseq(s, &m)) {
	case OFFER:
		if (!req->has_media) {
			log_warn("session %s: offer without media, nothing to return", s->call_id);
			return fail(reply, reply_len, UPDATE_ERROR);
		}
		if (plan_offer(t, s, &m, now, &plan) < 0)
			return fail(reply, reply_len, UPDATE_ERROR);
		apply_offer(t, s, &m, &plan, now);
		break;
	case ANSWER:
		if (check_answer(s, req) < 0)
			return fail(reply, reply_len, UPDATE_ERROR);
		apply_answer(t, s, &m, now);
		break;
	case STALE:
		/* Nothing changes, so a stale message without a generation is an error. */
		if (write_reply(t, s, &m, reply, reply_len) < 0)
			return fail(reply, reply_len, UPDATE_ERROR);
		log_info("session %s: got old CSeq %u, ignored", s->call_id, req->cseq);
		break;
	}
	record_tag_and_agent(s, &m);
	write_reply(t, s, &m, reply, reply_len);
	*updated = s;
	return UPDATE_PORTS;
}

/* ---- ending ----------------------------------------------------------------- */

void sessions_close(struct sessions *t, struct session *s, const struct clock_reading *now)
{
	s->end_time = now->wall;
	for (unsigned i = 0; i < s->stream_count; i++)
		close_stream(t, s->streams[i], STREAM_CLOSED, now);
	unlink_session(t, s);
}

void sessions_adopt(struct sessions *t, struct session *s)
{
	link_session(t, s);
}

void session_free(struct session *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->stream_count; i++)
		free(s->streams[i]);
	for (unsigned i = 0; i < s->generation_count; i++)
		free(s->generations[i]);
	free(s->streams);
	free(s->generations);
	free(s->call_id);
	free(s->from_tag);
	free(s->to_tag);
	free(s->from_uri);
	free(s->to_uri);
	free(s->caller_ua);
	free(s->callee_ua);
	free(s->username);
	free(s);
}

struct session *sessions_remove(struct sessions *t, const struct request *req,
				      const struct clock_reading *now)
{
	struct session *s;

	if (!req->call_id[0] || !req->from_tag[0]) {
		log_warn("remove %s: missing call_id or from_tag", req->seq);
		return NULL;
	}
	s = sessions_find(t, req->call_id, req->from_tag, req->to_tag);
	if (!s) {
		log_warn("remove %s: no session %s", req->seq, req->call_id);
		return NULL;
	}
	sessions_close(t, s, now);
	return s;
}

struct session *sessions_stream_expired(struct sessions *t, struct stream *stream,
					      enum stream_status status, unsigned timeout_wait,
					      const struct clock_reading *now)
{
	struct session *s = stream->session;

	if (!stream->alive)
		return NULL;
	/* Both ends use ICE: they most likely picked a direct path (doc/relay-sessions.md §10.3). */
	if (stream->party[SIDE_CALLER].ice && stream->party[SIDE_CALLEE].ice)
		status = STREAM_UNSELECTED_ICE;
	stream->timeout_wait = timeout_wait;
	close_stream(t, stream, status, now);
	if (generation_alive(session_generation(s, 0)) || generation_alive(session_generation(s, 1)))
		return NULL;
	log_info("session %s expired", s->call_id);
	sessions_close(t, s, now);
	return s;
}
