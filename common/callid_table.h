/* A hash table keyed by Call-ID: the dispatcher's session records and the
 * relay's sessions.  The entries are the caller's: a struct callid_entry
 * sits inside each, so adding never allocates and never fails, and when
 * growing finds no memory the old buckets keep working with longer chains.
 * Several entries may share a Call-ID (the relay's sessions of one call).
 */
#ifndef MP_CALLID_TABLE_H
#define MP_CALLID_TABLE_H

#include <stddef.h>

struct callid_entry {
	struct callid_entry *next; /* bucket chain */
	const char *call_id;       /* the key: the caller's string, kept while the entry is in */
};

/* The struct of type `type` whose member `member` is the entry `e`. */
#define callid_entry_container(e, type, member) ((type *)((char *)(e) - offsetof(type, member)))

struct callid_table {
	struct callid_entry **buckets;
	unsigned bucket_count; /* a power of two; doubles when entries outnumber it */
	unsigned count;        /* entries in the table */
};

/* `bucket_count`, a power of two, is the first size.  -1 without memory. */
int callid_table_init(struct callid_table *t, unsigned bucket_count);
/* Frees the buckets; the entries stay the caller's. */
void callid_table_release(struct callid_table *t);

void callid_table_add(struct callid_table *t, struct callid_entry *e, const char *call_id);
/* `e` must be in the table. */
void callid_table_remove(struct callid_table *t, struct callid_entry *e);

/* The first entry with `call_id`, NULL when none; then callid_table_find_next()
 * gives the next entry with the same Call-ID.
 */
struct callid_entry *callid_table_find(const struct callid_table *t, const char *call_id);
struct callid_entry *callid_table_find_next(const struct callid_entry *e);

/* Calls `fn` for every entry; `fn` may remove or free the entry it is given,
 * no other.
 */
void callid_table_each(struct callid_table *t, void (*fn)(void *ctx, struct callid_entry *e), void *ctx);

#endif
