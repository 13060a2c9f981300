/* The Prometheus text exposition format (version 0.0.4), which both
 * daemons' /metrics write:
 *
 *	mp_prom_family(out, "mediaproxy_relay_sessions", MP_PROM_GAUGE, "Sessions the relay holds.");
 *	mp_prom_uint(out, "mediaproxy_relay_sessions", 12, NULL);
 *	mp_prom_uint(out, "mediaproxy_relay_streams", 3, "status", "on hold", NULL);
 *
 * A family's HELP and TYPE come once, before its samples; labels are name,
 * value pairs ending with NULL, the values escaped here.
 */
#ifndef MP_PROM_H
#define MP_PROM_H

#include <stdint.h>
#include <event2/buffer.h>

#define MP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum mp_prom_type {
	MP_PROM_COUNTER,
	MP_PROM_GAUGE,
	MP_PROM_HISTOGRAM,
};

void mp_prom_family(struct evbuffer *out, const char *name, enum mp_prom_type type, const char *help);

/* One sample; the labels follow `value`. */
void mp_prom_uint(struct evbuffer *out, const char *name, uint64_t value, ...) __attribute__((sentinel));
void mp_prom_real(struct evbuffer *out, const char *name, double value, ...) __attribute__((sentinel));

/* A histogram's samples: `counts[i]` observations fell in bucket i (at most
 * `bounds[i]`, after bounds[i - 1]), counts[n] above the last bound; they
 * are written cumulative, with +Inf, _sum and _count.
 */
void mp_prom_histogram(struct evbuffer *out, const char *name, const double *bounds, const uint64_t *counts,
		       unsigned n, double sum, ...) __attribute__((sentinel));

#endif
