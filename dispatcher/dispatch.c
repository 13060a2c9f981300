#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dispatch.h"
#include "log.h"
#include "records.h"
#include "accounting.h"
#include "proxy_control.h"

#define MAX_RELAYS 256
#define EXPIRED_CLEANUP_INTERVAL 600 /* seconds (doc/proxy-protocol.md §7.6) */

/* A relay that went away; its records go after cleanup_dead_relays_after. */
struct dead_relay {
	struct dead_relay *next;
	struct dispatch *d;
	char ip[64];
	struct event *timer;
};

struct dispatch {
	struct event_base *base;
	const struct mp_config *cfg;
	struct relays *relays;
	struct records *records;
	struct dead_relay *dead;
	struct event *cleanup;
	struct accounting *accounting; /* NULL: no database accounting */
	struct proxy_control *proxy_control;
	struct dispatch_counters counters;
};

const double dispatch_latency_bounds[DISPATCH_LATENCY_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.45, 0.5,
};

struct dispatch_job {
	struct dispatch *d;
	struct proxy_request req;
	dispatch_reply_cb cb;
	void *ctx;
	bool cancelled, waiting;     /* waiting: a relay command is out */
	bool refused;                /* malformed: no relay asked */
	struct timespec started, deadline;
	/* new sessions: the relays to try, in order */
	char candidates[MAX_RELAYS][64];
	unsigned candidate_count, next_candidate;
};

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static enum dispatch_command command_of(const struct proxy_request *req)
{
	if (req->command && !strcmp(req->command, "update"))
		return DISPATCH_UPDATE;
	if (req->command && !strcmp(req->command, "remove"))
		return DISPATCH_REMOVE;
	return DISPATCH_OTHER;
}

/* The request's result, and an update's time to its answer. */
static void count_request(struct dispatch_job *job, const char *reply)
{
	struct dispatch_counters *c = &job->d->counters;
	enum dispatch_command command = command_of(&job->req);
	enum dispatch_result result = job->cancelled ? DISPATCH_ABANDONED : job->refused ? DISPATCH_REFUSED :
				      !strcmp(reply, "error") ? DISPATCH_ERROR : DISPATCH_OK;
	struct timespec now;
	double seconds;
	unsigned bucket = 0;

	c->requests[command][result]++;
	if (command != DISPATCH_UPDATE || job->cancelled)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	seconds = (double)(now.tv_sec - job->started.tv_sec) + (double)(now.tv_nsec - job->started.tv_nsec) / 1e9;
	while (bucket < DISPATCH_LATENCY_BUCKETS && seconds > dispatch_latency_bounds[bucket])
		bucket++;
	c->update_latency[bucket]++;
	c->update_latency_sum += seconds;
}

/* Each command waits relay_timeout, but never beyond its share of the
 * reply budget: the relays still to try must fit in it too.
 */
static unsigned command_timeout(const struct dispatch_job *job)
{
	unsigned tries_left = job->candidate_count > job->next_candidate ? job->candidate_count - job->next_candidate : 1;
	long left = ms_left(&job->deadline) / tries_left;
	long relay_timeout = (long)job->d->cfg->dispatcher.relay_timeout * 1000;

	return (unsigned)(left < relay_timeout ? (left > 0 ? left : 0) : relay_timeout);
}

static void job_finish(struct dispatch_job *job, const char *reply)
{
	count_request(job, reply);
	if (!job->cancelled)
		job->cb(job->ctx, reply);
	proxy_request_free(&job->req);
	free(job);
}

void dispatch_cancel(struct dispatch_job *job)
{
	job->cancelled = true;
	if (!job->waiting) /* else freed when its relay answers or fails */
		job_finish(job, NULL);
}

/* ---- accounting and dialogs ------------------------------------------------ */

/* Some SDP answer reached the session: its statistics' start_time has a
 * value (doc/accounting.md §1).
 */
static bool answered(const json_t *stats)
{
	const json_t *start_time = json_object_get(stats, "start_time");

	return start_time && !json_is_null(start_time);
}

/* The session's final statistics: the relay's JSON text as it came, with
 * the dispatcher's keys appended in the original's order (doc/accounting.md §1): after a remove "dialog_id", "timed_out"; after an expiry
 * "timed_out", "dialog_id", "all_streams_ice".  It is logged, and an
 * answered session is accounted.
 */
