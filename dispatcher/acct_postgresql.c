/* Accounting into PostgreSQL through libpq: postgresql:// or postgres://
 * URIs, which libpq reads itself (doc/accounting.md §3).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acct_backend.h"
#include "log.h"

#define INSERT_NAME "mp_acct_insert"

/* SQLSTATEs (PostgreSQL's errcodes.h) */
#define UNIQUE_VIOLATION "23505"
#define UNDEFINED_TABLE  "42P01"
#define UNDEFINED_COLUMN "42703"

/* The start time: an instant, whatever the session's TimeZone; inserted
 * with its "+00" (doc/accounting.md §3.1).
 */
#define START_TIME_TYPE "TIMESTAMP WITH TIME ZONE"

struct pg_db {
	const struct mp_config *cfg;
	char uri[sizeof(((struct mp_config *)0)->database.dburi) + 8];
	PGconn *conn;
	bool create_failure_logged; /* doc/accounting.md §3.2's advice is given once, not at every retry */
	bool alter_failure_logged;  /* likewise */
	bool with_start_time;       /* the table has the column, the insert fills it */
};

/* What doc/accounting.md §3.1 shows, with the configured names: the statements a DBA runs by
 * hand.  `if_not_exists` makes the statements the dispatcher runs itself.
 */
static void ddl(const struct mp_config *cfg, bool if_not_exists, char *out, size_t len)
{
	const struct mp_database_config *c = &cfg->database;
	const char *ine = if_not_exists ? "IF NOT EXISTS " : "";

	snprintf(out, len,
		 "CREATE TABLE %s%s (\n"
		 "    id SERIAL PRIMARY KEY,\n"
		 "    %s VARCHAR(255) NOT NULL,\n"
		 "    %s VARCHAR(64) NOT NULL,\n"
		 "    %s VARCHAR(64),\n"
		 "    %s BYTEA,\n"
		 "    %s " START_TIME_TYPE "\n"
		 ");\n"
		 "CREATE UNIQUE INDEX %s%s_callid_idx ON %s (%s, %s, %s);\n"
		 "CREATE INDEX %s%s_starttime_idx ON %s (%s);",
		 ine, c->sessions_table, c->callid_column, c->fromtag_column, c->totag_column, c->info_column,
		 c->starttime_column, ine, c->sessions_table, c->sessions_table, c->callid_column, c->fromtag_column,
		 c->totag_column, ine, c->sessions_table, c->sessions_table, c->starttime_column);
}

/* libpq's messages end in a newline (sometimes more lines): the first line only */
static int first_line(const char *message)
{
	return (int)strcspn(message, "\n");
}

static const char *sqlstate(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state ? state : "";
}

/* The server's message without its "ERROR:  " prefix, else libpq's own
 * (a lost connection).
 */
static const char *message(const PGresult *res, const PGconn *conn)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	return primary ? primary : PQerrorMessage(conn);
}

/* NOTICEs ("relation already exists, skipping") would go to stderr otherwise. */
static void notice(void *arg, const char *message)
{
	log_debug("accounting: PostgreSQL says: %.*s", first_line(message), message);
}

static void disconnect(struct pg_db *p)
{
	PQfinish(p->conn);
	p->conn = NULL;
}

/* Creates the table and its index (doc/accounting.md §3.2).  0 when they are there. */
static int create_table(struct pg_db *p)
{
	char statement[2048], shown[2048];
	PGresult *res;
	int rc = 0;

	ddl(p->cfg, true, statement, sizeof(statement));
	res = PQexec(p->conn, statement); /* both statements in one implicit transaction */
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *error = message(res, p->conn);
		char text[512];

		snprintf(text, sizeof(text), "%.*s", first_line(error), error);
		if (!p->create_failure_logged) {
			ddl(p->cfg, false, shown, sizeof(shown));
			acct_log_create_failure(p->cfg, PQuser(p->conn), PQdb(p->conn), text, shown);
		}
		p->create_failure_logged = true;
		rc = -1;
	} else {
		p->create_failure_logged = false;
	}
	PQclear(res);
	return rc;
}

