/* The relay's /metrics (doc/management.md §9): its figures in the
 * Prometheus text format.
 */
#ifndef MP_RELAY_METRICS_H
#define MP_RELAY_METRICS_H

#include <event2/buffer.h>
#include "relay_stats.h"

void relay_metrics_write(struct evbuffer *out, const struct relay_stats *stats);

#endif