static void session_ended(struct dispatch *d, const struct record *rec, const json_t *parsed, const char *stats,
			  size_t len, bool expired, bool all_ice)
{
	json_t *id = rec && rec->dialog_id ? json_string(rec->dialog_id) : json_null();
	char *dialog_id = json_dumps(id, JSON_ENCODE_ANY | JSON_ENSURE_ASCII), *info = NULL;
	const char *close = memrchr(stats, '}', len), *comma = json_object_size(parsed) ? ", " : "";
	int n = -1;

	if (close && dialog_id && expired)
		n = asprintf(&info, "%.*s%s\"timed_out\": %s, \"dialog_id\": %s, \"all_streams_ice\": %s}",
			     (int)(close - stats), stats, comma, all_ice ? "false" : "true", dialog_id,
			     all_ice ? "true" : "false");
	else if (close && dialog_id)
		n = asprintf(&info, "%.*s%s\"dialog_id\": %s, \"timed_out\": false}", (int)(close - stats), stats, comma,
			     dialog_id);
	if (n < 0) {
		log_warn("session %s: unusable statistics", rec ? rec->call_id : "?");
	} else {
		log_info("session %s ended: %s", rec ? rec->call_id : "?", info);
		if (d->accounting && answered(parsed))
			accounting_record(d->accounting, json_string_value(json_object_get(parsed, "call_id")) ?: "",
					  json_string_value(json_object_get(parsed, "from_tag")) ?: "",
					  json_string_value(json_object_get(parsed, "to_tag")), info);
		free(info);
	}
	free(dialog_id);
	json_decref(id);
}

static void end_dialog(struct dispatch *d, const struct record *rec)
{
	if (d->proxy_control)
		proxy_control_end_dialog(d->proxy_control, rec->dialog_id, rec->call_id);
}

/* ---- new sessions (doc/proxy-protocol.md §7.3) ----------------------------------------------------- */

static bool try_next_relay(struct dispatch_job *job);

static bool is_failure(const char *payload, size_t len)
{
	return !payload || (len == 5 && !memcmp(payload, "error", 5)) || (len == 7 && !memcmp(payload, "halting", 7));
}

static void new_session_answer(void *ctx, struct relay *relay, const char *payload, size_t len)
{
	struct dispatch_job *job = ctx;
	struct dispatch *d = job->d;
	char *reply;

	job->waiting = false;
	if (is_failure(payload, len)) {
		if (job->cancelled) {
			job_finish(job, NULL);
			return;
		}
		log_info("session %s: relay %s %s; trying the next", job->req.call_id, relay_ip(relay),
			 payload ? "refused" : "did not answer");
		try_next_relay(job);
		return;
	}
	if (!records_put(d->records, job->req.call_id, relay_ip(relay), job->req.dialog_id)) {
		job_finish(job, "error");
		return;
	}
	/* an original relay's "None" pins the session but is no answer for the proxy */
	if (len == 4 && !memcmp(payload, "None", 4)) {
		job_finish(job, "error");
		return;
	}
	reply = strndup(payload, len);
	job_finish(job, reply ? reply : "error");
	free(reply);
}

/* Sends the request to the next usable candidate.  Returns true when a
 * command is out; false when the job was answered `error`, and freed.
 */
static bool try_next_relay(struct dispatch_job *job)
{
	while (job->next_candidate < job->candidate_count) {
		unsigned timeout = command_timeout(job);
		struct relay *relay = relays_find(job->d->relays, job->candidates[job->next_candidate++]);

		if (!timeout)
			break;
		if (!relay || !relay_usable(relay))
			continue;
		if (!relay_send(relay, "update", job->req.headers, job->req.headers_len, timeout, new_session_answer,
				job)) {
			if (job->next_candidate > 1)
				job->d->counters.failovers++;
			job->waiting = true;
			return true;
		}
	}
	log_warn("session %s: no suitable relay%s", job->req.call_id, ms_left(&job->deadline) <= 0 ? " in time" : "");
	job_finish(job, "error");
	return false;
}

