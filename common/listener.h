/* Listening sockets of both daemons that hold up when descriptors run out
 * or clients misbehave:
 * - an accept error pauses the listener with a growing back-off instead of
 *   retrying at once (libevent's default spins on it), and is logged at a
 *   limited rate;
 * - out of descriptors, the owner's `reclaim` may close one of its own
 *   connections (the proxy socket: its longest-idle client) so the new one
 *   is served;
 * - a TCP listener leaves `fd_reserve` descriptors to the rest of the
 *   daemon: a connection whose descriptor falls in the reserve is closed at
 *   once, so the proxy socket, the database and the relays still get theirs;
 * - a connection that must authenticate (TLS, passport) has a deadline, and
 *   at most `max_handshakes` are in progress: a new connection past that
 *   closes the one that has waited longest, so idle connections cannot hold
 *   the port while a client that talks still gets in.
 */
#ifndef MP_LISTENER_H
#define MP_LISTENER_H

#include <stdbool.h>
#include <netinet/in.h>
#include <event2/listener.h>
#include "config_types.h"

#define MP_FD_RESERVE 64                /* descriptors a TCP listener leaves to the rest */
#define MP_HANDSHAKES_MAX 64            /* connections authenticating at once, per listener */
#define MP_HANDSHAKE_TIMEOUT_MS 10000   /* to finish the TLS handshake and the passport check */

struct mp_listener;
struct mp_handshake;

/* A connection accepted: the owner takes the descriptor. */
typedef void (*mp_accept_cb)(void *ctx, evutil_socket_t fd, struct sockaddr *addr, int len);

struct mp_listener_opts {
	const char *name;           /* in log lines, e.g. "the relay port" */
	unsigned fd_reserve;        /* 0: none (the proxy socket may use the last descriptors) */
	unsigned max_handshakes;    /* 0: no cap (its connections do not authenticate) */
	bool (*reclaim)(void *ctx); /* out of descriptors: close one of yours; true when you did (may be NULL) */
	const char *waits_for;      /* what a handshake waits for, in log lines; NULL: "authenticate" */
};

/* Takes `evl` over (freed with the listener); NULL when out of memory. */
struct mp_listener *mp_listener_new(struct evconnlistener *evl, const struct mp_listener_opts *opts, mp_accept_cb cb,
				    void *ctx);
void mp_listener_free(struct mp_listener *l);

/* A listener whose connections another layer accepts (evhttp, through
 * evhttp_bind_listener): only its accept errors are handled here, and the
 * owner gives each new connection to mp_listener_admit().  `evl` stays the
 * owner's.
 */
struct mp_listener *mp_listener_watch(struct evconnlistener *evl, const struct mp_listener_opts *opts);

/* The checks of a connection just accepted: false when it must be closed
 * (its descriptor is in the reserve; accepting pauses).  At the handshake
 * cap the oldest handshake is closed to make room.
 */
bool mp_listener_admit(struct mp_listener *l, evutil_socket_t fd);

/* Closes the connection that has waited longest to authenticate; false when none waits. */
bool mp_listener_evict_oldest(struct mp_listener *l);

/* The address of [Section] listen-style `at` ("any" and 0.0.0.0: every
 * interface); -1 when its host is not an IPv4 address.
 */
int mp_listener_address(const struct mp_endpoint *at, struct sockaddr_in *addr);

/* A connection of `l` that must now authenticate: if it has not called
 * mp_handshake_end within MP_HANDSHAKE_TIMEOUT_MS, `expired(conn)` is called
 * and must close it (ending the handshake).  NULL when out of memory.
 */
struct mp_handshake *mp_handshake_start(struct mp_listener *l, void (*expired)(void *conn), void *conn);
/* Authenticated, or closed; NULL is ignored. */
void mp_handshake_end(struct mp_handshake *h);

#endif
