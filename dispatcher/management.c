#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include "lines.h"
#include "listener.h"
#include "log.h"
#include "management.h"

#define MANAGEMENT_LINE_MAX 16384
#define MAX_RELAYS 256

struct client {
	LIST_ENTRY(client) link;
	struct management *m;
	struct bufferevent *bev;
	SSL *ssl;               /* NULL over plain TCP */
	bool authenticated;
	struct mp_handshake *handshake; /* TLS, until authenticated */
	bool quitting;          /* quit: closed once the answers before it are written */
	struct management_query *query; /* a summary or sessions waiting for the relays */
};

/* One summary or sessions sent to every relay; the answer goes out when
 * all of them answered or failed.
 */
struct management_query {
	management_answer_cb cb; /* NULL once cancelled */
	void *ctx;
	bool sessions;
	unsigned count, waiting;
	char ip[MAX_RELAYS][INET_ADDRSTRLEN];
	char *answer[MAX_RELAYS]; /* NULL: failed */
};

struct management {
	struct event_base *base;
	const struct mp_config *cfg;
	struct mp_tls *tls;
	struct relays *relays;
	struct mp_listener *listener;
	LIST_HEAD(, client) clients;
	struct management_counters counters;
};

static void client_free(struct client *c)
{
	if (c->query)
		management_query_cancel(c->query);
	LIST_REMOVE(c, link);
	mp_handshake_end(c->handshake);
	if (c->ssl)
		mp_tls_close_notify(c->ssl);
	bufferevent_free(c->bev);
	free(c);
}

/* doc/management.md §3.1: the relays' own JSON texts, joined with ", " */
static struct evbuffer *joined_answers(const struct management_query *q)
{
	struct evbuffer *out = evbuffer_new();
	bool first = true;

	if (!out)
		return NULL;
	evbuffer_add(out, "[", 1);
	for (unsigned i = 0; i < q->count; i++) {
		const char *text = q->answer[i];
		size_t len = text ? strlen(text) : 0;

		if (q->sessions) {
			if (!text || len < 2 || text[0] != '[' || text[len - 1] != ']') {
				if (text || q->ip[i][0])
					log_warn("management: relay %s gave no sessions; left out", q->ip[i]);
				continue;
			}
			if (len == 2)
				continue; /* [] */
			evbuffer_add_printf(out, "%s%.*s", first ? "" : ", ", (int)(len - 2), text + 1);
		} else if (text) {
			evbuffer_add_printf(out, "%s%s", first ? "" : ", ", text);
		} else {
			evbuffer_add_printf(out, "%s{\"status\": \"error\", \"ip\": \"%s\"}", first ? "" : ", ", q->ip[i]);
		}
		first = false;
	}
	evbuffer_add(out, "]", 1);
	return out;
}

static void query_done(struct management_query *q)
{
	if (q->cb) {
		struct evbuffer *answer = joined_answers(q);

		q->cb(q->ctx, answer);
		if (answer)
			evbuffer_free(answer);
	}
	for (unsigned i = 0; i < q->count; i++)
		free(q->answer[i]);
	free(q);
}

static void relay_answered(void *ctx, struct relay *relay, const char *payload, size_t len)
{
	struct management_query *q = ctx;

	for (unsigned i = 0; i < q->count; i++)
		if (!q->answer[i] && !strcmp(q->ip[i], relay_ip(relay))) {
			bool error = !payload || (len == 5 && !memcmp(payload, "error", 5));

			q->answer[i] = error ? NULL : strndup(payload, len);
			break;
		}
	if (!--q->waiting)
		query_done(q);
}

struct management_query *management_query(struct management *m, bool sessions, management_answer_cb cb, void *ctx)
{
	struct relay *relays[MAX_RELAYS];
	struct management_query *q = calloc(1, sizeof(*q));
	unsigned n = relays_list(m->relays, false, relays, MAX_RELAYS);

	if (!q) {
		cb(ctx, NULL);
		return NULL;
	}
	q->cb = cb;
	q->ctx = ctx;
	q->sessions = sessions;
	q->waiting = 1; /* held until every command is out */
	for (unsigned i = 0; i < n; i++) {
		snprintf(q->ip[q->count], sizeof(q->ip[0]), "%s", relay_ip(relays[i]));
		q->count++;
		q->waiting++;
		if (relay_send(relays[i], sessions ? "sessions" : "summary", "", 0,
			       m->cfg->dispatcher.relay_timeout * 1000, relay_answered, q))
			q->waiting--;
	}
	if (!--q->waiting) {
		query_done(q);
		return NULL;
	}
	return q;
}

void management_query_cancel(struct management_query *q)
{
	q->cb = NULL;
}

const struct management_counters *management_counters(const struct management *m)
{
	return &m->counters;
}

static void count_refusal(struct management *m, enum mp_tls_refusal why)
{
	if (why < MP_TLS_REFUSAL_MAX)
		m->counters.tls_refused[why]++;
}

/* The answer goes out and reading resumes.  Lines that came meanwhile are
 * read from the event loop, never from here: this may run inside the
 * client's own read callback (no relay to ask), which must not be entered
 * again.
 */
static void client_answered(void *ctx, struct evbuffer *answer)
{
	struct client *c = ctx;

	c->query = NULL;
	if (!answer || evbuffer_add(answer, "\r\n", 2) || bufferevent_write_buffer(c->bev, answer))
		bufferevent_write(c->bev, "error\r\n", 7);
	bufferevent_enable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->bev)))
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void fan_out(struct client *c, bool sessions)
{
	bufferevent_disable(c->bev, EV_READ); /* answers go out in request order */
	c->query = management_query(c->m, sessions, client_answered, c);
}

