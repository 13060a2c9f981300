/* The dispatcher's management interface (doc/management.md): `summary`,
 * `sessions`, `version`, `quit` over TCP, TLS by default, one line per
 * answer, answers in request order.
 */
#ifndef MP_MANAGEMENT_H
#define MP_MANAGEMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "config.h"
#include "relays.h"
#include "tls.h"

struct management;
struct management_query;

/* `tls` NULL: plain TCP (management_use_tls = no).  NULL (logged) on failure. */
struct management *management_open(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
				   struct relays *relays);
void management_close(struct management *m);

/* The answer to `summary` or `sessions`: the line the port sends, without
 * its CRLF; NULL when out of memory.  The buffer stays the caller's only
 * for the call.
 */
typedef void (*management_answer_cb)(void *ctx, struct evbuffer *answer);

/* Asks every relay; `cb` is called once, possibly before this returns
 * (then NULL is returned), unless the query is cancelled first.
 */
struct management_query *management_query(struct management *m, bool sessions, management_answer_cb cb, void *ctx);
/* The answer is no longer wanted (the query frees itself when the relays answered). */
void management_query_cancel(struct management_query *q);

/* What the management port saw since the start. */
struct management_counters {
	uint64_t tls_refused[MP_TLS_REFUSAL_MAX]; /* clients refused, by reason */
};

const struct management_counters *management_counters(const struct management *m);

#endif
