#include <stdlib.h>
#include <string.h>
#include "records.h"

struct records {
	struct callid_table by_call_id;
};

static struct record *record_of(struct callid_entry *e)
{
	return e ? callid_entry_container(e, struct record, entry) : NULL;
}

struct records *records_new(void)
{
	struct records *t = calloc(1, sizeof(*t));

	if (t && callid_table_init(&t->by_call_id, 1024)) {
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

static void free_entry(void *ctx, struct callid_entry *e)
{
	record_free(record_of(e));
}

void records_free(struct records *t)
{
	if (!t)
		return;
	callid_table_each(&t->by_call_id, free_entry, NULL);
	callid_table_release(&t->by_call_id);
	free(t);
}

struct record *records_find(const struct records *t, const char *call_id)
{
	return record_of(callid_table_find(&t->by_call_id, call_id));
}

struct record *records_put(struct records *t, const char *call_id, const char *relay_ip, const char *dialog_id)
{
	struct record *r = calloc(1, sizeof(*r));

	if (!r || !(r->call_id = strdup(call_id)) || (dialog_id && !(r->dialog_id = strdup(dialog_id)))) {
		if (r)
			record_free(r);
		return NULL;
	}
	strncpy(r->relay_ip, relay_ip, sizeof(r->relay_ip) - 1);
	records_delete(t, call_id);
	callid_table_add(&t->by_call_id, &r->entry, r->call_id);
	return r;
}

void records_delete(struct records *t, const char *call_id)
{
	struct record *r = records_find(t, call_id);

	if (r) {
		callid_table_remove(&t->by_call_id, &r->entry);
		record_free(r);
	}
}

unsigned records_count(const struct records *t)
{
	return t->by_call_id.count;
}

/* records_each()'s callback, for the table's iteration. */
struct each {
	void (*fn)(void *ctx, struct record *r);
	void *ctx;
};

static void each_entry(void *ctx, struct callid_entry *e)
{
	struct each *each = ctx;

	each->fn(each->ctx, record_of(e));
}

void records_each(struct records *t, void (*fn)(void *ctx, struct record *r), void *ctx)
{
	callid_table_each(&t->by_call_id, each_entry, &(struct each){ fn, ctx });
}
