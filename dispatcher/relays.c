#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include "lines.h"
#include "listener.h"
#include "log.h"
#include "relays.h"

/* The relays' `sessions` answer is one line holding every session. */
#define RELAY_LINE_MAX (64 * 1024 * 1024)

/* A command's timer runs in up to three stages (doc/relay-protocol.md §9.2). */
enum pending_stage {
	PENDING_WAITING,  /* until the caller's deadline */
	PENDING_OVERDUE,  /* the caller was told it failed; relay_timeout not yet up */
	PENDING_LATE,     /* relay_timeout passed: the relay is marked timed out */
};

struct pending {
	struct pending *next;
	struct relay *relay;
	unsigned long seq;
	char command[16];
	enum pending_stage stage;
	unsigned overdue_ms; /* from the caller's deadline to relay_timeout */
	struct event *timer;
	relay_reply_cb cb; /* NULL once failed: a late answer goes to events.late */
	void *ctx;
};

struct relay {
	struct relay *next;
	struct relays *relays;
	char ip[INET_ADDRSTRLEN];
	struct bufferevent *bev;
	SSL *ssl;
	bool authenticated;
	struct mp_handshake *handshake; /* until authenticated */
	bool halting;        /* answered `halting`: no new sessions on this connection */
	bool timed_out;      /* a command timed out: no new sessions until a ping */
	unsigned long next_seq;
	struct pending *pending;
	struct event *recover; /* drops a timed-out relay that never pings again */
};

struct relays {
	struct event_base *base;
	const struct mp_config *cfg;
	struct mp_tls *tls;
	struct relays_events events;
	struct mp_listener *listener;
	struct event *reverify;
	struct relay *list;
	struct relays_counters counters;
};

const char *relay_ip(const struct relay *r)
{
	return r->ip;
}

bool relay_usable(const struct relay *r)
{
	return r->authenticated && !r->halting && !r->timed_out;
}

bool relay_halting(const struct relay *r)
{
	return r->halting;
}

bool relay_unresponsive(const struct relay *r)
{
	return r->timed_out;
}

const struct relays_counters *relays_counters(const struct relays *t)
{
	return &t->counters;
}

static void count_refusal(struct relays *t, enum mp_tls_refusal why)
{
	if (why < MP_TLS_REFUSAL_MAX)
		t->counters.tls_refused[why]++;
}

struct relay *relays_find(struct relays *t, const char *ip)
{
	for (struct relay *r = t->list; r; r = r->next)
		if (r->authenticated && !strcmp(r->ip, ip))
			return r;
	return NULL;
}

unsigned relays_list(struct relays *t, bool usable_only, struct relay **out, unsigned max)
{
	unsigned n = 0;

	for (struct relay *r = t->list; r && n < max; r = r->next)
		if (r->authenticated && (!usable_only || relay_usable(r)))
			out[n++] = r;
	return n;
}

