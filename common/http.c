#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include "http.h"
#include "listener.h"
#include "log.h"

#define HEADERS_MAX 8192
#define IO_TIMEOUT_S 10 /* evhttp's: without progress reading or writing */

/* One connection: our record beside evhttp's. */
struct conn {
	LIST_ENTRY(conn) link;
	struct mp_http *h;
	struct bufferevent *bev;
	SSL *ssl;                        /* NULL for plain HTTP */
	struct evhttp_connection *evcon; /* NULL until admitted */
	struct event *admit;
	struct mp_handshake *waiting;    /* until its request arrived */
	bool closing;                    /* closed by us: its end is no refusal */
};

struct mp_http {
	struct evhttp *evhttp;
	struct mp_listener *listener;
	struct mp_http_opts opts;
	LIST_HEAD(, conn) conns;
	unsigned count;                  /* open, and not being closed by us */
	struct mp_http_counters counters;
	struct mp_log_limit full_log, refused_log;
};

static const char *reason_phrase(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

void mp_http_reply(struct evhttp_request *req, int code, const char *content_type, struct evbuffer *body)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	char length[24];

	/* evhttp (2.1) would send a HEAD answer's body */
	if (body && evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(length, sizeof(length), "%zu", evbuffer_get_length(body));
		evhttp_add_header(headers, "Content-Length", length);
		body = NULL;
	}
	evhttp_add_header(headers, "Content-Type", content_type);
	evhttp_add_header(headers, "Cache-Control", "no-store");
	evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(headers, "Connection", "close");
	evhttp_send_reply(req, code, reason_phrase(code), body);
}

void mp_http_reply_text(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	if (body)
		evbuffer_add_printf(body, "%s\n", text);
	mp_http_reply(req, code, "text/plain; charset=utf-8", body);
	if (body)
		evbuffer_free(body);
}

const struct mp_http_route *mp_http_route_find(const struct mp_http_route *routes, unsigned count, const char *path,
					       const char **rest)
{
	for (unsigned i = 0; i < count; i++) {
		size_t len = strlen(routes[i].path);

		if (routes[i].prefix ? strncmp(path, routes[i].path, len) || !path[len] : strcmp(path, routes[i].path))
			continue;
		*rest = path + len;
		return &routes[i];
	}
	return NULL;
}

/* evhttp sees the end of the stream and frees the connection; it no
 * longer counts against the limit.
 */
static void conn_close(struct conn *c)
{
	if (!c->closing)
		c->h->count--;
	c->closing = true;
	shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
}

static void conn_free(struct conn *c)
{
	mp_handshake_end(c->waiting);
	LIST_REMOVE(c, link);
	if (!c->closing)
		c->h->count--;
	event_free(c->admit);
	free(c);
}

static void count_refusal(struct mp_http *h, enum mp_tls_refusal why)
{
	if (why < MP_TLS_REFUSAL_MAX)
		h->counters.tls_refused[why]++;
}

/* evhttp frees the connection. */
static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	char why[256];

	if (c->ssl && !c->closing && !SSL_is_init_finished(c->ssl)) {
		unsigned long ssl_err = bufferevent_get_openssl_error(c->bev);
		enum mp_tls_refusal refusal = mp_tls_refusal(c->ssl, ssl_err);

		if (refusal < MP_TLS_REFUSAL_MAX)
			mp_log_limited(&c->h->refused_log, LOG_WARNING, "%s: client refused: %s", c->h->opts.name,
				       mp_tls_error_reason(c->ssl, ssl_err, why, sizeof(why)));
		count_refusal(c->h, refusal);
	}
	conn_free(c);
}

/* No request in time, or the oldest waiting when a new one needs room. */
static void wait_over(void *arg)
{
	struct conn *c = arg;

	mp_handshake_end(c->waiting);
	c->waiting = NULL;
	c->h->counters.idle_closed++;
	if (c->ssl && !SSL_is_init_finished(c->ssl))
		count_refusal(c->h, MP_TLS_REFUSED_TIMEOUT);
	conn_close(c);
}

/* Runs right after evhttp set the connection up (the event was made active
 * in make_bev), before it reads anything.  evhttp's connection is the
 * argument of the callbacks it gives the bufferevent.
 */
static void admit(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct mp_http *h = c->h;
	void *evcon = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	bufferevent_decref(c->bev); /* make_bev's hold: evhttp freed it already when it has no callbacks */
	if (!evcon) {
		conn_free(c);
		return;
	}
	c->evcon = evcon;
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	if (!mp_listener_admit(h->listener, bufferevent_getfd(c->bev))) {
		conn_close(c);
		return;
	}
	if (h->count > h->opts.max_connections && !mp_listener_evict_oldest(h->listener)) {
		mp_log_limited(&h->full_log, LOG_WARNING, "%s: %u connections, all being answered; a new one closed",
			       h->opts.name, h->count - 1);
		conn_close(c);
		return;
	}
	if (!(c->waiting = mp_handshake_start(h->listener, wait_over, c)))
		conn_close(c);
}

