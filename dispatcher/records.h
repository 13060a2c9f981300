/* The dispatcher's session records (doc/proxy-protocol.md §7.1): one per Call-ID,
 * binding it to the relay that holds its media.
 */
#ifndef MP_RECORDS_H
#define MP_RECORDS_H

#include <stdbool.h>
#include <time.h>
#include "callid_table.h"

struct record {
	char *call_id;
	char relay_ip[64];   /* the relay connection's source address */
	char *dialog_id;     /* NULL when the proxy gave none (never "") */
	time_t expire_time;  /* 0 while live; set when we asked the proxy to end the dialog */
	struct callid_entry entry; /* in the table, keyed by call_id */
};

struct records;

struct records *records_new(void);
void records_free(struct records *t);

struct record *records_find(const struct records *t, const char *call_id);
/* Replaces any record of the Call-ID; NULL without memory. */
struct record *records_put(struct records *t, const char *call_id, const char *relay_ip, const char *dialog_id);
void records_delete(struct records *t, const char *call_id);
unsigned records_count(const struct records *t);

/* Calls `fn` for every record; a record may be deleted by `fn` (only that one). */
void records_each(struct records *t, void (*fn)(void *ctx, struct record *r), void *ctx);

#endif
