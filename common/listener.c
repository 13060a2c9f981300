#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>
#include "listener.h"
#include "log.h"

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 2000

struct mp_listener {
	LIST_ENTRY(mp_listener) link;
	struct evconnlistener *evl;
	bool owns_evl;           /* false: its accepts belong to another layer (mp_listener_watch) */
	struct mp_listener_opts opts;
	mp_accept_cb cb;
	void *ctx;
	struct event *backoff;   /* pending: paused after an accept error */
	unsigned backoff_ms;     /* the next pause; grows while errors repeat */
	TAILQ_HEAD(, mp_handshake) handshakes; /* connections still authenticating, oldest first */
	unsigned handshake_count;
	rlim_t fd_limit;
	struct mp_log_limit error_log, reserve_log, handshake_log;
};

struct mp_handshake {
	TAILQ_ENTRY(mp_handshake) link;
	struct mp_listener *l;
	struct event *timer;
	void (*expired)(void *conn);
	void *conn;
};

/* Every listener: a watched one's error callback gets its owner's argument,
 * so errors find their listener by its evconnlistener.
 */
static LIST_HEAD(, mp_listener) listeners = LIST_HEAD_INITIALIZER(listeners);

int mp_listener_address(const struct mp_endpoint *at, struct sockaddr_in *addr)
{
	*addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(at->port) };
	if (!strcmp(at->host, "any") || !strcmp(at->host, "0.0.0.0"))
		return 0;
	return inet_pton(AF_INET, at->host, &addr->sin_addr) == 1 ? 0 : -1;
}

