/* The dispatcher's /metrics (doc/management.md §9): its own counters and
 * what each relay's summary reports, in the Prometheus text format.
 */
#ifndef MP_METRICS_H
#define MP_METRICS_H

#include <jansson.h>
#include <time.h>
#include <event2/buffer.h>
#include "accounting.h"
#include "dispatch.h"
#include "http.h"
#include "management.h"
#include "proxy_control.h"

/* Where the figures come from; any but `dispatch` may be NULL. */
struct metrics_sources {
	struct dispatch *dispatch;
	struct management *management;
	const struct accounting *accounting;
	const struct proxy_control *proxy_control;
	const struct mp_http *http;
	time_t started;
};

/* `relays` is the management interface's summary, decoded (NULL: none). */
void metrics_write(struct evbuffer *out, const struct metrics_sources *src, json_t *relays);

#endif
