/* What the database backends share (doc/accounting.md §3): the start time
 * taken from the statistics JSON, and the insert statement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "acct_backend.h"

static const char *start_time(const char *info)
{
	static char out[ACCT_TIME_LEN];

	memset(out, 'x', sizeof(out));
	acct_start_time(info, out);
	return out;
}

static void test_start_time(void **state)
{
	/* doc/accounting.md §2's example: 2026-01-01 00:00:12.482913 UTC, the fraction cut off */
	assert_string_equal(start_time("{\"call_id\": \"c\", \"start_time\": 1767225612.482913, \"duration\": 62}"),
			    "2026-01-01 00:00:12");
	assert_string_equal(start_time("{\"start_time\": 1767225612.999999}"), "2026-01-01 00:00:12");
	assert_string_equal(start_time("{\"start_time\": 0}"), "1970-01-01 00:00:00");
	assert_string_equal(start_time("{\"start_time\": 253402300799.5}"), "9999-12-31 23:59:59");
	/* the session's, not a stream's (those are offsets) */
	assert_string_equal(start_time("{\"streams\": [{\"start_time\": 5}], \"start_time\": 86400}"),
			    "1970-01-02 00:00:00");
}

static void test_no_start_time(void **state)
{
	static const char *const none[] = {
		"{\"start_time\": null}", "{\"call_id\": \"c\"}", "{\"start_time\": \"1767225612\"}",
		"{\"start_time\": -1}",   "{\"start_time\": 253402300800}", "{\"start_time\": 1e300}",
		"{\"start_time\": true}", "[1767225612]", "not JSON", "",
	};

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		if (strcmp(start_time(none[i]), ""))
			fail_msg("%s gave '%s'", none[i], start_time(none[i]));
}

static void test_insert_statement(void **state)
{
	struct mp_config cfg = { .database = { .sessions_table = "calls", .callid_column = "cid", .fromtag_column = "ft",
					       .totag_column = "tt", .info_column = "stats", .starttime_column = "began" } };
	char out[512];

	acct_insert_statement(&cfg, true, false, out, sizeof(out));
	assert_string_equal(out, "INSERT INTO calls (cid, ft, tt, stats, began) VALUES (?, ?, ?, ?, ?)");
	acct_insert_statement(&cfg, false, false, out, sizeof(out));
	assert_string_equal(out, "INSERT INTO calls (cid, ft, tt, stats) VALUES (?, ?, ?, ?)");
	acct_insert_statement(&cfg, true, true, out, sizeof(out));
	assert_string_equal(out, "INSERT INTO calls (cid, ft, tt, stats, began) VALUES ($1, $2, $3, $4, $5)");
	acct_insert_statement(&cfg, false, true, out, sizeof(out));
	assert_string_equal(out, "INSERT INTO calls (cid, ft, tt, stats) VALUES ($1, $2, $3, $4)");
	/* too small a buffer: cut, still a string */
	acct_insert_statement(&cfg, true, true, out, 60);
	assert_int_equal(strlen(out), 59);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_time),
		cmocka_unit_test(test_no_start_time),
		cmocka_unit_test(test_insert_statement),
	};

	return cmocka_run_group_tests_name("accounting", tests, NULL, NULL);
}
