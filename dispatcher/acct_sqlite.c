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
};

static void ddl(const struct mp_config *cfg, char *out, size_t len)
{
	const struct mp_database_config *c = &cfg->database;

	snprintf(out, len,
		 "CREATE TABLE IF NOT EXISTS %s (\n"
		 "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
		 "    %s VARCHAR(255) NOT NULL,\n"
		 "    %s VARCHAR(64) NOT NULL,\n"
		 "    %s VARCHAR(64),\n"
		 "    %s CHAR(16777215)\n"
		 ");\n"
		 "CREATE UNIQUE INDEX IF NOT EXISTS %s_callid_idx ON %s (%s, %s, %s);",
		 c->sessions_table, c->callid_column, c->fromtag_column, c->totag_column, c->info_column,
		 c->sessions_table, c->sessions_table, c->callid_column, c->fromtag_column, c->totag_column);
}

static void disconnect(struct sqlite_db *s)
{
	sqlite3_finalize(s->insert);
	sqlite3_close(s->db);
	s->insert = NULL;
	s->db = NULL;
}

/* Opens the file, makes the table when missing (doc/accounting.md §3.2) and prepares the insert. */
static int connect_db(struct sqlite_db *s, bool quiet)
{
	const struct mp_database_config *c = &s->cfg->database;
	char statement[2048], *err = NULL;

	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (!quiet)
			log_err("accounting: cannot open %s: %s", s->path, sqlite3_errmsg(s->db));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	ddl(s->cfg, statement, sizeof(statement));
	if (sqlite3_exec(s->db, statement, NULL, NULL, &err) != SQLITE_OK) {
		if (!quiet)
			acct_log_create_failure(s->cfg, "of the dispatcher", s->path, err ? err : "?", statement);
		sqlite3_free(err);
		goto fail;
	}
	snprintf(statement, sizeof(statement), "INSERT INTO %s (%s, %s, %s, %s) VALUES (?, ?, ?, ?)",
		 c->sessions_table, c->callid_column, c->fromtag_column, c->totag_column, c->info_column);
	if (sqlite3_prepare_v2(s->db, statement, -1, &s->insert, NULL) != SQLITE_OK) {
		if (!quiet)
			log_err("accounting: cannot prepare the insert: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	log_info("accounting: sessions go to %s, table %s", s->path, c->sessions_table);
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
