/* Accounting of ended sessions (accounting.md §1, §3): each record goes to
 * the database of [Database] dburi, one row per session with the statistics
 * JSON in the info column.  When the database cannot take it, the record is
 * spooled to disk in the runtime directory and replayed, in order, once it
 * can again, across restarts; a record already there is not inserted twice.
 */
#ifndef MP_ACCOUNTING_H
#define MP_ACCOUNTING_H

#include <event2/event.h>
#include "config.h"

struct accounting;

/* NULL when [Dispatcher] accounting does not include database (nothing to
 * do) or on a fatal error (logged; `*failed` set).
 */
struct accounting *accounting_open(struct event_base *base, const struct mp_config *cfg, const char *runtime_dir,
				   bool *failed);
void accounting_close(struct accounting *a);

/* One session's record; `to_tag` may be NULL.  Never blocks for long. */
void accounting_record(struct accounting *a, const char *call_id, const char *from_tag, const char *to_tag,
		       const char *info);

#endif
