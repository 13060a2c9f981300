/* The SQLite backend's table (doc/accounting.md §3.1, §3.2) on files of
 * its own: a new table with the start time, and a table of the old layout
 * that already holds rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "acct_backend.h"
#include "log.h"
#include "log_capture.h"

static char dir[] = "/tmp/mp-test-acct-sqlite.XXXXXX";
static struct mp_config cfg = { .database = { .sessions_table = "media_sessions", .callid_column = "call_id",
					      .fromtag_column = "from_tag", .totag_column = "to_tag",
					      .info_column = "info", .starttime_column = "start_time" } };

static const char info[] = "{\"call_id\": \"n1\", \"start_time\": 1767225612.482913, \"streams\": []}";

static void use_file(const char *name)
{
	snprintf(cfg.database.dburi, sizeof(cfg.database.dburi), "sqlite://%s/%s", dir, name);
}

static sqlite3 *open_file(void)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(cfg.database.dburi + strlen("sqlite://"), &db), SQLITE_OK);
	return db;
}

/* What `sql` selects: one row a line, its columns joined by '|'. */
static const char *query(sqlite3 *db, const char *sql)
{
	static char out[2048];
	sqlite3_stmt *st;
	size_t n = 0;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < sqlite3_column_count(st); i++)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", sqlite3_column_text(st, i),
					      i + 1 < sqlite3_column_count(st) ? "|" : "\n");
	sqlite3_finalize(st);
	return out;
}

/* call_id|to_tag|start_time|info, NULL as such */
#define ROWS "SELECT call_id, ifnull(to_tag, 'NULL'), ifnull(start_time, 'NULL'), info FROM media_sessions ORDER BY id"
/* the start time column's declared type, then the indexes on it */
#define START_TIME_SCHEMA                                                                                          \
	"SELECT type FROM pragma_table_info('media_sessions') WHERE name = 'start_time' UNION ALL SELECT il.name "   \
	"FROM pragma_index_list('media_sessions') il, pragma_index_info(il.name) ii WHERE ii.name = 'start_time'"

static enum acct_result write_record(void *backend, char *call_id, char *json)
{
	struct acct_record r = { .call_id = call_id, .from_tag = "ft", .to_tag = "tt", .info = json };

	acct_start_time(json, r.start_time);
	return acct_sqlite.write(backend, &r, false);
}

static void test_new_table(void **state)
{
	bool fatal = false;
	void *backend;
	sqlite3 *db;

	use_file("new.db");
	backend = acct_sqlite.open(&cfg, &fatal);
	assert_non_null(backend);
	assert_int_equal(write_record(backend, "n1", (char *)info), ACCT_WRITTEN);
	acct_sqlite.close(backend);
	db = open_file();
	assert_string_equal(query(db, START_TIME_SCHEMA), "TEXT\nmedia_sessions_starttime_idx\n");
	assert_string_equal(query(db, ROWS), "n1|tt|2026-01-01 00:00:12|{\"call_id\": \"n1\", \"start_time\": 1767225612.482913, "
				      "\"streams\": []}\n");
	sqlite3_close(db);
}

static void test_old_table(void **state)
{
	struct log_capture capture;
	bool fatal = false;
	const char *logged;
	void *backend;
	sqlite3 *db;

	use_file("old.db");
	db = open_file();
	/* the original's layout (doc/accounting.md §3.1), with two rows */
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE media_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, "
				      "call_id VARCHAR(255) NOT NULL, from_tag VARCHAR(64) NOT NULL, to_tag VARCHAR(64), "
				      "info CHAR(16777215));"
				      "CREATE UNIQUE INDEX media_sessions_callid_idx ON media_sessions (call_id, from_tag, to_tag);"
				      "INSERT INTO media_sessions (call_id, from_tag, to_tag, info) VALUES "
				      "('o1', 'ft', 'tt', '{\"start_time\": 1}'), ('o2', 'ft', NULL, '{}');",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	log_capture_start(&capture);
	backend = acct_sqlite.open(&cfg, &fatal);
	logged = log_capture_end(&capture);
	assert_non_null(backend);
	assert_non_null(strstr(logged, "accounting: added the column start_time to the table media_sessions"));
	assert_int_equal(write_record(backend, "n1", (char *)info), ACCT_WRITTEN);
	/* a start time the column cannot take: NULL */
	assert_int_equal(write_record(backend, "n2", "{\"start_time\": -5}"), ACCT_WRITTEN);
	acct_sqlite.close(backend);
	db = open_file();
	assert_string_equal(query(db, START_TIME_SCHEMA), "TEXT\nmedia_sessions_starttime_idx\n");
	assert_string_equal(query(db, ROWS), "o1|tt|NULL|{\"start_time\": 1}\n"
				      "o2|NULL|NULL|{}\n"
				      "n1|tt|2026-01-01 00:00:12|{\"call_id\": \"n1\", \"start_time\": 1767225612.482913, "
				      "\"streams\": []}\n"
				      "n2|tt|NULL|{\"start_time\": -5}\n");
	sqlite3_close(db);
}

static int make_dir(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/new.db", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/old.db", dir);
	unlink(path);
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_table),
		cmocka_unit_test(test_old_table),
	};

	mp_log_open("test_acct_sqlite", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_INFO);
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
