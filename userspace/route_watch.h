/* Watches, over rtnetlink, what the fast path's cached next hops depend
 * on: IPv4 routes and rules, links, and the MAC addresses of IPv4
 * neighbours (doc/fast-path.md §3 step 5).
 */
#ifndef MP_ROUTE_WATCH_H
#define MP_ROUTE_WATCH_H

#include <event2/event.h>

struct route_watch;

/* `changed` runs in the event loop each time something a next hop may
 * depend on changed: a route or rule added or deleted, a link changed, a
 * usable neighbour's MAC changed or the neighbour went away, or events
 * were lost.  A neighbour's state moving between reachable, stale and
 * probing with its MAC unchanged is no change.  NULL (logged) on failure.
 */
struct route_watch *route_watch_open(struct event_base *base, void (*changed)(void *ctx, const char *what),
				     void *ctx);

void route_watch_close(struct route_watch *w);

#endif
