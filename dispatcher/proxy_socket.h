/* The UNIX stream socket the SIP proxy's mediaproxy module talks to
 * (doc/proxy-protocol.md §1-§2, §4): many worker connections, one request at a time
 * on each, every reply one line written in one call.
 */
#ifndef MP_PROXY_SOCKET_H
#define MP_PROXY_SOCKET_H

#include <event2/event.h>
#include "dispatch.h"

struct proxy_socket;

/* Listens on `path` (any file there is replaced) with [Dispatcher]
 * socket_owner, socket_group and socket_mode (0666 by default: the proxy
 * runs as another user).  NULL (logged) on failure.
 */
struct proxy_socket *proxy_socket_open(struct event_base *base, const char *path, const struct mp_config *cfg,
				       struct dispatch *d);
void proxy_socket_close(struct proxy_socket *ps);

#endif
