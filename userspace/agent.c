#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "agent.h"
#include "clock.h"
#include "log.h"
#include "media.h"
#include "port_pool.h"
#include "session.h"
#include "session_json.h"
#include "state.h"

/* State changes are written at most this often (a burst of requests or
 * latches is one write).  Each write forks, and after a fork every page the
 * agent touches is copied: at 10 writes a second that halved the requests a
 * relay serves (make bench: 1,800 against 4,300 calls/s).  A crash loses at
 * most this much; a restart (SIGQUIT) saves everything.
 */
static const struct timeval save_delay = { .tv_sec = 1 };

struct agent {
	struct event_base *base;
	struct in_addr relay_ip;
	struct port_pool *pool;
	struct sessions *sessions;
	struct media *media;
	struct forwarder *fwd;
	const struct fastpath *fastpath; /* NULL unless the BPF tier runs */
	time_t started;
	/* bps_relayed (doc/relay-sessions.md §13) */
	struct event *sampler;
	unsigned sampling_period;
	uint64_t ended_bytes;      /* bytes of sessions ended since the last sample */
	uint64_t sampled_bytes;    /* the total at the last sample */
	bool has_sample;
	double bps_relayed;
	bool draining;             /* graceful shutdown: stop when no session is left */
	void (*report)(void *ctx, void *origin, const char *json);
	void *report_ctx;
	struct state_origins origins;
	/* the calls' state, for a restart that keeps them */
	char state_path[PATH_MAX];
	struct event *saver;
	pid_t saver_child; /* writing the last snapshot; 0: none */
};

/* Thousands of sessions take long enough to write (about 70 us each) to
 * stall requests: a forked child writes a snapshot while the agent goes on,
 * one child at a time.
 */
static void save_state(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	pid_t child;

	if (a->saver_child && waitpid(a->saver_child, NULL, WNOHANG) == 0) {
		evtimer_add(a->saver, &save_delay);
		return;
	}
	child = fork();
	if (child == 0)
		_exit(state_save(a->state_path, a->sessions, &a->origins) ? 1 : 0);
	a->saver_child = child > 0 ? child : 0;
	if (child < 0)
		state_save(a->state_path, a->sessions, &a->origins);
}

/* Before the agent writes or removes the state itself: a child still
 * writing would replace it with an older snapshot.
 */
static void stop_saving(struct agent *a)
{
	evtimer_del(a->saver);
	if (a->saver_child)
		waitpid(a->saver_child, NULL, 0);
	a->saver_child = 0;
}

static void state_changed(void *ctx)
{
	struct agent *a = ctx;

	if (!evtimer_pending(a->saver, NULL))
		evtimer_add(a->saver, &save_delay);
}

static uint64_t session_bytes(const struct session *s)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < s->stream_count; i++)
		for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++)
			total += s->streams[i]->party[side].rtp.bytes + s->streams[i]->party[side].rtcp.bytes;
	return total;
}

/* Appends the statistics of an ended session to `out` (may be NULL), reports
 * it when it `expired`, then frees it.
 */
static void session_done(struct agent *a, struct session *s, struct evbuffer *out, bool expired)
{
	json_t *json = session_stats_json(s, clock_now().wall);
	char *text = json ? session_json_text(json) : NULL;

	a->ended_bytes += session_bytes(s);
	if (out)
		evbuffer_add_printf(out, "%s", text ? text : "error");
	if (expired) {
		log_info("expired %s", text ? text : s->call_id);
		if (a->report && text)
			a->report(a->report_ctx, s->owner, text);
	}
	free(text);
	json_decref(json);
	session_free(s);
	if (a->draining && !sessions_count(a->sessions)) {
		log_info("halting: the last session ended");
		/* a moment for the reply that ended it to go out */
		event_base_loopexit(a->base, &(struct timeval){ .tv_usec = 100000 });
	}
}

static void session_expired(void *ctx, struct session *s)
{
	session_done(ctx, s, NULL, true);
}

static void sync_all(struct agent *a)
{
	for (struct session *s = sessions_first(a->sessions); s; s = s->next)
		media_sync_counters(a->media, s);
}

