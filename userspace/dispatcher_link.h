/* The relay's side of the dispatcher link (doc/relay-protocol.md §1-§8): a TLS
 * connection to every dispatcher of [Relay] dispatchers, kept up with
 * keepalives and reconnection; requests go to the agent, replies come back
 * in order, and `expired` reports go to the dispatcher that created the
 * session, queued while it is away.
 */
#ifndef MP_DISPATCHER_LINK_H
#define MP_DISPATCHER_LINK_H

#include <event2/event.h>
#include "config.h"
#include "request_answer.h"
#include "tls.h"

struct dispatcher_link;

/* Starts connecting; requests go to `handle(owner, connection, ...)`. */
struct dispatcher_link *dispatcher_link_new(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
					    request_handler handle, void *owner);
void dispatcher_link_free(struct dispatcher_link *link);

/* The relay is stopping: no request is read or answered any more (one served
 * after the state of a restart was saved would be lost, or come back), while
 * what is queued still goes out.
 */
void dispatcher_link_close_requests(struct dispatcher_link *link);

/* Sends "expired <json>" to the dispatcher `origin` (a connection handed to
 * the handler), or to every dispatcher when `origin` is NULL (a session
 * taken over after a restart).  Queued while a dispatcher is away.
 */
void dispatcher_link_expired(struct dispatcher_link *link, void *origin, const char *json);

/* A connection's name ("host:port" as configured) and back, for the saved
 * state of a restart.
 */
const char *dispatcher_link_origin_name(void *origin);
void *dispatcher_link_origin(void *link, const char *name);

#endif