static void choose_relays(struct dispatch_job *job)
{
	struct relay *usable[MAX_RELAYS];
	unsigned n = relays_list(job->d->relays, true, usable, MAX_RELAYS), first = 0;
	const char *preferred = job->req.media_relay;

	for (unsigned i = 0; i < n; i++) {
		if (preferred && !strcmp(relay_ip(usable[i]), preferred)) {
			struct relay *tmp = usable[0];

			usable[0] = usable[i];
			usable[i] = tmp;
			first = 1;
		}
	}
	if (preferred && !first)
		log_warn("session %s: media_relay %s is not a connected relay", job->req.call_id, preferred);
	/* the rest in uniformly random order: the original's load balancing */
	for (unsigned i = n; i > first + 1; i--) {
		unsigned j = first + (unsigned)(random() % (i - first));
		struct relay *tmp = usable[i - 1];

		usable[i - 1] = usable[j];
		usable[j] = tmp;
	}
	for (unsigned i = 0; i < n; i++)
		snprintf(job->candidates[i], sizeof(job->candidates[i]), "%s", relay_ip(usable[i]));
	job->candidate_count = n;
}

/* ---- existing sessions (doc/proxy-protocol.md §7.2) -------------------------------------------------- */

static void existing_session_answer(void *ctx, struct relay *relay, const char *payload, size_t len)
{
	struct dispatch_job *job = ctx;
	struct dispatch *d = job->d;
	struct record *rec;
	json_t *stats;
	char *reply;

	job->waiting = false;
	if (job->cancelled && strcmp(job->req.command, "remove")) {
		job_finish(job, NULL);
		return;
	}
	if (is_failure(payload, len) || (len == 4 && !memcmp(payload, "None", 4))) {
		job_finish(job, "error");
		return;
	}
	if (strcmp(job->req.command, "remove")) {
		reply = strndup(payload, len);
		job_finish(job, reply ? reply : "error");
		free(reply);
		return;
	}
	/* remove: the relay's final statistics */
	rec = records_find(d->records, job->req.call_id);
	stats = json_loadb(payload, len, 0, NULL);
	if (!json_is_object(stats)) {
		log_warn("session %s: relay %s sent undecodable statistics", job->req.call_id, relay_ip(relay));
		json_decref(stats);
		job_finish(job, "removed");
		return;
	}
	session_ended(d, rec, stats, payload, len, false, false);
	json_decref(stats);
	records_delete(d->records, job->req.call_id);
	job_finish(job, "removed");
}

struct dispatch_job *dispatch_request(struct dispatch *d, struct proxy_request *req, dispatch_reply_cb cb, void *ctx)
{
	struct dispatch_job *job = calloc(1, sizeof(*job));
	struct record *rec;
	struct relay *relay;
	bool update;

	if (!job) {
		proxy_request_free(req);
		cb(ctx, "error");
		return NULL;
	}
	*job = (struct dispatch_job){ .d = d, .req = *req, .cb = cb, .ctx = ctx };
	proxy_request_init(req);
	clock_gettime(CLOCK_MONOTONIC, &job->started);
	job->deadline = job->started;
	job->deadline.tv_nsec += (long)DISPATCH_BUDGET_MS * 1000000;
	job->deadline.tv_sec += job->deadline.tv_nsec / 1000000000;
	job->deadline.tv_nsec %= 1000000000;

	update = !strcmp(job->req.command, "update");
	if ((!update && strcmp(job->req.command, "remove")) || job->req.malformed || job->req.too_long ||
	    !job->req.call_id) {
		log_warn("proxy request refused: %s", job->req.malformed ? "a header line without ': '" :
						     job->req.too_long ? "its header lines are over 65,472 bytes" :
						     !job->req.call_id ? "no call_id" : "unknown command");
		job->refused = true;
		job_finish(job, "error");
		return NULL;
	}
	rec = records_find(d->records, job->req.call_id);
	if (rec && !rec->expire_time) {
		relay = relays_find(d->relays, rec->relay_ip);
		if (!relay || relay_send(relay, job->req.command, job->req.headers, job->req.headers_len,
					 command_timeout(job), existing_session_answer, job)) {
			log_warn("session %s: relay %s is not connected", job->req.call_id, rec->relay_ip);
			job_finish(job, "error");
			return NULL;
		}
		job->waiting = true;
		return job;
	}
	if (!update) {
		/* the BYE after we had the proxy end a timed-out dialog (doc/proxy-protocol.md §9) */
		if (rec)
			records_delete(d->records, job->req.call_id);
		job_finish(job, rec ? "removed" : "error");
		return NULL;
	}
	choose_relays(job);
	return try_next_relay(job) ? job : NULL;
}

/* ---- relays coming and going (doc/proxy-protocol.md §7.4, §7.5) --------------------------------------- */

struct purge {
	struct dispatch *d;
	const char *ip;
	json_t *reported; /* call_id -> true */
	unsigned purged, adopted;
};

