/* What the dispatcher does with the proxy's requests (doc/proxy-protocol.md §7-§9):
 * routing by Call-ID to the relay that holds the session, relay selection
 * and failover for new sessions within the module's reply budget, the
 * reconnect purge, and the relays' `expired` reports.
 */
#ifndef MP_DISPATCH_H
#define MP_DISPATCH_H

#include <event2/event.h>
#include "config.h"
#include "proxy_request.h"
#include "relays.h"
#include "tls.h"

/* The proxy module gives up after 500 ms: every reply is written before
 * this, failover included.
 */
#define DISPATCH_BUDGET_MS 450

struct dispatch;
struct dispatch_job;

/* The reply line, without CRLF. */
typedef void (*dispatch_reply_cb)(void *ctx, const char *reply);

struct accounting;
struct proxy_control;

/* Starts listening for relays; NULL (logged) when it cannot.  Ended
 * sessions go to `accounting` (may be NULL); dialogs whose media timed out
 * are ended through `proxy_control`.
 */
struct dispatch *dispatch_new(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
			      struct accounting *accounting, struct proxy_control *proxy_control);
void dispatch_free(struct dispatch *d);

/* Takes `req` over (the caller's struct is reset).  `cb` is called exactly
 * once, possibly before this returns, unless the job is cancelled first.
 * Returns NULL when it already answered.
 */
struct dispatch_job *dispatch_request(struct dispatch *d, struct proxy_request *req, dispatch_reply_cb cb, void *ctx);

/* The client went away: its answer is no longer wanted. */
void dispatch_cancel(struct dispatch_job *job);

struct relays *dispatch_relays(struct dispatch *d);
unsigned dispatch_session_count(const struct dispatch *d);

#endif