static void pause_accepting(struct mp_listener *l)
{
	struct timeval after = { .tv_sec = l->backoff_ms / 1000, .tv_usec = (l->backoff_ms % 1000) * 1000 };

	evconnlistener_disable(l->evl);
	evtimer_add(l->backoff, &after);
	if (l->backoff_ms < BACKOFF_MAX_MS)
		l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void backoff_over(evutil_socket_t fd, short what, void *arg)
{
	struct mp_listener *l = arg;

	evconnlistener_enable(l->evl);
}

bool mp_listener_evict_oldest(struct mp_listener *l)
{
	struct mp_handshake *oldest = TAILQ_FIRST(&l->handshakes);

	if (!oldest)
		return false;
	oldest->expired(oldest->conn); /* ends it */
	return true;
}

bool mp_listener_admit(struct mp_listener *l, evutil_socket_t fd)
{
	/* descriptors are allocated lowest first: this one's number is how many
	 * are open below it */
	if (l->opts.fd_reserve && (rlim_t)fd + l->opts.fd_reserve >= l->fd_limit) {
		mp_log_limited(&l->reserve_log, LOG_WARNING,
			       "%s: descriptor %d is among the last %u of %llu, kept for the proxy socket and the "
			       "daemon's own work; connection closed, accepting paused",
			       l->opts.name, fd, l->opts.fd_reserve, (unsigned long long)l->fd_limit);
		pause_accepting(l);
		return false;
	}
	l->backoff_ms = BACKOFF_FIRST_MS;
	/* at the cap, the longest-waiting handshake makes room: idle connections
	 * cannot hold the port, and a client that talks gets in */
	if (l->opts.max_handshakes && l->handshake_count >= l->opts.max_handshakes) {
		mp_log_limited(&l->handshake_log, LOG_WARNING, "%s: %u connections authenticating; the oldest closed",
			       l->opts.name, l->handshake_count);
		mp_listener_evict_oldest(l);
	}
	return true;
}

static void accepted(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *addr, int len, void *arg)
{
	struct mp_listener *l = arg;

	if (!mp_listener_admit(l, fd)) {
		close(fd);
		return;
	}
	l->cb(l->ctx, fd, addr, len);
}

static void accept_failed(struct evconnlistener *evl, void *arg)
{
	struct mp_listener *l;
	int err = EVUTIL_SOCKET_ERROR();
	bool out_of_descriptors = err == EMFILE || err == ENFILE;

	LIST_FOREACH(l, &listeners, link)
		if (l->evl == evl)
			break;
	if (!l)
		return;
	if (err == ECONNABORTED || err == EINTR)
		return; /* that one client's problem: accept the next */
	if (out_of_descriptors && l->opts.reclaim && l->opts.reclaim(l->ctx)) {
		mp_log_limited(&l->error_log, LOG_WARNING, "%s: out of descriptors; closed an idle connection to serve a "
			       "new one", l->opts.name);
		return;
	}
	mp_log_limited(&l->error_log, LOG_ERR, "%s: cannot accept a connection: %s; accepting paused for %u ms",
		       l->opts.name, strerror(err), l->backoff_ms);
	pause_accepting(l);
}

static struct mp_listener *listener_new(struct evconnlistener *evl, const struct mp_listener_opts *opts, bool owns_evl)
{
	struct mp_listener *l = calloc(1, sizeof(*l));
	struct rlimit lim = { .rlim_cur = RLIM_INFINITY };

	if (!l || !(l->backoff = evtimer_new(evconnlistener_get_base(evl), backoff_over, l))) {
		free(l);
		if (owns_evl)
			evconnlistener_free(evl);
		return NULL;
	}
	getrlimit(RLIMIT_NOFILE, &lim);
	l->evl = evl;
	l->owns_evl = owns_evl;
	l->opts = *opts;
	l->backoff_ms = BACKOFF_FIRST_MS;
	l->fd_limit = lim.rlim_cur;
	TAILQ_INIT(&l->handshakes);
	LIST_INSERT_HEAD(&listeners, l, link);
	evconnlistener_set_error_cb(evl, accept_failed);
	return l;
}

struct mp_listener *mp_listener_new(struct evconnlistener *evl, const struct mp_listener_opts *opts, mp_accept_cb cb,
				    void *ctx)
{
	struct mp_listener *l = listener_new(evl, opts, true);

	if (!l)
		return NULL;
	l->cb = cb;
	l->ctx = ctx;
	evconnlistener_set_cb(evl, accepted, l);
	return l;
}

struct mp_listener *mp_listener_watch(struct evconnlistener *evl, const struct mp_listener_opts *opts)
{
	return listener_new(evl, opts, false);
}

void mp_listener_free(struct mp_listener *l)
{
	if (!l)
		return;
	LIST_REMOVE(l, link);
	if (l->owns_evl)
		evconnlistener_free(l->evl);
	event_free(l->backoff);
	free(l);
}

static void handshake_expired(evutil_socket_t fd, short what, void *arg)
{
	struct mp_handshake *h = arg;

	mp_log_limited(&h->l->handshake_log, LOG_WARNING, "%s: a connection did not %s within %d ms; closed",
		       h->l->opts.name, h->l->opts.waits_for ? h->l->opts.waits_for : "authenticate",
		       MP_HANDSHAKE_TIMEOUT_MS);
	h->expired(h->conn); /* ends h */
}

struct mp_handshake *mp_handshake_start(struct mp_listener *l, void (*expired)(void *conn), void *conn)
{
	struct mp_handshake *h = calloc(1, sizeof(*h));
	struct timeval after = { .tv_sec = MP_HANDSHAKE_TIMEOUT_MS / 1000,
				 .tv_usec = (MP_HANDSHAKE_TIMEOUT_MS % 1000) * 1000 };

	if (!h || !(h->timer = evtimer_new(evconnlistener_get_base(l->evl), handshake_expired, h))) {
		free(h);
		return NULL;
	}
	*h = (struct mp_handshake){ .l = l, .timer = h->timer, .expired = expired, .conn = conn };
	evtimer_add(h->timer, &after);
	TAILQ_INSERT_TAIL(&l->handshakes, h, link);
	l->handshake_count++;
	return h;
}

void mp_handshake_end(struct mp_handshake *h)
{
	if (!h)
		return;
	TAILQ_REMOVE(&h->l->handshakes, h, link);
	h->l->handshake_count--;
	event_free(h->timer);
	free(h);
}
