/* The relay's calls on disk, for a restart that keeps them
 * (doc/fast-path.md §8): every session with its streams, latched
 * addresses, counters and timers, written to the runtime directory after
 * every change and read back by the next start, which claims the same ports
 * and takes over the forwarding entries still in the kernel.
 */
#ifndef MP_STATE_H
#define MP_STATE_H

#include "media.h"
#include "port_pool.h"
#include "session.h"

#define STATE_FILE "relay-state.json"

/* Names the dispatcher connection a session came from (its `owner`), so
 * that a restarted relay still reports its expiry there.  All NULL: none.
 */
struct state_origins {
	const char *(*name)(void *origin);
	void *(*find)(void *ctx, const char *name);
	void *ctx;
};

/* Replaces `path` at once (write, then rename).  0, or -1 logged. */
int state_save(const char *path, const struct sessions *sessions, const struct state_origins *origins);

/* Restores the sessions saved in `path` into an empty table, every field
 * checked: a session that fails a check is left out, logged with the field
 * and value at fault.  Returns how many were restored; 0 when there is no
 * file, or when it cannot be read at all (then logged and renamed to
 * `path`.bad, for a look).
 */
int state_restore(const char *path, struct sessions *sessions, struct port_pool *pool, struct media *m,
		  const struct state_origins *origins);

#endif
