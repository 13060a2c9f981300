/* The relay agent: the session operations a dispatcher drives (update,
 * remove, sessions, summary; doc/relay-protocol.md §6), on top of the session
 * table, the port pool and the media plane.  The local control socket and
 * the dispatcher link both hand their requests to agent_handle().
 */
#ifndef MP_AGENT_H
#define MP_AGENT_H

#include <event2/buffer.h>
#include <event2/event.h>
#include "config.h"
#include "fastpath.h"
#include "forwarder.h"
#include "relay_stats.h"
#include "request.h"
#include "state.h"

struct agent;

/* `fwd` stays the caller's and must outlive the agent.  The calls' state
 * is kept in `runtime_dir` for a restart.
 */
struct agent *agent_new(struct event_base *base, const struct mp_config *cfg, struct in_addr relay_ip,
			struct forwarder *fwd, const char *runtime_dir);

/* Takes over the calls the previous run saved, those that can be read. */
void agent_restore(struct agent *agent);

/* Graceful shutdown (doc/relay-protocol.md §8.2): new sessions get `halting`,
 * existing ones are served.  Returns false when no session is left; else
 * the event loop is broken when the last one ends.
 */
bool agent_drain(struct agent *agent);

/* Stop for a restart: the state is saved and every stream's forwarding
 * stays in the kernel for the next start (doc/fast-path.md §8).
 */
void agent_stop_for_restart(struct agent *agent);

/* Appends the reply payload for one request (without seq and CRLF).
 * `origin` is the dispatcher connection the request came on (NULL: the
 * control socket); a session remembers the one that created it, for its
 * `expired` report.
 */
void agent_handle(struct agent *agent, void *origin, const struct request *req, struct evbuffer *reply);

/* Where `expired` reports go: `report(ctx, origin, json)` with the origin of
 * the request that created the session (NULL when unknown).  Without a
 * reporter they are only logged.  `origins` names origins in the saved
 * state; set it before agent_restore().
 */
void agent_set_reporter(struct agent *agent, void (*report)(void *ctx, void *origin, const char *json), void *ctx,
			const struct state_origins *origins);

/* Immediate shutdown (doc/relay-protocol.md §8.3): every session is closed and
 * reported expired.
 */
void agent_expire_all(struct agent *agent);

/* The BPF tier's programs and maps, whose figures the summary and
 * agent_stats() report; NULL (the default) in the other tiers.
 */
void agent_set_fastpath(struct agent *agent, const struct fastpath *fp);

/* The relay's figures now; `map_fill` counts the entries of the fast
 * path's maps as well (one system call per entry).
 */
void agent_stats(struct agent *agent, bool map_fill, struct relay_stats *out);

void agent_free(struct agent *agent);

#endif