/* Frees a client that quit once its answers are out.  Returns true when freed. */
static bool client_done(struct client *c)
{
	if (!c->quitting || evbuffer_get_length(bufferevent_get_output(c->bev)))
		return false;
	client_free(c);
	return true;
}

static void client_written(struct bufferevent *bev, void *arg)
{
	client_done(arg);
}

/* Returns true when the client is gone (quit). */
static bool command(struct client *c, const char *line, size_t len)
{
#define IS(word) (len == strlen(word) && !memcmp(line, word, len))
	if (IS("summary") || IS("sessions")) {
		fan_out(c, IS("sessions"));
	} else if (IS("version")) {
		bufferevent_write(c->bev, MP_VERSION "\r\n", strlen(MP_VERSION) + 2);
	} else if (IS("quit") || IS("exit")) {
		c->quitting = true;
		bufferevent_disable(c->bev, EV_READ);
		return client_done(c);
	} else {
		log_warn("management: unknown command '%.*s'", len > 64 ? 64 : (int)len, line);
		bufferevent_write(c->bev, "error\r\n", 7);
	}
	return false;
#undef IS
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	enum mp_frame_status status = MP_FRAME_PARTIAL;
	size_t len;
	char *line;

	while (c->authenticated && !c->query && !c->quitting &&
	       (status = mp_line_take(bufferevent_get_input(bev), MANAGEMENT_LINE_MAX, &line, &len)) == MP_FRAME_READY) {
		bool gone = command(c, line, len);

		free(line);
		if (gone)
			return;
	}
	if (status == MP_FRAME_TOO_LONG || status == MP_FRAME_NO_MEMORY) {
		log_warn("management: %s; closing", status == MP_FRAME_NO_MEMORY ? "out of memory" : "a line too long");
		client_free(c);
	}
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (mp_tls_check_passport(c->ssl, &c->m->cfg->dispatcher.management_passport, why, sizeof(why))) {
			log_warn("management client refused due to wrong passport: %s", why);
			count_refusal(c->m, MP_TLS_REFUSED_PASSPORT);
			client_free(c);
			return;
		}
		mp_handshake_end(c->handshake);
		c->handshake = NULL;
		c->authenticated = true;
		client_read(bev, c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (c->ssl && !c->authenticated) {
			unsigned long ssl_err = bufferevent_get_openssl_error(bev);

			log_warn("management client refused: %s", mp_tls_error_reason(c->ssl, ssl_err, why, sizeof(why)));
			count_refusal(c->m, mp_tls_refusal(c->ssl, ssl_err));
		}
		client_free(c);
	} else if (what & BEV_EVENT_EOF) {
		client_free(c);
	}
}

static void handshake_expired(void *conn)
{
	struct client *c = conn;

	count_refusal(c->m, MP_TLS_REFUSED_TIMEOUT);
	client_free(c);
}

static void client_accept(void *arg, evutil_socket_t fd, struct sockaddr *addr, int len)
{
	struct management *m = arg;
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		goto fail;
	c->m = m;
	if (m->tls) {
		c->ssl = mp_tls_new_ssl(m->tls);
		c->bev = c->ssl ? bufferevent_openssl_socket_new(m->base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
								 BEV_OPT_CLOSE_ON_FREE)
				: NULL;
	} else {
		c->bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
		c->authenticated = true;
	}
	if (!c->bev)
		goto fail;
	bufferevent_setcb(c->bev, client_read, client_written, client_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&m->clients, c, link);
	if (c->ssl && !(c->handshake = mp_handshake_start(m->listener, handshake_expired, c)))
		client_free(c);
	return;
fail:
	if (c && c->ssl)
		SSL_free(c->ssl);
	free(c);
	evutil_closesocket(fd);
}

struct management *management_open(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
				   struct relays *relays)
{
	struct management *m = calloc(1, sizeof(*m));
	const struct mp_endpoint *at = &cfg->dispatcher.listen_management;
	struct sockaddr_in addr;
	static const struct mp_listener_opts listen_opts = {
		.name = "the management port", .fd_reserve = MP_FD_RESERVE, .max_handshakes = MP_HANDSHAKES_MAX
	};
	struct evconnlistener *evl;

	if (!m)
		return NULL;
	*m = (struct management){ .base = base, .cfg = cfg, .tls = tls, .relays = relays };
	LIST_INIT(&m->clients);
	if (mp_listener_address(at, &addr)) {
		log_err("[Dispatcher] listen_management: '%s' is not an IPv4 address", at->host);
		free(m);
		return NULL;
	}
	evl = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
				      (struct sockaddr *)&addr, sizeof(addr));
	if (!evl || !(m->listener = mp_listener_new(evl, &listen_opts, client_accept, m))) {
		log_err("cannot listen for management on %s:%u: %s", at->host, at->port, strerror(errno));
		free(m);
		return NULL;
	}
	log_info("management interface on %s:%u (%s)", at->host, at->port, tls ? "TLS" : "plain TCP");
	return m;
}

void management_close(struct management *m)
{
	if (!m)
		return;
	while (!LIST_EMPTY(&m->clients))
		client_free(LIST_FIRST(&m->clients));
	mp_listener_free(m->listener);
	free(m);
}
