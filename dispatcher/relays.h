/* The dispatcher's side of the relay link (doc/relay-protocol.md,
 * doc/proxy-protocol.md §10): the TLS listener relays connect to, one
 * connection per relay source address, commands with sequence numbers and
 * timeouts, ping/pong, and the relays' `expired` notifications.
 */
#ifndef MP_RELAYS_H
#define MP_RELAYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "config.h"
#include "tls.h"

struct relay;
struct relays;

/* The answer to a command: its payload, or NULL when the command failed
 * (timeout, lost connection).
 */
typedef void (*relay_reply_cb)(void *ctx, struct relay *relay, const char *payload, size_t len);

struct relays_events {
	void *ctx;
	/* A relay connected and passed its checks (a previous connection from
	 * the same address, if any, is gone).
	 */
	void (*up)(void *ctx, struct relay *relay);
	/* The connection of the relay at `ip` is gone. */
	void (*down)(void *ctx, const char *ip);
	/* `expired <json>` from a relay. */
	void (*expired)(void *ctx, struct relay *relay, const char *json, size_t len);
	/* The answer to a `command` whose callback was told it failed, since
	 * its time was up.
	 */
	void (*late)(void *ctx, struct relay *relay, const char *command, const char *payload, size_t len);
};

/* Listens on [Dispatcher] listen; NULL (logged) when it cannot. */
struct relays *relays_new(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
			  const struct relays_events *events);
void relays_free(struct relays *relays);

/* The connected relay whose connection comes from `ip`, or NULL. */
struct relay *relays_find(struct relays *relays, const char *ip);
/* Every connected relay, `usable_only`: those that may take new sessions
 * (not halting, not timed out).  Returns how many, at most `max`.
 */
unsigned relays_list(struct relays *relays, bool usable_only, struct relay **out, unsigned max);

const char *relay_ip(const struct relay *relay);
bool relay_usable(const struct relay *relay);
/* Answered `halting`: no new sessions for it. */
bool relay_halting(const struct relay *relay);
/* A command timed out: no new sessions until its next ping (doc/relay-protocol.md §9.2). */
bool relay_unresponsive(const struct relay *relay);

/* What the relay port saw since the start. */
struct relays_counters {
	uint64_t unresponsive;                     /* relays marked unresponsive */
	uint64_t tls_refused[MP_TLS_REFUSAL_MAX];  /* connections refused, by reason */
};

const struct relays_counters *relays_counters(const struct relays *relays);

/* Sends "<command> <seq>", the header lines (each with CRLF) and the empty
 * line; `cb` gets the answer, or NULL after `timeout_ms` or when the
 * connection goes.  A timeout marks the relay timed out (no new sessions
 * until its next ping).  Returns -1 (and `cb` is not called) when the
 * command cannot be sent.
 */
int relay_send(struct relay *relay, const char *command, const char *headers, size_t headers_len,
	       unsigned timeout_ms, relay_reply_cb cb, void *ctx);

#endif
