#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include "http.h"
#include "log.h"
#include "prom.h"
#include "session_view.h"
#include "web.h"

/* One answer of the relays serves every request of this long: a page
 * polled by many browsers, or a flood, costs the relays a few commands a
 * second at most.
 */
#define REUSE_MS 1000
#define CALL_ID_MAX 4096

enum page { PAGE_SUMMARY, PAGE_SESSIONS, PAGE_SESSION, PAGE_METRICS };

struct waiter {
	struct waiter *next;
	struct evhttp_request *req;
	enum page page;
	char *call_id; /* PAGE_SESSION */
};

/* The management interface's answer to one command, shared by the
 * requests that need it.
 */
struct answers {
	struct web *w;
	bool sessions;
	struct management_query *query; /* out now */
	struct waiter *waiters, **tail;
	struct evbuffer *last;          /* the latest answer, from `at` */
	struct timespec at;
};

struct web {
	struct mp_http *http;
	struct metrics_sources sources;
	struct answers summary, sessions;
};

static long ms_since(const struct timespec *then)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - then->tv_sec) * 1000 + (now.tv_nsec - then->tv_nsec) / 1000000;
}

static void reply_json_text(struct evhttp_request *req, const char *text, size_t len)
{
	struct evbuffer *body = evbuffer_new();

	if (!body || evbuffer_add(body, text, len)) {
		mp_http_reply_text(req, 500, "out of memory");
	} else {
		evbuffer_add(body, "\n", 1);
		mp_http_reply(req, 200, "application/json", body);
	}
	if (body)
		evbuffer_free(body);
}

int web_call_id(const char *encoded, char *out, size_t out_len)
{
	size_t n = 0;

	for (const char *p = encoded; *p; p++) {
		unsigned value;
		char hex[3];

		if (n + 1 >= out_len)
			return -1;
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		if (!p[1] || !p[2] || !strchr("0123456789abcdefABCDEF", p[1]) || !strchr("0123456789abcdefABCDEF", p[2]))
			return -1;
		memcpy(hex, p + 1, 2);
		hex[2] = '\0';
		value = (unsigned)strtoul(hex, NULL, 16);
		if (!value)
			return -1;
		out[n++] = (char)value;
		p += 2;
	}
	out[n] = '\0';
	return n ? 0 : -1;
}

/* /api/sessions/ID: the one session of that Call-ID. */
static void serve_session(struct evhttp_request *req, const char *text, size_t len, const char *call_id)
{
	json_t *sessions = json_loadb(text, len, 0, NULL), *s;
	char *found = NULL;
	size_t i;

	json_array_foreach(sessions, i, s)
		if (!strcmp(json_string_value(json_object_get(s, "call_id")) ?: "", call_id)) {
			found = json_dumps(s, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(16));
			break;
		}
	json_decref(sessions);
	if (found)
		reply_json_text(req, found, strlen(found));
	else
		mp_http_reply_text(req, 404, "no such session");
	free(found);
}

static void serve_metrics(struct web *w, struct evhttp_request *req, const char *text, size_t len)
{
	json_t *relays = json_loadb(text, len, 0, NULL);
	struct evbuffer *body = evbuffer_new();

	if (!body) {
		mp_http_reply_text(req, 500, "out of memory");
	} else {
		metrics_write(body, &w->sources, relays);
		mp_http_reply(req, 200, MP_PROM_CONTENT_TYPE, body);
		evbuffer_free(body);
	}
	json_decref(relays);
}

static void serve(struct web *w, struct evhttp_request *req, enum page page, const char *call_id,
		  struct evbuffer *answer)
{
	size_t len = answer ? evbuffer_get_length(answer) : 0;
	const char *text = answer ? (const char *)evbuffer_pullup(answer, -1) : NULL;

	if (!text) {
		mp_http_reply_text(req, 500, "out of memory");
		return;
	}
	switch (page) {
	case PAGE_SUMMARY:
	case PAGE_SESSIONS:
		reply_json_text(req, text, len);
		break;
	case PAGE_SESSION:
		serve_session(req, text, len, call_id);
		break;
	case PAGE_METRICS:
		serve_metrics(w, req, text, len);
		break;
	}
}

static void answered(void *ctx, struct evbuffer *answer)
{
	struct answers *a = ctx;
	struct waiter *waiters = a->waiters;

	a->query = NULL;
	a->waiters = NULL;
	a->tail = &a->waiters;
	if (answer && (a->last || (a->last = evbuffer_new()))) {
		evbuffer_drain(a->last, evbuffer_get_length(a->last));
		evbuffer_add_buffer(a->last, answer);
		clock_gettime(CLOCK_MONOTONIC, &a->at);
	}
	while (waiters) {
		struct waiter *next = waiters->next;

		serve(a->w, waiters->req, waiters->page, waiters->call_id, answer ? a->last : NULL);
		free(waiters->call_id);
		free(waiters);
		waiters = next;
	}
}