/* evhttp's hook for a connection it accepted, before it takes the descriptor. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct mp_http *h = arg;
	struct conn *c = calloc(1, sizeof(*c));

	/* Returning NULL would make evhttp use a plain socket of its own: then
	 * the request finds no record and is refused (request()).
	 */
	if (!c || !(c->admit = event_new(base, -1, 0, admit, c)))
		goto fail;
	if (h->opts.tls) {
		if (!(c->ssl = mp_tls_new_ssl(h->opts.tls)))
			goto fail;
		c->bev = bufferevent_openssl_socket_new(base, -1, c->ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (!c->bev)
			SSL_free(c->ssl);
	} else {
		c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->bev)
		goto fail;
	bufferevent_incref(c->bev); /* until admit() knows whether evhttp still has it */
	c->h = h;
	LIST_INSERT_HEAD(&h->conns, c, link);
	h->count++;
	event_active(c->admit, EV_TIMEOUT, 0);
	return c->bev;
fail:
	if (c && c->admit)
		event_free(c->admit);
	free(c);
	return NULL;
}

static struct conn *conn_of(struct mp_http *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c;

	LIST_FOREACH(c, &h->conns, link)
		if (evcon && c->evcon == evcon)
			return c;
	return NULL;
}

static void request(struct evhttp_request *req, void *arg)
{
	struct mp_http *h = arg;
	struct conn *c = conn_of(h, req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL, *rest;
	const struct mp_http_route *route;
	char why[256];

	if (!c || !c->waiting) {
		mp_http_reply_text(req, 503, "not served on this connection");
		return;
	}
	mp_handshake_end(c->waiting);
	c->waiting = NULL;
	if (c->ssl && mp_tls_check_passport(c->ssl, h->opts.passport, why, sizeof(why))) {
		mp_log_limited(&h->refused_log, LOG_WARNING, "%s: client refused due to wrong passport: %s",
			       h->opts.name, why);
		count_refusal(h, MP_TLS_REFUSED_PASSPORT);
		mp_http_reply_text(req, 403, "certificate refused");
		return;
	}
	if (!path || !*path)
		path = "/";
	route = mp_http_route_find(h->opts.routes, h->opts.route_count, path, &rest);
	if (!route) {
		mp_http_reply_text(req, 404, "not found");
		return;
	}
	route->handler(h->opts.ctx, req, rest);
}

struct mp_http *mp_http_open(struct event_base *base, const struct mp_http_opts *opts)
{
	struct mp_http *h = calloc(1, sizeof(*h));
	const struct mp_listener_opts listen_opts = { .name = opts->name, .fd_reserve = MP_FD_RESERVE,
						      .waits_for = "send its request" };
	struct evconnlistener *evl = NULL;
	struct sockaddr_in addr;

	if (!h)
		return NULL;
	h->opts = *opts;
	LIST_INIT(&h->conns);
	if (mp_listener_address(opts->listen, &addr)) {
		log_err("%s: '%s' is not an IPv4 address", opts->name, opts->listen->host);
		goto fail;
	}
	if (!(h->evhttp = evhttp_new(base)))
		goto fail;
	evl = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
				      (struct sockaddr *)&addr, sizeof(addr));
	if (!evl || !evhttp_bind_listener(h->evhttp, evl)) {
		log_err("%s: cannot listen on %s:%u: %s", opts->name, opts->listen->host, opts->listen->port,
			strerror(errno));
		if (evl)
			evconnlistener_free(evl);
		goto fail;
	}
	if (!(h->listener = mp_listener_watch(evl, &listen_opts)))
		goto fail;
	evhttp_set_bevcb(h->evhttp, make_bev, h);
	evhttp_set_gencb(h->evhttp, request, h);
	evhttp_set_allowed_methods(h->evhttp, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->evhttp, HEADERS_MAX);
	evhttp_set_max_body_size(h->evhttp, 0);
	evhttp_set_timeout(h->evhttp, IO_TIMEOUT_S);
	log_info("%s on %s:%u (%s)", opts->name, opts->listen->host, opts->listen->port,
		 opts->tls ? "HTTPS, client certificates of our CA" : "plain HTTP");
	return h;
fail:
	mp_http_close(h);
	return NULL;
}

void mp_http_close(struct mp_http *h)
{
	struct conn *c;

	if (!h)
		return;
	/* the listener goes last: the waiting connections' deadlines are its */
	LIST_FOREACH(c, &h->conns, link) {
		mp_handshake_end(c->waiting);
		c->waiting = NULL;
	}
	if (h->evhttp)
		evhttp_free(h->evhttp); /* conn_closed frees the records of admitted connections */
	while ((c = LIST_FIRST(&h->conns))) {
		if (!c->evcon)
			bufferevent_decref(c->bev); /* never admitted: make_bev's hold */
		conn_free(c);
	}
	mp_listener_free(h->listener);
	free(h);
}

const struct mp_http_counters *mp_http_counters(const struct mp_http *h)
{
	return &h->counters;
}