static void purge_record(void *ctx, struct record *rec)
{
	struct purge *p = ctx;

	if (rec->expire_time || strcmp(rec->relay_ip, p->ip) || json_object_get(p->reported, rec->call_id))
		return;
	if (rec->dialog_id)
		end_dialog(p->d, rec);
	p->purged++;
	records_delete(p->d->records, rec->call_id);
}

static void sessions_answer(void *ctx, struct relay *relay, const char *payload, size_t len)
{
	struct purge p = { .d = ctx, .ip = relay_ip(relay), .reported = json_object() };
	json_t *list = payload ? json_loadb(payload, len, 0, NULL) : NULL;
	size_t i;
	json_t *s;

	if (!json_is_array(list)) {
		log_warn("relay %s: no usable answer to sessions; its records stay", p.ip);
	} else {
		json_array_foreach(list, i, s) {
			const char *call_id = json_string_value(json_object_get(s, "call_id"));

			if (!call_id)
				continue;
			json_object_set(p.reported, call_id, json_true());
			/* after a dispatcher restart: the relay's calls stay with it */
			if (!records_find(p.d->records, call_id) && records_put(p.d->records, call_id, p.ip, NULL))
				p.adopted++;
		}
		records_each(p.d->records, purge_record, &p);
		if (p.purged)
			log_info("relay %s: %u sessions it no longer has were forgotten", p.ip, p.purged);
		if (p.adopted)
			log_info("relay %s: %u sessions taken over from its report", p.ip, p.adopted);
	}
	json_decref(list);
	json_decref(p.reported);
}

static void relay_up(void *ctx, struct relay *relay)
{
	struct dispatch *d = ctx;

	for (struct dead_relay **q = &d->dead; *q; q = &(*q)->next)
		if (!strcmp((*q)->ip, relay_ip(relay))) {
			struct dead_relay *dead = *q;

			*q = dead->next;
			event_free(dead->timer);
			free(dead);
			break;
		}
	relay_send(relay, "sessions", "", 0, d->cfg->dispatcher.relay_timeout * 1000, sessions_answer, d);
}

struct forget {
	struct dispatch *d;
	const char *ip;
	unsigned count;
};

static void forget_record(void *ctx, struct record *rec)
{
	struct forget *f = ctx;

	if (!strcmp(rec->relay_ip, f->ip)) {
		records_delete(f->d->records, rec->call_id);
		f->count++;
	}
}

static void dead_relay_expired(evutil_socket_t fd, short what, void *arg)
{
	struct dead_relay *dead = arg;
	struct dispatch *d = dead->d;
	struct forget f = { .d = d, .ip = dead->ip };

	records_each(d->records, forget_record, &f);
	log_info("relay %s stayed away: %u of its sessions forgotten", dead->ip, f.count);
	for (struct dead_relay **q = &d->dead; *q; q = &(*q)->next)
		if (*q == dead) {
			*q = dead->next;
			break;
		}
	event_free(dead->timer);
	free(dead);
}

static void relay_down(void *ctx, const char *ip)
{
	struct dispatch *d = ctx;
	struct dead_relay *dead = calloc(1, sizeof(*dead));
	struct timeval after = { .tv_sec = d->cfg->dispatcher.cleanup_dead_relays_after };

	if (!dead || !(dead->timer = evtimer_new(d->base, dead_relay_expired, dead))) {
		free(dead);
		return;
	}
	dead->d = d;
	snprintf(dead->ip, sizeof(dead->ip), "%s", ip);
	evtimer_add(dead->timer, &after);
	dead->next = d->dead;
	d->dead = dead;
}

/* doc/proxy-protocol.md §9: a session the relay ended by itself. */
static void relay_expired(void *ctx, struct relay *relay, const char *json, size_t len)
{
	struct dispatch *d = ctx;
	json_t *stats = json_loadb(json, len, 0, NULL), *streams = json_object_get(stats, "streams"), *s;
	const char *call_id = json_string_value(json_object_get(stats, "call_id"));
	struct record *rec = call_id ? records_find(d->records, call_id) : NULL;
	bool was_answered = answered(stats);
	/* a report without streams is malformed: it ended on a timeout, not on ICE */
	bool all_ice = json_array_size(streams) > 0;
	size_t i;

	if (!rec || strcmp(rec->relay_ip, relay_ip(relay))) {
		log_info("relay %s: expired session %s is not one of its records; ignored", relay_ip(relay),
			 call_id ? call_id : "(unreadable)");
		json_decref(stats);
		return;
	}
	if (!json_is_array(streams) || !json_array_size(streams))
		log_warn("relay %s: malformed expired report for session %s (no streams); ended as timed out",
			 relay_ip(relay), call_id);
	json_array_foreach(streams, i, s)
		if (strcmp(json_string_value(json_object_get(s, "status")) ?: "", "unselected ICE candidate"))
			all_ice = false;
	session_ended(d, rec, stats, json, len, true, all_ice);
	json_decref(stats);
	if (rec->dialog_id && was_answered && !all_ice) {
		end_dialog(d, rec);
		rec->expire_time = time(NULL); /* the proxy's remove gets `removed` locally */
	} else {
		records_delete(d->records, rec->call_id);
	}
}

