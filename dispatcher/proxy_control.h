/* Asking the SIP proxy to end a dialog whose media all timed out
 * (doc/accounting.md §5): OpenSIPS MI `dlg_end_dlg` over its datagram socket
 * for a numeric dialog id, turned into the dialog's did (doc/accounting.md §5.2), and again by
 * the Call-ID when OpenSIPS answers 404; Kamailio JSON-RPC `dlg.end_dlg`
 * over the jsonrpcs datagram socket for an `h_entry:h_id` one.  Replies come
 * back to our own datagram socket and are only logged.
 */
#ifndef MP_PROXY_CONTROL_H
#define MP_PROXY_CONTROL_H

#include <stdint.h>
#include <event2/event.h>
#include "config.h"

#define PROXY_CONTROL_SOCKET "opensips.sock" /* in the runtime directory, as the original */

struct proxy_control;

struct proxy_control *proxy_control_open(struct event_base *base, const struct mp_config *cfg, const char *runtime_dir);
void proxy_control_close(struct proxy_control *pc);

/* Never blocks; failures are logged once per outage. */
void proxy_control_end_dialog(struct proxy_control *pc, const char *dialog_id, const char *call_id);

/* The dialog-end requests since the start. */
struct proxy_control_counters {
	uint64_t sent;      /* sent to the proxy's socket */
	uint64_t answered;  /* the proxy says the dialog was ended */
	uint64_t unsent;    /* could not be sent (no socket, no such dialog id form) */
	uint64_t refused;   /* the proxy answered with an error */
	uint64_t no_answer; /* no answer within the reply timeout */
};

const struct proxy_control_counters *proxy_control_counters(const struct proxy_control *pc);

#endif
