/* The Call-ID hash table (callid_table.h): FNV-1a, chained buckets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "callid_table.h"

static unsigned bucket_of(unsigned bucket_count, const char *call_id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)call_id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h & (bucket_count - 1);
}

int callid_table_init(struct callid_table *t, unsigned bucket_count)
{
	*t = (struct callid_table){ .buckets = calloc(bucket_count, sizeof(*t->buckets)) };
	if (!t->buckets)
		return -1;
	t->bucket_count = bucket_count;
	return 0;
}

void callid_table_release(struct callid_table *t)
{
	free(t->buckets);
	*t = (struct callid_table){ 0 };
}

static void grow(struct callid_table *t)
{
	unsigned count = t->bucket_count * 2;
	struct callid_entry **buckets = calloc(count, sizeof(*buckets));

	if (!buckets)
		return; /* longer chains, still correct */
	for (unsigned b = 0; b < t->bucket_count; b++)
		for (struct callid_entry *e = t->buckets[b], *next; e; e = next) {
			unsigned to = bucket_of(count, e->call_id);

			next = e->next;
			e->next = buckets[to];
			buckets[to] = e;
		}
	free(t->buckets);
	t->buckets = buckets;
	t->bucket_count = count;
}

void callid_table_add(struct callid_table *t, struct callid_entry *e, const char *call_id)
{
	unsigned b;

	if (t->count >= t->bucket_count)
		grow(t);
	b = bucket_of(t->bucket_count, call_id);
	e->call_id = call_id;
	e->next = t->buckets[b];
	t->buckets[b] = e;
	t->count++;
}

void callid_table_remove(struct callid_table *t, struct callid_entry *e)
{
	struct callid_entry **p = &t->buckets[bucket_of(t->bucket_count, e->call_id)];

	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	e->next = NULL;
	t->count--;
}

/* From `e` on along its chain, the first entry with `call_id`. */
static struct callid_entry *first_match(struct callid_entry *e, const char *call_id)
{
	while (e && strcmp(e->call_id, call_id))
		e = e->next;
	return e;
}

struct callid_entry *callid_table_find(const struct callid_table *t, const char *call_id)
{
	return first_match(t->buckets[bucket_of(t->bucket_count, call_id)], call_id);
}

struct callid_entry *callid_table_find_next(const struct callid_entry *e)
{
	return first_match(e->next, e->call_id);
}

void callid_table_each(struct callid_table *t, void (*fn)(void *ctx, struct callid_entry *e), void *ctx)
{
	for (unsigned b = 0; b < t->bucket_count; b++)
		for (struct callid_entry *e = t->buckets[b], *next; e; e = next) {
			next = e->next;
			fn(ctx, e);
		}
}