/* doc/relay-protocol.md §9.2: the answer to a command that had failed for
 * want of it in time.  A remove's carries the session's final statistics:
 * its record was kept for them, and they are accounted now.
 */
static void relay_late(void *ctx, struct relay *relay, const char *command, const char *payload, size_t len)
{
	struct dispatch *d = ctx;
	json_t *stats;
	const char *call_id;
	struct record *rec;

	if (strcmp(command, "remove") || is_failure(payload, len))
		return;
	stats = json_loadb(payload, len, 0, NULL);
	call_id = json_string_value(json_object_get(stats, "call_id"));
	rec = call_id ? records_find(d->records, call_id) : NULL;
	if (rec && !strcmp(rec->relay_ip, relay_ip(relay))) {
		session_ended(d, rec, stats, payload, len, false, false);
		records_delete(d->records, rec->call_id);
	}
	json_decref(stats);
}

/* ---- life cycle ------------------------------------------------------------------------ */

struct cleanup {
	struct dispatch *d;
	time_t before;
	unsigned count;
};

static void cleanup_record(void *ctx, struct record *rec)
{
	struct cleanup *c = ctx;

	if (rec->expire_time && rec->expire_time < c->before) {
		records_delete(c->d->records, rec->call_id);
		c->count++;
	}
}

static void cleanup_expired(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch *d = arg;
	struct cleanup c = { .d = d, .before = time(NULL) - (time_t)d->cfg->dispatcher.cleanup_expired_sessions_after };

	records_each(d->records, cleanup_record, &c);
	if (c.count)
		log_info("%u expired sessions the proxy never removed were forgotten", c.count);
}

struct dispatch *dispatch_new(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
			      struct accounting *accounting, struct proxy_control *proxy_control)
{
	struct dispatch *d = calloc(1, sizeof(*d));
	struct timeval every = { .tv_sec = EXPIRED_CLEANUP_INTERVAL };
	struct relays_events events;

	if (!d)
		return NULL;
	d->base = base;
	d->cfg = cfg;
	d->accounting = accounting;
	d->proxy_control = proxy_control;
	events = (struct relays_events){ .ctx = d, .up = relay_up, .down = relay_down, .expired = relay_expired,
					     .late = relay_late };
	d->records = records_new();
	d->cleanup = event_new(base, -1, EV_PERSIST, cleanup_expired, d);
	if (!d->records || !d->cleanup || event_add(d->cleanup, &every) ||
	    !(d->relays = relays_new(base, cfg, tls, &events))) {
		dispatch_free(d);
		return NULL;
	}
	return d;
}

void dispatch_free(struct dispatch *d)
{
	if (!d)
		return;
	relays_free(d->relays); /* fails pending commands: their jobs finish */
	while (d->dead) {
		struct dead_relay *dead = d->dead;

		d->dead = dead->next;
		event_free(dead->timer);
		free(dead);
	}
	if (d->cleanup)
		event_free(d->cleanup);
	records_free(d->records);
	free(d);
}

struct relays *dispatch_relays(struct dispatch *d)
{
	return d->relays;
}

unsigned dispatch_session_count(const struct dispatch *d)
{
	return records_count(d->records);
}

struct record_counts {
	unsigned live, ending;
};

static void count_record(void *ctx, struct record *rec)
{
	struct record_counts *n = ctx;

	if (rec->expire_time)
		n->ending++;
	else
		n->live++;
}

void dispatch_record_counts(struct dispatch *d, unsigned *live, unsigned *ending)
{
	struct record_counts n = { 0 };

	records_each(d->records, count_record, &n);
	*live = n.live;
	*ending = n.ending;
}

const struct dispatch_counters *dispatch_counters(const struct dispatch *d)
{
	return &d->counters;
}
