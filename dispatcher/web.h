/* The dispatcher's HTTP interface (doc/management.md §8): /metrics, the
 * management interface's JSON under /api/, and the live session view at /.
 * Read-only: nothing here can change a session.
 */
#ifndef MP_WEB_H
#define MP_WEB_H

#include <event2/event.h>
#include "config.h"
#include "metrics.h"
#include "tls.h"

struct web;

/* [Dispatcher] listen_http (none: NULL without error, `*failed` false);
 * `tls` is the dispatcher's, used as http_use_tls says.  `sources->http`
 * is filled in here.  NULL with `*failed` set (logged) when it cannot listen.
 */
struct web *web_open(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
		     const struct metrics_sources *sources, bool *failed);
void web_close(struct web *w);

/* The Call-ID of /api/sessions/ID: `encoded` percent-decoded into `out`;
 * -1 when it is empty, too long, or decodes to a NUL or an invalid escape.
 */
int web_call_id(const char *encoded, char *out, size_t out_len);

#endif