/* Serves `req` from the latest answer when it is fresh, else once the
 * relays answered (one query for every request that waits meanwhile).
 */
static void fetch(struct answers *a, struct evhttp_request *req, enum page page, const char *call_id)
{
	struct waiter *waiter;

	if (a->last && !a->query && ms_since(&a->at) < REUSE_MS) {
		serve(a->w, req, page, call_id, a->last);
		return;
	}
	waiter = calloc(1, sizeof(*waiter));
	if (!waiter || (call_id && !(waiter->call_id = strdup(call_id)))) {
		free(waiter);
		mp_http_reply_text(req, 500, "out of memory");
		return;
	}
	*waiter = (struct waiter){ .req = req, .page = page, .call_id = waiter->call_id };
	*a->tail = waiter;
	a->tail = &waiter->next;
	if (!a->query)
		a->query = management_query(a->w->sources.management, a->sessions, answered, a);
}

static void summary_page(void *ctx, struct evhttp_request *req, const char *rest)
{
	struct web *w = ctx;

	fetch(&w->summary, req, PAGE_SUMMARY, NULL);
}

static void sessions_page(void *ctx, struct evhttp_request *req, const char *rest)
{
	struct web *w = ctx;

	fetch(&w->sessions, req, PAGE_SESSIONS, NULL);
}

static void session_page(void *ctx, struct evhttp_request *req, const char *rest)
{
	struct web *w = ctx;
	char call_id[CALL_ID_MAX];

	if (web_call_id(rest, call_id, sizeof(call_id))) {
		mp_http_reply_text(req, 400, "not a Call-ID");
		return;
	}
	fetch(&w->sessions, req, PAGE_SESSION, call_id);
}

static void metrics_page(void *ctx, struct evhttp_request *req, const char *rest)
{
	struct web *w = ctx;

	fetch(&w->summary, req, PAGE_METRICS, NULL);
}

/* Everything it needs is in the page: nothing may be fetched from elsewhere. */
static void view_page(void *ctx, struct evhttp_request *req, const char *rest)
{
	struct evbuffer *body = evbuffer_new();

	if (!body || evbuffer_add_reference(body, session_view_html, (size_t)(session_view_html_end - session_view_html),
					    NULL, NULL)) {
		mp_http_reply_text(req, 500, "out of memory");
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Security-Policy",
				  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
				  "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'");
		mp_http_reply(req, 200, "text/html; charset=utf-8", body);
	}
	if (body)
		evbuffer_free(body);
}

/* http_use_tls = auto: plain HTTP only on a loopback address. */
static bool use_tls(const struct mp_config *cfg)
{
	struct in_addr addr;

	if (cfg->dispatcher.http_use_tls != MP_TLS_AUTO)
		return cfg->dispatcher.http_use_tls == MP_TLS_ON;
	return inet_pton(AF_INET, cfg->dispatcher.listen_http.host, &addr) != 1 ||
	       (ntohl(addr.s_addr) >> 24) != 127;
}

struct web *web_open(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
		     const struct metrics_sources *sources, bool *failed)
{
	static const struct mp_http_route routes[] = {
		{ "/", false, view_page },
		{ "/metrics", false, metrics_page },
		{ "/api/summary", false, summary_page },
		{ "/api/sessions", false, sessions_page },
		{ "/api/sessions/", true, session_page },
	};
	struct web *w;
	struct mp_http_opts opts = {
		.name = "the HTTP port", .listen = &cfg->dispatcher.listen_http, .passport = &cfg->dispatcher.http_passport,
		.max_connections = cfg->dispatcher.http_max_connections, .routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
	};

	*failed = false;
	if (!cfg->dispatcher.listen_http.host[0])
		return NULL;
	if (!(w = calloc(1, sizeof(*w)))) {
		*failed = true;
		return NULL;
	}
	w->sources = *sources;
	w->summary = (struct answers){ .w = w, .sessions = false, .tail = &w->summary.waiters };
	w->sessions = (struct answers){ .w = w, .sessions = true, .tail = &w->sessions.waiters };
	opts.tls = use_tls(cfg) ? tls : NULL;
	opts.ctx = w;
	if (!(w->http = mp_http_open(base, &opts))) {
		free(w);
		*failed = true;
		return NULL;
	}
	w->sources.http = w->http;
	return w;
}

static void answers_free(struct answers *a)
{
	if (a->query)
		management_query_cancel(a->query);
	while (a->waiters) {
		struct waiter *next = a->waiters->next;

		mp_http_reply_text(a->waiters->req, 503, "stopping");
		free(a->waiters->call_id);
		free(a->waiters);
		a->waiters = next;
	}
	if (a->last)
		evbuffer_free(a->last);
}

void web_close(struct web *w)
{
	if (!w)
		return;
	answers_free(&w->summary);
	answers_free(&w->sessions);
	mp_http_close(w->http);
	free(w);
}
