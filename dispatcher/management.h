/* The dispatcher's management interface (doc/management.md): `summary`,
 * `sessions`, `version`, `quit` over TCP, TLS by default, one line per
 * answer, answers in request order.
 */
#ifndef MP_MANAGEMENT_H
#define MP_MANAGEMENT_H

#include <event2/event.h>
#include "config.h"
#include "relays.h"
#include "tls.h"

struct management;

/* `tls` NULL: plain TCP (management_use_tls = no).  NULL (logged) on failure. */
struct management *management_open(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
				   struct relays *relays);
void management_close(struct management *m);

#endif