static void reply_json(struct evbuffer *reply, json_t *json)
{
	char *text = json ? session_json_text(json) : NULL;

	evbuffer_add_printf(reply, "%s", text ? text : "error");
	free(text);
	json_decref(json);
}

void agent_set_fastpath(struct agent *a, const struct fastpath *fp)
{
	a->fastpath = fp;
}

void agent_stats(struct agent *a, bool map_fill, struct relay_stats *out)
{
	uint64_t now_ns = clock_now().mono_ns;

	memset(out, 0, sizeof(*out));
	out->uptime = (uint64_t)(time(NULL) - a->started);
	out->tier = a->fwd->tier;
	out->sessions = sessions_count(a->sessions);
	for (const struct session *s = sessions_first(a->sessions); s; s = s->next)
		for (unsigned i = 0; i < s->stream_count; i++)
			out->streams[s->streams[i]->status]++;
	out->pairs_total = port_pool_total(a->pool);
	out->pairs_free = port_pool_free_count(a->pool);
	out->pairs_quarantined = port_pool_quarantined_count(a->pool, now_ns);
	out->pairs_unusable = port_pool_bad_count(a->pool);
	out->media = *media_counters(a->media);
	out->fast_path = a->fastpath != NULL;
	if (a->fastpath)
		fastpath_stats_read(a->fastpath, map_fill, &out->fastpath);
}

void agent_handle(struct agent *a, void *origin, const struct request *req, struct evbuffer *reply)
{
	struct clock_reading now = clock_now();
	struct relay_status status = { .relay_ip = a->relay_ip, .version = MP_VERSION };
	struct relay_stats stats;
	char ports[UPDATE_REPLY_LEN];
	struct session *s;

	if (req->command == COMMAND_UPDATE || req->command == COMMAND_REMOVE)
		state_changed(a);
	switch (req->command) {
	case COMMAND_UPDATE:
		switch (sessions_update(a->sessions, req, &now, ports, sizeof(ports), &s)) {
		case UPDATE_PORTS:
			evbuffer_add_printf(reply, "%s", ports);
			/* its expiry is reported to the dispatcher that created it */
			if (!s->owner)
				s->owner = origin;
			break;
		case UPDATE_HALTING:
			evbuffer_add_printf(reply, "halting");
			break;
		case UPDATE_ERROR:
			evbuffer_add_printf(reply, "error");
			break;
		}
		break;
	case COMMAND_REMOVE:
		s = sessions_find(a->sessions, req->call_id, req->from_tag, req->to_tag);
		if (s)
			media_sync_counters(a->media, s);
		s = sessions_remove(a->sessions, req, &now);
		if (s)
			session_done(a, s, reply, false);
		else
			evbuffer_add_printf(reply, "error");
		break;
	case COMMAND_SESSIONS:
		sync_all(a);
		reply_json(reply, sessions_json(a->sessions, now.wall));
		break;
	case COMMAND_SUMMARY:
		agent_stats(a, false, &stats);
		status.uptime = stats.uptime;
		status.has_traffic_sample = a->has_sample;
		status.bps_relayed = a->bps_relayed;
		status.stats = &stats;
		reply_json(reply, summary_json(a->sessions, &status));
		break;
	}
}

static void sample_traffic(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	uint64_t total = a->ended_bytes;

	sync_all(a);
	for (struct session *s = sessions_first(a->sessions); s; s = s->next)
		total += session_bytes(s);
	a->bps_relayed = (double)(total - a->sampled_bytes) * 8 / a->sampling_period;
	a->sampled_bytes = total - a->ended_bytes;
	a->ended_bytes = 0;
	a->has_sample = true;
}

