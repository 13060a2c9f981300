/* The relay's JSON replies: the session statistics object
 * (doc/relay-sessions.md §12.4), the `sessions` array and the `summary` object
 * (doc/relay-protocol.md §6.2-§6.4).
 */
#ifndef MP_SESSION_JSON_H
#define MP_SESSION_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "relay_stats.h"
#include "session.h"

/* What `summary` reports besides the sessions. */
struct relay_status {
	struct in_addr relay_ip;
	const char *version;
	uint64_t uptime;        /* whole seconds since the relay started */
	bool has_traffic_sample; /* false: bps_relayed is the integer 0 */
	double bps_relayed;
	const struct relay_stats *stats; /* our keys after the original's; NULL: none */
};

/* `now` is UNIX seconds: live sessions count their duration up to it. */
json_t *session_stats_json(const struct session *session, double now);
/* The live sessions: their statistics, each stream with our key `in_kernel`. */
json_t *sessions_json(const struct sessions *sessions, double now);
json_t *summary_json(const struct sessions *sessions, const struct relay_status *status);

/* The text the original's Python json.dumps() gives: one line, ", " and
 * ": " separators, keys in insertion order, non-ASCII as \uXXXX.  malloc'ed,
 * NULL without memory.
 */
char *session_json_text(const json_t *json);

#endif
