#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "accounting.h"
#include "log.h"

#define SPOOL_FILE "accounting.spool"
#define REPLAY_INTERVAL 5 /* seconds between attempts while records wait */
#define BUSY_TIMEOUT_MS 100 /* the proxy socket shares this thread */

enum insert_result { INSERTED, DUPLICATE, FAILED };

struct accounting {
	const struct mp_config *cfg;
	char spool[PATH_MAX];
	char db_path[PATH_MAX];
	sqlite3 *db;
	sqlite3_stmt *insert;
	bool table_ready;
	bool outage;          /* logged once per outage, not per record */
	struct event *replay;
};

/* ---- the database ---------------------------------------------------------- */

static void ddl(const struct mp_config *cfg, char *out, size_t len)
{
	const char *t = cfg->database.sessions_table;

	snprintf(out, len,
		 "CREATE TABLE IF NOT EXISTS %s (\n"
		 "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
		 "    %s VARCHAR(255) NOT NULL,\n"
		 "    %s VARCHAR(64) NOT NULL,\n"
		 "    %s VARCHAR(64),\n"
		 "    %s CHAR(16777215)\n"
		 ");\n"
		 "CREATE UNIQUE INDEX IF NOT EXISTS %s_callid_idx ON %s (%s, %s, %s);",
		 t, cfg->database.callid_column, cfg->database.fromtag_column, cfg->database.totag_column,
		 cfg->database.info_column, t, t, cfg->database.callid_column, cfg->database.fromtag_column,
		 cfg->database.totag_column);
}

static void db_close(struct accounting *a)
{
	sqlite3_finalize(a->insert);
	sqlite3_close(a->db);
	a->insert = NULL;
	a->db = NULL;
	a->table_ready = false;
}

/* Opens the database and makes the table when missing (§3.2); -1 when the
 * database cannot be used now (logged once per outage).
 */