static PGresult *prepare_insert(struct pg_db *p, bool with_start_time)
{
	char statement[512];

	p->with_start_time = with_start_time;
	acct_insert_statement(p->cfg, with_start_time, true, statement, sizeof(statement));
	return PQprepare(p->conn, INSERT_NAME, statement, 0, NULL);
}

/* A table of the layout without the start time (doc/accounting.md §3.2)
 * gets the column: true when it did.
 */
static bool add_column(struct pg_db *p)
{
	char statements[512];
	PGresult *res;
	bool added;

	/* IF NOT EXISTS, so that two dispatchers may run it at once */
	acct_add_column_ddl(p->cfg, START_TIME_TYPE, true, statements, sizeof(statements));
	res = PQexec(p->conn, statements); /* both in one implicit transaction */
	added = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (added) {
		log_info("accounting: added the column %s to the table %s", p->cfg->database.starttime_column,
			 p->cfg->database.sessions_table);
		p->alter_failure_logged = false;
	} else if (!p->alter_failure_logged) {
		const char *error = message(res, p->conn);
		char text[512];

		snprintf(text, sizeof(text), "%.*s", first_line(error), error);
		acct_log_alter_failure(p->cfg, PQuser(p->conn), PQdb(p->conn), text, statements);
		p->alter_failure_logged = true;
	}
	PQclear(res);
	return added;
}

/* Prepares the insert with the start time; into a table that lacks that
 * column alone, after adding it, or without it when it cannot be added.
 */
static PGresult *prepare_with_start_time(struct pg_db *p)
{
	PGresult *res = prepare_insert(p, true), *without;

	if (strcmp(sqlstate(res), UNDEFINED_COLUMN))
		return res;
	without = prepare_insert(p, false);
	if (PQresultStatus(without) != PGRES_COMMAND_OK) { /* another column is missing: the first error tells */
		PQclear(without);
		return res;
	}
	PQclear(res);
	if (!add_column(p))
		return without;
	PQclear(without);
	PQclear(PQexec(p->conn, "DEALLOCATE " INSERT_NAME));
	return prepare_insert(p, true);
}

/* Connects, makes the table when it is missing and prepares the insert. */
static int connect_db(struct pg_db *p, bool quiet)
{
	/* ours come first: what the URI says overrides them (expand_dbname) */
	static const char *const keywords[] = { "connect_timeout", "tcp_user_timeout", "client_encoding",
						"fallback_application_name", "dbname", NULL };
	const char *values[] = { "5", "10000", "UTF8", "media-dispatcher", p->uri, NULL };
	PGresult *res;

	p->conn = PQconnectdbParams(keywords, values, 1);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		const char *error = PQerrorMessage(p->conn);

		if (!quiet)
			log_err("accounting: cannot connect to the PostgreSQL database %s as %s: %.*s", PQdb(p->conn),
				PQuser(p->conn), first_line(error), error);
		disconnect(p);
		return -1;
	}
	PQsetNoticeProcessor(p->conn, notice, NULL);
	res = prepare_with_start_time(p);
	if (!strcmp(sqlstate(res), UNDEFINED_TABLE)) {
		PQclear(res);
		if (create_table(p)) {
			disconnect(p);
			return -1;
		}
		log_info("accounting: created the table %s in the PostgreSQL database %s", p->cfg->database.sessions_table,
			 PQdb(p->conn));
		res = prepare_with_start_time(p);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *error = message(res, p->conn);

		if (!quiet)
			log_err("accounting: cannot prepare the insert into %s: %.*s", p->cfg->database.sessions_table,
				first_line(error), error);
		PQclear(res);
		disconnect(p);
		return -1;
	}
	PQclear(res);
	log_info("accounting: sessions go to the PostgreSQL database %s, table %s%s", PQdb(p->conn),
		 p->cfg->database.sessions_table, p->with_start_time ? "" : ", without the start time");
	return 0;
}

