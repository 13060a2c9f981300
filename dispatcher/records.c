#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "records.h"

struct records {
	struct record **buckets;
	unsigned bucket_count, count;
};

static unsigned hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct records *records_new(void)
{
	struct records *t = calloc(1, sizeof(*t));

	if (t) {
		t->bucket_count = 1024;
		t->buckets = calloc(t->bucket_count, sizeof(*t->buckets));
	}
	if (!t || !t->buckets) {
		free(t);
		return NULL;
	}
	return t;
}

static void record_free(struct record *r)
{
	free(r->call_id);
	free(r->dialog_id);
	free(r);
}

void records_free(struct records *t)
{
	if (!t)
		return;
	for (unsigned b = 0; b < t->bucket_count; b++)
		for (struct record *r = t->buckets[b], *next; r; r = next) {
			next = r->next;
			record_free(r);
		}
	free(t->buckets);
	free(t);
}

static void grow(struct records *t)
{
	unsigned count = t->bucket_count * 2;
	struct record **buckets = calloc(count, sizeof(*buckets));

	if (!buckets)
		return; /* longer chains, still correct */
	for (unsigned b = 0; b < t->bucket_count; b++)
		for (struct record *r = t->buckets[b], *next; r; r = next) {
			next = r->next;
			r->next = buckets[hash(r->call_id) & (count - 1)];
			buckets[hash(r->call_id) & (count - 1)] = r;
		}
	free(t->buckets);
	t->buckets = buckets;
	t->bucket_count = count;
}

struct record *records_find(const struct records *t, const char *call_id)
{
	for (struct record *r = t->buckets[hash(call_id) & (t->bucket_count - 1)]; r; r = r->next)
		if (!strcmp(r->call_id, call_id))
			return r;
	return NULL;
}

struct record *records_put(struct records *t, const char *call_id, const char *relay_ip, const char *dialog_id)
{
	struct record *r = calloc(1, sizeof(*r));
	unsigned b;

	if (!r || !(r->call_id = strdup(call_id)) || (dialog_id && !(r->dialog_id = strdup(dialog_id)))) {
		if (r)
			record_free(r);
		return NULL;
	}
	strncpy(r->relay_ip, relay_ip, sizeof(r->relay_ip) - 1);
	records_delete(t, call_id);
	if (t->count >= t->bucket_count)
		grow(t);
	b = hash(call_id) & (t->bucket_count - 1);
	r->next = t->buckets[b];
	t->buckets[b] = r;
	t->count++;
	return r;
}

void records_delete(struct records *t, const char *call_id)
{
	for (struct record **p = &t->buckets[hash(call_id) & (t->bucket_count - 1)]; *p; p = &(*p)->next)
		if (!strcmp((*p)->call_id, call_id)) {
			struct record *r = *p;

			*p = r->next;
			record_free(r);
			t->count--;
			return;
		}
}

unsigned records_count(const struct records *t)
{
	return t->count;
}

void records_each(struct records *t, void (*fn)(void *ctx, struct record *r), void *ctx)
{
	for (unsigned b = 0; b < t->bucket_count; b++)
		for (struct record *r = t->buckets[b], *next; r; r = next) {
			next = r->next;
			fn(ctx, r);
		}
}