struct agent *agent_new(struct event_base *base, const struct mp_config *cfg, struct in_addr relay_ip,
			struct forwarder *fwd, const char *runtime_dir)
{
	const struct media_config media_cfg = {
		.stream_timeout = cfg->relay.stream_timeout,
		.on_hold_timeout = cfg->relay.on_hold_timeout,
		.idle_timeout = cfg->relay.stream_idle_timeout,
		.transmit_every = cfg->relay.userspace_transmit_every,
		.routable_private_ranges = cfg->relay.routable_private_ranges,
		.auto_detect_interfaces = mp_config_auto_detect_interfaces(cfg),
		.relay_ip = relay_ip,
		.rtp_stats = cfg->relay.rtp_stats,
	};
	const struct sessions_config sessions_cfg = { .relay_ip = relay_ip,
							 .advertised_ip = cfg->relay.advertised_ip };
	struct agent *a = calloc(1, sizeof(*a));
	struct media_owner owner;
	struct port_binder binder;
	struct session_events events;
	struct timeval period = { .tv_sec = cfg->relay.traffic_sampling_period };

	if (!a)
		return NULL;
	a->base = base;
	a->relay_ip = relay_ip;
	a->fwd = fwd;
	a->started = time(NULL);
	a->sampling_period = cfg->relay.traffic_sampling_period;
	snprintf(a->state_path, sizeof(a->state_path), "%s/%s", runtime_dir, STATE_FILE);
	owner = (struct media_owner){ .ctx = a, .expired = session_expired, .changed = state_changed };
	a->saver = evtimer_new(base, save_state, a);
	a->media = a->saver ? media_new(base, &media_cfg, fwd, &owner) : NULL;
	if (!a->media)
		goto fail;
	binder = media_port_binder(a->media);
	events = media_session_events(a->media);
	a->pool = port_pool_new(&cfg->relay.port_range, PORT_POOL_QUARANTINE_NS, &binder);
	a->sessions = a->pool ? sessions_new(&sessions_cfg, a->pool, &events) : NULL;
	if (!a->sessions)
		goto fail;
	media_set_sessions(a->media, a->sessions);
	if (a->sampling_period) {
		a->sampler = event_new(base, -1, EV_PERSIST, sample_traffic, a);
		if (!a->sampler || event_add(a->sampler, &period))
			goto fail;
	}
	return a;
fail:
	log_err("relay agent: out of memory");
	agent_free(a);
	return NULL;
}

void agent_restore(struct agent *a)
{
	int restored = state_restore(a->state_path, a->sessions, a->pool, a->media, &a->origins);

	if (restored > 0)
		log_info("restart: took over %d sessions from %s", restored, a->state_path);
}

void agent_set_reporter(struct agent *a, void (*report)(void *ctx, void *origin, const char *json), void *ctx,
			const struct state_origins *origins)
{
	a->report = report;
	a->report_ctx = ctx;
	a->origins = *origins;
}

bool agent_drain(struct agent *a)
{
	unsigned count = sessions_count(a->sessions);

	sessions_set_halting(a->sessions, true);
	a->draining = count > 0;
	if (count)
		log_info("halting: no new sessions; stopping when the last of %u ends", count);
	return a->draining;
}

void agent_stop_for_restart(struct agent *a)
{
	media_keep_forwarding(a->media);
	stop_saving(a);
	if (!state_save(a->state_path, a->sessions, &a->origins))
		log_info("stopping for a restart: %u sessions saved in %s; their media keeps flowing",
			 sessions_count(a->sessions), a->state_path);
}

void agent_expire_all(struct agent *a)
{
	struct clock_reading now = clock_now();
	struct session *s;

	sessions_set_halting(a->sessions, true);
	sync_all(a);
	while ((s = sessions_first(a->sessions))) {
		sessions_close(a->sessions, s, &now);
		session_done(a, s, NULL, true);
	}
	stop_saving(a);
	unlink(a->state_path); /* nothing left for a next start to take over */
}

void agent_free(struct agent *a)
{
	struct clock_reading now = clock_now();

	if (!a)
		return;
	if (a->sampler)
		event_free(a->sampler);
	if (a->saver) {
		stop_saving(a);
		event_free(a->saver);
	}
	if (a->sessions)
		sessions_free(a->sessions, &now);
	port_pool_free(a->pool);
	media_free(a->media);
	free(a);
}
