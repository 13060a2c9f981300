/* The embedded default database: sqlite:///path/to/file (doc/accounting.md §3). */
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acct_backend.h"
#include "log.h"

#define BUSY_TIMEOUT_MS 2000 /* another writer holds the file: wait a little, then spool */

struct sqlite_db {
	const struct mp_config *cfg;
	char path[PATH_MAX];
	sqlite3 *db;
	sqlite3_stmt *insert;
	bool with_start_time;      /* the table has the column, the insert fills it */
	bool alter_failure_logged; /* doc/accounting.md §3.2's advice is given once */
};

/* The start time: SQLite has no date type; this text is the form its date
 * functions take and give, and sorts in time order (doc/accounting.md §3.1).
 */
#define START_TIME_TYPE "TEXT"

static void ddl(const struct mp_config *cfg, char *out, size_t len)
{
	const struct mp_database_config *c = &cfg->database;

	snprintf(out, len,
		 "CREATE TABLE IF NOT EXISTS %s (\n"
		 "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
		 "    %s VARCHAR(255) NOT NULL,\n"
		 "    %s VARCHAR(64) NOT NULL,\n"
		 "    %s VARCHAR(64),\n"
		 "    %s CHAR(16777215),\n"
		 "    %s " START_TIME_TYPE "\n"
		 ");\n"
		 "CREATE UNIQUE INDEX IF NOT EXISTS %s_callid_idx ON %s (%s, %s, %s);\n"
		 "CREATE INDEX IF NOT EXISTS %s_starttime_idx ON %s (%s);",
		 c->sessions_table, c->callid_column, c->fromtag_column, c->totag_column, c->info_column,
		 c->starttime_column, c->sessions_table, c->sessions_table, c->callid_column, c->fromtag_column,
		 c->totag_column, c->sessions_table, c->sessions_table, c->starttime_column);
}

static void disconnect(struct sqlite_db *s)
{
	sqlite3_finalize(s->insert);
	sqlite3_close(s->db);
	s->insert = NULL;
	s->db = NULL;
}

static int prepare_insert(struct sqlite_db *s, bool with_start_time)
{
	char statement[512];

	sqlite3_finalize(s->insert);
	s->insert = NULL;
	s->with_start_time = with_start_time;
	acct_insert_statement(s->cfg, with_start_time, false, statement, sizeof(statement));
	return sqlite3_prepare_v2(s->db, statement, -1, &s->insert, NULL) == SQLITE_OK ? 0 : -1;
}

/* Runs `statements` in one transaction: SQLITE_OK or the error, with its text in *err. */
static int run_atomically(struct sqlite_db *s, const char *statements, char **err)
{
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, err);

	if (rc == SQLITE_OK && (rc = sqlite3_exec(s->db, statements, NULL, NULL, err)) == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, err);
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* A table of the layout without the start time (doc/accounting.md §3.2)
 * gets the column; when it cannot, the insert goes on without it.  -1 when
 * another writer holds the file: try again later.
 */
static int add_column(struct sqlite_db *s, bool quiet)
{
	char statements[512], *err = NULL;
	int rc;

	acct_add_column_ddl(s->cfg, START_TIME_TYPE, false, statements, sizeof(statements));
	rc = run_atomically(s, statements, &err);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		if (!quiet)
			log_err("accounting: cannot add the column %s to %s: %s", s->cfg->database.starttime_column,
				s->path, err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	if (rc == SQLITE_OK) {
		log_info("accounting: added the column %s to the table %s", s->cfg->database.starttime_column,
			 s->cfg->database.sessions_table);
		s->alter_failure_logged = false;
	} else if (!s->alter_failure_logged) {
		acct_log_alter_failure(s->cfg, "of the dispatcher", s->path, err ? err : "?", statements);
		s->alter_failure_logged = true;
	}
	sqlite3_free(err);
	return prepare_insert(s, rc == SQLITE_OK);
}

/* Opens the file, makes the table when missing or gives it the start time
 * column (doc/accounting.md §3.2) and prepares the insert.
 */
static int connect_db(struct sqlite_db *s, bool quiet)
{
	char statement[2048], *err = NULL;

	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (!quiet)
			log_err("accounting: cannot open %s: %s", s->path, sqlite3_errmsg(s->db));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (!prepare_insert(s, true))
		goto ready;
	if (!prepare_insert(s, false)) { /* the table lacks the start time only */
		if (add_column(s, quiet))
			goto fail;
		goto ready;
	}
	ddl(s->cfg, statement, sizeof(statement));
	if (sqlite3_exec(s->db, statement, NULL, NULL, &err) != SQLITE_OK) {
		if (!quiet)
			acct_log_create_failure(s->cfg, "of the dispatcher", s->path, err ? err : "?", statement);
		sqlite3_free(err);
		goto fail;
	}
	if (prepare_insert(s, true)) {
		if (!quiet)
			log_err("accounting: cannot prepare the insert: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
ready:
	log_info("accounting: sessions go to %s, table %s%s", s->path, s->cfg->database.sessions_table,
		 s->with_start_time ? "" : ", without the start time");
	return 0;
fail:
	disconnect(s);
	return -1;
}

static enum acct_result sqlite_write(void *backend, const struct acct_record *r, bool quiet)
{
	struct sqlite_db *s = backend;
	int rc;

	if (!s->db && connect_db(s, quiet))
		return ACCT_RETRY;
	sqlite3_bind_text(s->insert, 1, r->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->insert, 2, r->from_tag, -1, SQLITE_STATIC);
	if (r->to_tag)
		sqlite3_bind_text(s->insert, 3, r->to_tag, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s->insert, 3);
	sqlite3_bind_text(s->insert, 4, r->info, -1, SQLITE_STATIC);
	if (s->with_start_time && r->start_time[0])
		sqlite3_bind_text(s->insert, 5, r->start_time, -1, SQLITE_STATIC);
	else if (s->with_start_time)
		sqlite3_bind_null(s->insert, 5);
	rc = sqlite3_step(s->insert);
	sqlite3_reset(s->insert);
	if (rc == SQLITE_DONE)
		return ACCT_WRITTEN;
	if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
		return ACCT_DUPLICATE;
	if (!quiet)
		log_err("accounting: failed to insert the record of %s: %s", r->call_id, sqlite3_errmsg(s->db));
	if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
		disconnect(s); /* reopen next time: the file or the table may have gone */
	return ACCT_RETRY;
}

static void *sqlite_open(const struct mp_config *cfg, bool *fatal)
{
	struct sqlite_db *s = calloc(1, sizeof(*s));

	if (!s) {
		*fatal = true;
		return NULL;
	}
	s->cfg = cfg;
	snprintf(s->path, sizeof(s->path), "%s", cfg->database.dburi + strlen("sqlite://"));
	connect_db(s, false); /* early, so that a start-up problem shows at once */
	return s;
}

static void sqlite_close(void *backend)
{
	disconnect(backend);
	free(backend);
}

const struct acct_backend acct_sqlite = {
	.name = "database",
	.open = sqlite_open,
	.write = sqlite_write,
	.close = sqlite_close,
};
