/* Accounting of ended sessions (doc/accounting.md): every backend of
 * [Dispatcher] accounting (a database chosen by [Database] dburi, RADIUS)
 * gets each record.  A backend runs on its own thread behind a queue, so the
 * proxy socket never waits for it; when it cannot take a record, the record
 * is spooled to disk in the runtime directory and replayed, in order, once it
 * can again, across restarts.
 */
#ifndef MP_ACCOUNTING_H
#define MP_ACCOUNTING_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"

struct accounting;

/* NULL when no backend is configured (nothing to do) or on a fatal error
 * (logged; `*failed` set).
 */
struct accounting *accounting_open(const struct mp_config *cfg, const char *runtime_dir, bool *failed);
/* Waits for the records in flight; what is still unwritten goes to the spools. */
void accounting_close(struct accounting *a);

/* One session's record; `to_tag` may be NULL.  Returns at once. */
void accounting_record(struct accounting *a, const char *call_id, const char *from_tag, const char *to_tag,
		       const char *info);

/* What became of the records, per backend, since the start. */
struct accounting_stats {
	const char *backend; /* "database", "radius" */
	uint64_t written;    /* taken by the backend, at once or from the spool (a duplicate too) */
	uint64_t spooled;    /* put in the spool to wait for the backend */
	uint64_t failed;     /* lost: refused for good, unreadable in the spool, or not spooled */
	uint64_t spool_depth; /* waiting in the spool now */
};

/* Fills `out` with up to `max` backends' figures; returns how many (0 for a NULL `a`). */
unsigned accounting_stats(const struct accounting *a, struct accounting_stats *out, unsigned max);

#endif
