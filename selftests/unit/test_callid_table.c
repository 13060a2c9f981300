/* Unit tests of the Call-ID hash table (common/callid_table.c): lookups,
 * keys whose FNV-1a hashes are equal, several entries of one Call-ID,
 * growth, and removal during iteration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "callid_table.h"

struct item {
	char call_id[32];
	struct callid_entry entry;
	unsigned visits;
};

#define ITEM_MAX 1000
static struct item items[ITEM_MAX];
static struct callid_table table;

static struct item *item_of(struct callid_entry *e)
{
	return e ? callid_entry_container(e, struct item, entry) : NULL;
}

static struct item *add(unsigned i, const char *call_id)
{
	snprintf(items[i].call_id, sizeof(items[i].call_id), "%s", call_id);
	callid_table_add(&table, &items[i].entry, items[i].call_id);
	return &items[i];
}

static struct item *find(const char *call_id)
{
	return item_of(callid_table_find(&table, call_id));
}

static int setup(void **state)
{
	memset(items, 0, sizeof(items));
	return callid_table_init(&table, 4);
}

static int teardown(void **state)
{
	callid_table_release(&table);
	return 0;
}

static void test_find(void **state)
{
	struct item *a = add(0, "a@example.org"), *b = add(1, "b@example.org");

	assert_ptr_equal(find("a@example.org"), a);
	assert_ptr_equal(find("b@example.org"), b);
	assert_null(find("c@example.org"));
	assert_null(find("a@example.or"));
	assert_int_equal(table.count, 2);
	callid_table_remove(&table, &a->entry);
	assert_null(find("a@example.org"));
	assert_ptr_equal(find("b@example.org"), b);
	assert_int_equal(table.count, 1);
}

/* Pairs of words whose 32-bit FNV-1a hashes are equal: one bucket at any size. */
static const char *const same_hash[][2] = {
	{ "costarring", "liquid" },
	{ "declinate", "macallums" },
	{ "altarage", "zinke" },
};

static void test_equal_hashes(void **state)
{
	for (unsigned i = 0; i < 3; i++) {
		add(2 * i, same_hash[i][0]);
		add(2 * i + 1, same_hash[i][1]);
	}
	for (unsigned i = 0; i < 6; i++) {
		struct item *it = find(items[i].call_id);

		assert_ptr_equal(it, &items[i]);
		assert_null(callid_table_find_next(&it->entry));
	}
	callid_table_remove(&table, &items[1].entry);
	assert_null(find("liquid"));
	assert_ptr_equal(find("costarring"), &items[0]);
	callid_table_remove(&table, &items[0].entry);
	assert_null(find("costarring"));
	assert_ptr_equal(find("declinate"), &items[2]);
}

/* The relay's sessions of one call share its Call-ID. */
static void test_entries_of_one_call_id(void **state)
{
	unsigned found = 0;

	add(0, "costarring");
	add(1, "liquid");
	add(2, "costarring");
	add(3, "liquid");
	add(4, "costarring");
	for (struct callid_entry *e = callid_table_find(&table, "costarring"); e; e = callid_table_find_next(e)) {
		assert_string_equal(item_of(e)->call_id, "costarring");
		item_of(e)->visits++;
		found++;
	}
	assert_int_equal(found, 3);
	assert_true(items[0].visits == 1 && items[2].visits == 1 && items[4].visits == 1);

	callid_table_remove(&table, &items[2].entry);
	found = 0;
	for (struct callid_entry *e = callid_table_find(&table, "costarring"); e; e = callid_table_find_next(e))
		found++;
	assert_int_equal(found, 2);
}

static void test_growth(void **state)
{
	char call_id[32];

	for (unsigned i = 0; i < ITEM_MAX - 2; i++) {
		snprintf(call_id, sizeof(call_id), "%u@10.0.0.1", i);
		add(i, call_id);
	}
	add(ITEM_MAX - 2, "costarring");
	add(ITEM_MAX - 1, "liquid");
	/* doubled from 4 each time the entries reached the bucket count */
	assert_int_equal(table.bucket_count, 1024);
	assert_int_equal(table.count, ITEM_MAX);
	for (unsigned i = 0; i < ITEM_MAX; i++)
		assert_ptr_equal(find(items[i].call_id), &items[i]);
}

/* Removes, then scribbles over, every other entry it is given: the
 * dispatcher's records are removed and freed during iteration.
 */
static void remove_odd(void *ctx, struct callid_entry *e)
{
	struct item *it = item_of(e);

	it->visits++;
	if ((it - items) % 2) {
		callid_table_remove(&table, e);
		memset(&it->entry, 0xa5, sizeof(it->entry));
	}
}

static void test_remove_during_each(void **state)
{
	char call_id[32];

	for (unsigned i = 0; i < 100; i++) {
		snprintf(call_id, sizeof(call_id), "%u@10.0.0.1", i);
		add(i, call_id);
	}
	callid_table_each(&table, remove_odd, NULL);
	assert_int_equal(table.count, 50);
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(items[i].visits, 1);
		assert_ptr_equal(find(items[i].call_id), i % 2 ? NULL : &items[i]);
	}
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equal_hashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries_of_one_call_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_during_each, setup, teardown),
	};

	return cmocka_run_group_tests_name("callid_table", tests, NULL, NULL);
}