static PGresult *insert(struct pg_db *p, const struct acct_record *r)
{
	/* info as bytea in binary form: the JSON's bytes are stored unchanged */
	char start_time[ACCT_TIME_LEN + 3];
	const char *values[5] = { r->call_id, r->from_tag, r->to_tag, r->info, r->start_time[0] ? start_time : NULL };
	const int lengths[5] = { 0, 0, 0, (int)strlen(r->info), 0 };
	static const int formats[5] = { 0, 0, 0, 1, 0 };

	snprintf(start_time, sizeof(start_time), "%s+00", r->start_time); /* UTC, whatever the session's TimeZone */
	return PQexecPrepared(p->conn, INSERT_NAME, p->with_start_time ? 5 : 4, values, lengths, formats, 0);
}

static enum acct_result pg_write(void *backend, const struct acct_record *r, bool quiet)
{
	struct pg_db *p = backend;
	const char *state, *error;
	enum acct_result result;
	bool fresh = !p->conn;
	PGresult *res;

	if (!p->conn && connect_db(p, quiet))
		return ACCT_RETRY;
	res = insert(p, r);
	if (!fresh && PQstatus(p->conn) != CONNECTION_OK) {
		/* the server closed the connection while it was idle (a restart,
		 * an idle timeout): once more on a new one, which is refused at
		 * once if the server is really away
		 */
		PQclear(res);
		disconnect(p);
		if (connect_db(p, quiet))
			return ACCT_RETRY;
		res = insert(p, r);
	}
	if (!strcmp(sqlstate(res), UNDEFINED_TABLE) && PQstatus(p->conn) == CONNECTION_OK && !create_table(p)) {
		/* dropped while we were connected: made again, one more try (doc/accounting.md §3.2) */
		log_info("accounting: the table %s was missing; created it again", p->cfg->database.sessions_table);
		PQclear(res);
		res = insert(p, r);
	}
	state = sqlstate(res);
	error = message(res, p->conn);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		result = ACCT_WRITTEN;
	} else if (!strcmp(state, UNIQUE_VIOLATION)) {
		result = ACCT_DUPLICATE;
	} else if (PQstatus(p->conn) == CONNECTION_OK && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))) {
		/* data exception or another constraint: this record never fits */
		log_err("accounting: the PostgreSQL database refused the record of %s for good: %.*s; it is dropped",
			r->call_id, first_line(error), error);
		result = ACCT_REJECTED;
	} else {
		/* the connection went (server restart, network) or something to fix
		 * on the server's side: connect again for the next try
		 */
		if (!quiet)
			log_err("accounting: failed to insert the record of %s into PostgreSQL: %.*s", r->call_id,
				first_line(error), error);
		disconnect(p);
		result = ACCT_RETRY;
	}
	PQclear(res);
	return result;
}

/* The dburi as libpq takes it (postgres:// is its postgresql://) into
 * `uri`, checked by libpq's own parser: 0, or -1 logged.
 */
static int pg_uri(const char *dburi, char *uri, size_t len)
{
	PQconninfoOption *options;
	char *error = NULL;

	if (!strncmp(dburi, "postgres://", strlen("postgres://")))
		snprintf(uri, len, "postgresql://%s", dburi + strlen("postgres://"));
	else
		snprintf(uri, len, "%s", dburi);
	if (!(options = PQconninfoParse(uri, &error))) {
		log_err("accounting: [Database] dburi: %.*s", error ? first_line(error) : 13,
			error ? error : "out of memory");
		PQfreemem(error);
		return -1;
	}
	PQconninfoFree(options);
	return 0;
}

static void *pg_open(const struct mp_config *cfg, bool *fatal)
{
	struct pg_db *p = calloc(1, sizeof(*p));

	if (!p || pg_uri(cfg->database.dburi, p->uri, sizeof(p->uri))) {
		free(p);
		*fatal = true;
		return NULL;
	}
	p->cfg = cfg;
	connect_db(p, false); /* early, so that a start-up problem shows at once */
	return p;
}

static void pg_close(void *backend)
{
	disconnect(backend);
	free(backend);
}

const struct acct_backend acct_postgresql = {
	.name = "database",
	.open = pg_open,
	.write = pg_write,
	.close = pg_close,
};
