/* The HTTP server of both daemons (doc/management.md §8): libevent's evhttp
 * on a listener of listener.c, read-only pages, GET and HEAD only.
 *
 * - Every answer closes its connection: a connection is either waiting
 *   for its one request or being answered.
 * - A connection must deliver its request (after its TLS handshake, with
 *   TLS) within MP_HANDSHAKE_TIMEOUT_MS; at most `max_connections` are open:
 *   a new one past that closes the one that has waited longest, or is
 *   itself closed when all are being answered.  So silent or slow clients
 *   hold nobody up, and the descriptors they take are bounded.
 * - Headers over 8 KiB or a request evhttp cannot parse get 400, a body
 *   413, another method 501, from evhttp itself; an unknown path gets 404.
 * - With TLS, the client must show a certificate of our CA (mp_tls with
 *   MP_TLS_SERVER) whose subject matches `passport`, or gets 403.
 */
#ifndef MP_HTTP_H
#define MP_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>
#include <event2/http.h>
#include "config_types.h"
#include "tls.h"

struct mp_http;

/* A page: `path` exactly, or with `prefix` every longer path starting with
 * it; `rest` is what follows the prefix, still percent-encoded ("" for an
 * exact path).  The handler answers with mp_http_reply, at once or later.
 */
struct mp_http_route {
	const char *path;
	bool prefix;
	void (*handler)(void *ctx, struct evhttp_request *req, const char *rest);
};

struct mp_http_opts {
	const char *name;                 /* in log lines, e.g. "the HTTP port" */
	const struct mp_endpoint *listen;
	struct mp_tls *tls;               /* NULL: plain HTTP */
	const struct mp_passport *passport; /* with TLS; NULL or count 0: any client of our CA */
	unsigned max_connections;
	const struct mp_http_route *routes;
	unsigned route_count;
	void *ctx;                        /* the handlers' */
};

/* What the port saw since the start. */
struct mp_http_counters {
	uint64_t idle_closed;                     /* closed for sending no request in time, or to make room */
	uint64_t tls_refused[MP_TLS_REFUSAL_MAX]; /* TLS clients refused, by reason */
};

/* Listens on opts->listen; NULL (logged) when it cannot. */
struct mp_http *mp_http_open(struct event_base *base, const struct mp_http_opts *opts);
void mp_http_close(struct mp_http *h);
const struct mp_http_counters *mp_http_counters(const struct mp_http *h);

/* Answers `req` with `code`, and `body` (NULL: none) of `content_type`. */
void mp_http_reply(struct evhttp_request *req, int code, const char *content_type, struct evbuffer *body);
/* The same with one line of plain text. */
void mp_http_reply_text(struct evhttp_request *req, int code, const char *text);

/* The route `path` leads to, NULL when none does; `*rest` as for handlers. */
const struct mp_http_route *mp_http_route_find(const struct mp_http_route *routes, unsigned count, const char *path,
					       const char **rest);

#endif