static void pending_finish(struct pending *p, const char *payload, size_t len)
{
	struct relay *r = p->relay;

	for (struct pending **q = &r->pending; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	event_free(p->timer);
	if (p->cb)
		p->cb(p->ctx, r, payload, len);
	else if (payload && r->relays->events.late)
		r->relays->events.late(r->relays->events.ctx, r, p->command, payload, len);
	free(p);
}

/* Fails its commands, tells the owner, frees it. */
static void relay_drop(struct relay *r, const char *why)
{
	struct relays *t = r->relays;
	bool was_up = r->authenticated;

	for (struct relay **q = &t->list; *q; q = &(*q)->next)
		if (*q == r) {
			*q = r->next;
			break;
		}
	if (was_up)
		log_info("relay %s: connection closed (%s)", r->ip, why);
	while (r->pending)
		pending_finish(r->pending, NULL, 0);
	if (r->recover)
		event_free(r->recover);
	mp_handshake_end(r->handshake);
	if (r->ssl)
		mp_tls_close_notify(r->ssl);
	bufferevent_free(r->bev);
	if (was_up && t->events.down)
		t->events.down(t->events.ctx, r->ip);
	free(r);
}

static void recover_expired(evutil_socket_t fd, short what, void *arg)
{
	relay_drop(arg, "no ping since a command timed out");
}

/* The caller's deadline may be shorter than relay_timeout (a failover must
 * fit in the proxy's): it fails the command for the caller, but only
 * relay_timeout without an answer marks the relay timed out.  A relay
 * answering in 200 ms on a busy moment stays in service.
 */
static void command_timed_out(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct relay *r = p->relay;
	struct timeval recover = { .tv_sec = r->relays->cfg->dispatcher.relay_recover_interval };
	struct timeval overdue = { .tv_sec = p->overdue_ms / 1000, .tv_usec = (p->overdue_ms % 1000) * 1000 };

	if (p->stage == PENDING_WAITING && p->overdue_ms) {
		p->stage = PENDING_OVERDUE;
		p->cb(p->ctx, r, NULL, 0);
		p->cb = NULL;
		evtimer_add(p->timer, &overdue);
		return;
	}
	if (p->stage == PENDING_LATE) { /* no late answer either */
		pending_finish(p, NULL, 0);
		return;
	}
	log_warn("relay %s: no answer to command %lu in time", r->ip, p->seq);
	if (!r->timed_out) {
		r->timed_out = true;
		r->relays->counters.unresponsive++;
		if (!r->recover)
			r->recover = evtimer_new(r->relays->base, recover_expired, r);
		if (r->recover)
			evtimer_add(r->recover, &recover);
	}
	/* its answer may still come, for as long as the relay may stay
	 * connected without a ping */
	if (p->cb)
		p->cb(p->ctx, r, NULL, 0);
	p->cb = NULL;
	p->stage = PENDING_LATE;
	evtimer_add(p->timer, &recover);
}

int relay_send(struct relay *r, const char *command, const char *headers, size_t headers_len,
	       unsigned timeout_ms, relay_reply_cb cb, void *ctx)
{
	struct pending *p = calloc(1, sizeof(*p));
	struct evbuffer *out = evbuffer_new();
	struct timeval timeout = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	unsigned relay_timeout_ms;

	if (!p || !out || !(p->timer = evtimer_new(r->relays->base, command_timed_out, p)))
		goto fail;
	p->relay = r;
	p->seq = r->next_seq++;
	snprintf(p->command, sizeof(p->command), "%s", command);
	relay_timeout_ms = r->relays->cfg->dispatcher.relay_timeout * 1000;
	p->overdue_ms = timeout_ms < relay_timeout_ms ? relay_timeout_ms - timeout_ms : 0;
	p->cb = cb;
	p->ctx = ctx;
	/* one write: lines of two commands never interleave */
	if (evbuffer_add_printf(out, "%s %lu\r\n", command, p->seq) < 0 ||
	    evbuffer_add(out, headers, headers_len) || evbuffer_add(out, "\r\n", 2) ||
	    bufferevent_write_buffer(r->bev, out))
		goto fail;
	evbuffer_free(out);
	evtimer_add(p->timer, &timeout);
	p->next = r->pending;
	r->pending = p;
	return 0;
fail:
	if (p && p->timer)
		event_free(p->timer);
	free(p);
	if (out)
		evbuffer_free(out);
	return -1;
}

/* "<seq> <payload>", "ping", "expired <json>"; anything else is logged. */
static void relay_line(struct relay *r, char *line, size_t len)
{
	struct relays *t = r->relays;
	char *space = memchr(line, ' ', len), *end;
	unsigned long seq;

	if (len == 4 && !memcmp(line, "ping", 4)) {
		bufferevent_write(r->bev, "pong\r\n", 6);
		if (r->timed_out)
			log_info("relay %s: pinged again, takes new sessions", r->ip);
		r->timed_out = false;
		if (r->recover)
			evtimer_del(r->recover);
		return;
	}
	if (space && space - line == 7 && !memcmp(line, "expired", 7)) {
		if (t->events.expired)
			t->events.expired(t->events.ctx, r, space + 1, len - 8);
		return;
	}
	errno = 0;
	seq = space ? strtoul(line, &end, 10) : 0;
	if (space && end == space && !errno)
		for (struct pending *p = r->pending; p; p = p->next)
			if (p->seq == seq) {
				size_t payload_len = len - (size_t)(space + 1 - line);

				if (payload_len == 7 && !memcmp(space + 1, "halting", 7) && !r->halting) {
					log_info("relay %s: halting, no new sessions for it", r->ip);
					r->halting = true;
				}
				if (!p->cb)
					log_info("relay %s: the answer to %s %lu came after its time", r->ip, p->command, seq);
				pending_finish(p, space + 1, payload_len);
				return;
			}
	log_warn("relay %s: unexpected line '%.*s'", r->ip, len > 80 ? 80 : (int)len, line);
}

static void relay_readable(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	enum mp_frame_status status;
	size_t len;
	char *line;

	while ((status = mp_line_take(bufferevent_get_input(bev), RELAY_LINE_MAX, &line, &len)) == MP_FRAME_READY) {
		relay_line(r, line, len);
		free(line);
	}
	if (status != MP_FRAME_PARTIAL)
		relay_drop(r, status == MP_FRAME_NO_MEMORY ? "out of memory" : "line too long");
}

/* One connection per relay address: a newer one replaces the older. */
static void relay_authenticated(struct relay *r)
{
	struct relays *t = r->relays;
	struct relay *old = relays_find(t, r->ip);
	char subject[256];

	if (old)
		relay_drop(old, "replaced by a new connection from the same address");
	mp_handshake_end(r->handshake);
	r->handshake = NULL;
	r->authenticated = true;
	log_info("relay %s connected (%s)", r->ip, mp_tls_peer_subject(r->ssl, subject, sizeof(subject)));
	if (t->events.up)
		t->events.up(t->events.ctx, r);
}

static void relay_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (mp_tls_check_passport(r->ssl, &r->relays->cfg->dispatcher.passport, why, sizeof(why))) {
			log_warn("relay %s refused due to wrong passport: %s", r->ip, why);
			count_refusal(r->relays, MP_TLS_REFUSED_PASSPORT);
			relay_drop(r, "wrong passport");
			return;
		}
		relay_authenticated(r);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long ssl_err = bufferevent_get_openssl_error(bev);

		mp_tls_error_reason(r->ssl, ssl_err, why, sizeof(why));
		if (!r->authenticated) {
			log_warn("relay %s refused: %s", r->ip, why);
			count_refusal(r->relays, mp_tls_refusal(r->ssl, ssl_err));
		}
		relay_drop(r, why);
	} else if (what & BEV_EVENT_EOF) {
		relay_drop(r, "closed by the relay");
	}
}