static int db_ready(struct accounting *a)
{
	const struct mp_config *cfg = a->cfg;
	char statement[2048], *err = NULL;

	if (a->table_ready)
		return 0;
	if (!a->db) {
		if (sqlite3_open_v2(a->db_path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
			if (!a->outage)
				log_err("accounting: cannot open %s: %s", a->db_path, sqlite3_errmsg(a->db));
			db_close(a);
			return -1;
		}
		sqlite3_busy_timeout(a->db, BUSY_TIMEOUT_MS);
	}
	ddl(cfg, statement, sizeof(statement));
	if (sqlite3_exec(a->db, statement, NULL, NULL, &err) != SQLITE_OK) {
		if (!a->outage) {
			log_err("accounting: cannot create table %s in %s: %s", cfg->database.sessions_table, a->db_path,
				err ? err : "?");
			log_info("accounting: the dispatcher needs the right to create the table, or create it yourself:\n"
				 "--------8<--------\n%s\n--------8<--------", statement);
		}
		sqlite3_free(err);
		return -1;
	}
	snprintf(statement, sizeof(statement), "INSERT INTO %s (%s, %s, %s, %s) VALUES (?, ?, ?, ?)",
		 cfg->database.sessions_table, cfg->database.callid_column, cfg->database.fromtag_column,
		 cfg->database.totag_column, cfg->database.info_column);
	if (sqlite3_prepare_v2(a->db, statement, -1, &a->insert, NULL) != SQLITE_OK) {
		if (!a->outage)
			log_err("accounting: cannot prepare the insert: %s", sqlite3_errmsg(a->db));
		return -1;
	}
	a->table_ready = true;
	return 0;
}

static enum insert_result db_insert(struct accounting *a, const char *call_id, const char *from_tag,
				    const char *to_tag, const char *info)
{
	int rc;

	if (db_ready(a))
		return FAILED;
	sqlite3_reset(a->insert);
	sqlite3_bind_text(a->insert, 1, call_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(a->insert, 2, from_tag, -1, SQLITE_STATIC);
	if (to_tag)
		sqlite3_bind_text(a->insert, 3, to_tag, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(a->insert, 3);
	sqlite3_bind_text(a->insert, 4, info, -1, SQLITE_STATIC);
	rc = sqlite3_step(a->insert);
	sqlite3_reset(a->insert);
	if (rc == SQLITE_DONE)
		return INSERTED;
	if (sqlite3_extended_errcode(a->db) == SQLITE_CONSTRAINT_UNIQUE)
		return DUPLICATE; /* a replay after a crash between insert and spool rewrite */
	if (!a->outage)
		log_err("accounting: failed to insert the record of %s: %s", call_id, sqlite3_errmsg(a->db));
	if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
		db_close(a); /* reopen next time: the file may have gone */
	return FAILED;
}

/* ---- the spool ------------------------------------------------------------------ */

static bool spool_waiting(const struct accounting *a)
{
	return access(a->spool, F_OK) == 0;
}

static int spool_append(struct accounting *a, const char *call_id, const char *from_tag, const char *to_tag,
			const char *info)
{
	json_t *line = json_pack("[sss?s]", call_id, from_tag, to_tag, info);
	FILE *f = fopen(a->spool, "a");
	int err = !line || !f || json_dumpf(line, f, JSON_COMPACT) || fputc('\n', f) == EOF;

	if (f && fclose(f))
		err = 1;
	json_decref(line);
	if (err)
		log_err("accounting: cannot spool the record of %s to %s: %s; it is lost", call_id, a->spool,
			strerror(errno));
	return err ? -1 : 0;
}

/* Inserts the spooled records in order, up to the first that fails; the
 * rest stays spooled.
 */
static void spool_replay(evutil_socket_t fd, short what, void *arg)
{
	struct accounting *a = arg;
	char tmp[PATH_MAX + 8], *buf = NULL;
	size_t cap = 0, done = 0;
	FILE *in = fopen(a->spool, "r"), *rest = NULL;
	bool failed = false;
	ssize_t len;

	if (!in)
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", a->spool);
	while ((len = getline(&buf, &cap, in)) > 0) {
		json_t *line = failed ? NULL : json_loads(buf, 0, NULL);
		const char *to_tag = json_string_value(json_array_get(line, 2));

		if (!failed && json_array_size(line) == 4 &&
		    db_insert(a, json_string_value(json_array_get(line, 0)), json_string_value(json_array_get(line, 1)),
			      to_tag, json_string_value(json_array_get(line, 3))) != FAILED) {
			done++;
		} else if (failed || json_array_size(line) == 4) {
			failed = true;
			if (!rest)
				rest = fopen(tmp, "w");
			if (rest)
				fputs(buf, rest);
		} else {
			log_err("accounting: an unreadable line in %s was dropped", a->spool);
		}
		json_decref(line);
	}
	free(buf);
	fclose(in);
	if (rest) {
		fclose(rest);
		rename(tmp, a->spool);
	} else {
		unlink(a->spool);
	}
	if (done)
		log_info("accounting: %zu spooled records written to the database", done);
	if (!failed && a->outage) {
		log_info("accounting: the database takes records again");
		a->outage = false;
	}
	if (failed)
		evtimer_add(a->replay, &(struct timeval){ .tv_sec = REPLAY_INTERVAL });
}

void accounting_record(struct accounting *a, const char *call_id, const char *from_tag, const char *to_tag,
		       const char *info)
{
	/* records keep their order: while some wait, new ones wait behind them */
	if (!spool_waiting(a) && db_insert(a, call_id, from_tag, to_tag, info) != FAILED)
		return;
	if (!a->outage)
		log_warn("accounting: the database does not take records; spooling them to %s", a->spool);
	a->outage = true;
	if (!spool_append(a, call_id, from_tag, to_tag, info) && !evtimer_pending(a->replay, NULL))
		evtimer_add(a->replay, &(struct timeval){ .tv_sec = REPLAY_INTERVAL });
}

struct accounting *accounting_open(struct event_base *base, const struct mp_config *cfg, const char *runtime_dir,
				   bool *failed)
{
	const char *uri = cfg->database.dburi;
	struct accounting *a;

	*failed = false;
	if (!(cfg->dispatcher.accounting & MP_ACCOUNTING_DATABASE))
		return NULL;
	if (strncmp(uri, "sqlite://", 9)) {
		log_err("accounting: %.*s databases are not supported yet; use sqlite://",
			(int)(strstr(uri, "://") ? strstr(uri, "://") - uri : 0), uri);
		*failed = true;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a || !(a->replay = evtimer_new(base, spool_replay, a))) {
		free(a);
		*failed = true;
		return NULL;
	}
	a->cfg = cfg;
	snprintf(a->db_path, sizeof(a->db_path), "%s", uri + 9);
	snprintf(a->spool, sizeof(a->spool), "%s/%s", runtime_dir, SPOOL_FILE);
	if (db_ready(a))
		a->outage = true;
	if (spool_waiting(a)) {
		log_info("accounting: records spooled by an earlier run wait in %s", a->spool);
		evtimer_add(a->replay, &(struct timeval){ 0 });
	}
	log_info("accounting: sessions go to %s, table %s", a->db_path, cfg->database.sessions_table);
	return a;
}

void accounting_close(struct accounting *a)
{
	if (!a)
		return;
	event_free(a->replay);
	db_close(a);
	free(a);
}
