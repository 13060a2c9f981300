/* One accounting destination (doc/accounting.md §3, §4): a database or a RADIUS
 * server.  accounting.c gives each backend its own worker thread, queue and
 * spool; the backend's functions run on that thread only, so they may block
 * (connect, wait for the server) without stalling the proxy socket.
 */
#ifndef MP_ACCT_BACKEND_H
#define MP_ACCT_BACKEND_H

#include <stdbool.h>
#include "config.h"

#define ACCT_TIME_LEN sizeof("YYYY-MM-DD HH:MM:SS")

/* One ended session, as the dispatcher hands it over: `info` is the JSON
 * text of doc/accounting.md §2 (relay keys then the dispatcher's).
 */
struct acct_record {
	char *call_id;
	char *from_tag;
	char *to_tag; /* NULL when the callee never sent one */
	char *info;
	char start_time[ACCT_TIME_LEN]; /* info's start_time, see acct_start_time() */
};

/* The `start_time` of the statistics `info` as the database stores it
 * (doc/accounting.md §3.3): UTC "YYYY-MM-DD HH:MM:SS", the fraction cut
 * off.  Empty when it is missing, not a number, or outside the years 1970
 * to 9999.
 */
void acct_start_time(const char *info, char out[ACCT_TIME_LEN]);

enum acct_result {
	ACCT_WRITTEN,
	ACCT_DUPLICATE, /* already there (a replay after a crash): counts as written */
	ACCT_RETRY,     /* the server is down or refused for now: spool, try again later */
	ACCT_REJECTED,  /* this record can never be written (logged): dropped */
};

struct acct_backend {
	const char *name; /* "database", "radius": log lines and the spool's file name */
	/* Start-up: checks the configuration, loads what it needs, but need not
	 * connect.  NULL with *fatal set on a configuration error (logged).
	 */
	void *(*open)(const struct mp_config *cfg, bool *fatal);
	/* Writes one record, connecting first when not connected.  `quiet`:
	 * the outage is already logged, so do not log connection failures again.
	 */
	enum acct_result (*write)(void *backend, const struct acct_record *record, bool quiet);
	void (*close)(void *backend);
};

/* The database backends, chosen by the dburi's scheme. */
extern const struct acct_backend acct_sqlite;     /* sqlite:///path */
extern const struct acct_backend acct_postgresql; /* postgresql:// or postgres:// (libpq) */
extern const struct acct_backend acct_mysql;      /* mysql:// (libmariadb) */
extern const struct acct_backend acct_radius;     /* [Radius] config_file (radcli) */

/* The insert of doc/accounting.md §3.3 with the configured names, into
 * `out`: `?` placeholders, or `$1`... when `numbered`; the start time
 * column last, when `start_time`.
 */
void acct_insert_statement(const struct mp_config *cfg, bool start_time, bool numbered, char *out, size_t len);

/* The statements that give a table made without it the start time column
 * of `type` and its index (doc/accounting.md §3.2), for PostgreSQL and
 * SQLite; `if_not_exists` puts IF NOT EXISTS on the ALTER too.
 */
void acct_add_column_ddl(const struct mp_config *cfg, const char *type, bool if_not_exists, char *out, size_t len);

/* Logs, once, that the table could not be created (doc/accounting.md §3.2):
 * the error, the rights the user needs, and the statements to run by hand.
 */
void acct_log_create_failure(const struct mp_config *cfg, const char *user, const char *database,
			     const char *error, const char *ddl);
/* Logs, once, that a table without the start time column could not get it
 * (doc/accounting.md §3.2): the error, the right the user needs, and the
 * statements to run; records go on without the column.
 */
void acct_log_alter_failure(const struct mp_config *cfg, const char *user, const char *database,
			    const char *error, const char *ddl);

#endif