static void handshake_expired(void *conn)
{
	struct relay *r = conn;

	count_refusal(r->relays, MP_TLS_REFUSED_TIMEOUT);
	relay_drop(r, "no TLS handshake in time");
}

static void relay_accept(void *arg, evutil_socket_t fd, struct sockaddr *addr, int len)
{
	struct relays *t = arg;
	struct relay *r = calloc(1, sizeof(*r));

	if (!r || !(r->ssl = mp_tls_new_ssl(t->tls))) {
		evutil_closesocket(fd);
		free(r);
		return;
	}
	r->relays = t;
	inet_ntop(AF_INET, &((struct sockaddr_in *)addr)->sin_addr, r->ip, sizeof(r->ip));
	/* small request lines: not held back by Nagle until the relay's delayed ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	r->bev = bufferevent_openssl_socket_new(t->base, fd, r->ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!r->bev) {
		SSL_free(r->ssl);
		evutil_closesocket(fd);
		free(r);
		return;
	}
	bufferevent_setcb(r->bev, relay_readable, NULL, relay_event, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	r->next = t->list;
	t->list = r;
	if (!(r->handshake = mp_handshake_start(t->listener, handshake_expired, r)))
		relay_drop(r, "out of memory");
}

/* doc/relay-protocol.md §3.3: every verify_interval, a fresh CRL and a check of every peer. */
static void reverify_all(evutil_socket_t fd, short what, void *arg)
{
	struct relays *t = arg;
	char why[256];

	mp_tls_reload_crl(t->tls);
	for (struct relay *r = t->list, *next; r; r = next) {
		next = r->next;
		if (r->authenticated && mp_tls_reverify(t->tls, r->ssl, why, sizeof(why))) {
			log_warn("relay %s: its certificate no longer verifies (%s)", r->ip, why);
			relay_drop(r, why);
		}
	}
}

struct relays *relays_new(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
			  const struct relays_events *events)
{
	struct relays *t = calloc(1, sizeof(*t));
	struct sockaddr_in addr;
	struct timeval every = { .tv_sec = cfg->tls.verify_interval };
	const char *host = cfg->dispatcher.listen.host;
	static const struct mp_listener_opts listen_opts = {
		.name = "the relay port", .fd_reserve = MP_FD_RESERVE, .max_handshakes = MP_HANDSHAKES_MAX
	};
	struct evconnlistener *evl;

	if (!t)
		return NULL;
	*t = (struct relays){ .base = base, .cfg = cfg, .tls = tls, .events = *events };
	if (mp_listener_address(&cfg->dispatcher.listen, &addr)) {
		log_err("[Dispatcher] listen: '%s' is not an IPv4 address", host);
		goto fail;
	}
	evl = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
				      (struct sockaddr *)&addr, sizeof(addr));
	if (!evl || !(t->listener = mp_listener_new(evl, &listen_opts, relay_accept, t))) {
		log_err("cannot listen for relays on %s:%u: %s", host, cfg->dispatcher.listen.port, strerror(errno));
		goto fail;
	}
	t->reverify = event_new(base, -1, EV_PERSIST, reverify_all, t);
	if (!t->reverify || event_add(t->reverify, &every))
		goto fail;
	log_info("listening for relays on %s:%u", host, cfg->dispatcher.listen.port);
	return t;
fail:
	relays_free(t);
	return NULL;
}

void relays_free(struct relays *t)
{
	if (!t)
		return;
	while (t->list)
		relay_drop(t->list, "dispatcher stopping");
	mp_listener_free(t->listener);
	if (t->reverify)
		event_free(t->reverify);
	free(t);
}
