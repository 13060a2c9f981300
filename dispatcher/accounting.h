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

#endif
