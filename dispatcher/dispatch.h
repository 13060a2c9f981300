/* What the dispatcher does with the proxy's requests (doc/proxy-protocol.md §7-§9):
 * routing by Call-ID to the relay that holds the session, relay selection
 * and failover for new sessions within the module's reply budget, the
 * reconnect purge, and the relays' `expired` reports.
 */
#ifndef MP_DISPATCH_H
#define MP_DISPATCH_H

#include <stdint.h>
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
/* The records: live ones, and those whose dialog the proxy was asked to
 * end (waiting for its remove).
 */
void dispatch_record_counts(struct dispatch *d, unsigned *live, unsigned *ending);

/* The proxy's requests, by command and by what became of them. */
enum dispatch_command { DISPATCH_UPDATE, DISPATCH_REMOVE, DISPATCH_OTHER, DISPATCH_COMMANDS };
enum dispatch_result {
	DISPATCH_OK,        /* the relay's answer (ports, statistics) */
	DISPATCH_ERROR,     /* answered `error`: no relay took it, or the relay said so */
	DISPATCH_REFUSED,   /* malformed: answered `error` before any relay was asked */
	DISPATCH_ABANDONED, /* the proxy closed its connection before the answer */
	DISPATCH_RESULTS
};

/* How long updates waited for their answer: upper bounds in seconds of
 * the histogram's buckets; the last bucket holds the rest.
 */
#define DISPATCH_LATENCY_BUCKETS 10
extern const double dispatch_latency_bounds[DISPATCH_LATENCY_BUCKETS];

struct dispatch_counters {
	uint64_t requests[DISPATCH_COMMANDS][DISPATCH_RESULTS];
	uint64_t update_latency[DISPATCH_LATENCY_BUCKETS + 1]; /* answered updates per bucket (not cumulative) */
	double update_latency_sum;                             /* seconds */
	uint64_t failovers; /* new sessions' requests sent to a relay other than the first chosen */
};

const struct dispatch_counters *dispatch_counters(const struct dispatch *d);

#endif
