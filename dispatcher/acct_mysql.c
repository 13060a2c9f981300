/* Accounting into MySQL or MariaDB through libmariadb: mysql:// URIs
 * (doc/accounting.md §3).
 */
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acct_backend.h"
#include "acct_mysql.h"
#include "log.h"

#define CONNECT_TIMEOUT 5 /* seconds; then the records wait in the spool */
#define IO_TIMEOUT      30 /* seconds for the server to take or answer one insert */

struct mysql_db {
	const struct mp_config *cfg;
	struct mysql_uri uri;
	MYSQL *conn;
	MYSQL_STMT *insert;
	bool create_failure_logged; /* doc/accounting.md §3.2's advice is given once, not at every retry */
	bool alter_failure_logged;  /* likewise */
	bool with_start_time;       /* the table has the column, the insert fills it */
};

/* ---- the URI ------------------------------------------------------------------ */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copies the n bytes at s to out, %XX decoded: -1 on a bad escape, an
 * encoded NUL, or when out is too small.
 */
static int decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1, lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

#define REFUSE(...) (snprintf(why, why_len, __VA_ARGS__), -1)

static int parse_query(const char *q, struct mysql_uri *u, char *why, size_t why_len)
{
	while (*q) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);

		if (eq && (size_t)(eq - q) == strlen("unix_socket") && !strncmp(q, "unix_socket", strlen("unix_socket"))) {
			if (decode(eq + 1, len - (size_t)(eq + 1 - q), u->unix_socket, sizeof(u->unix_socket)) ||
			    !u->unix_socket[0])
				return REFUSE("bad unix_socket path");
		} else if (len) {
			return REFUSE("unknown parameter '%.*s' (only unix_socket=PATH)", (int)len, q);
		}
		q += len + (q[len] == '&');
	}
	return 0;
}

int mysql_uri_parse(const char *uri, struct mysql_uri *u, char *why, size_t why_len)
{
	const char *p, *at, *host, *end, *port = NULL;
	size_t authority;

	memset(u, 0, sizeof(*u));
	if (strncmp(uri, "mysql://", strlen("mysql://")))
		return REFUSE("not a mysql:// URI");
	p = uri + strlen("mysql://");
	authority = strcspn(p, "/?");
	end = p + authority;
	at = memrchr(p, '@', authority);
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		if (decode(p, (size_t)((colon ? colon : at) - p), u->user, sizeof(u->user)))
			return REFUSE("bad user name");
		if (colon && decode(colon + 1, (size_t)(at - colon - 1), u->password, sizeof(u->password)))
			return REFUSE("bad password");
	}
	host = at ? at + 1 : p;
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (!close || (close + 1 < end && close[1] != ':'))
			return REFUSE("bad IPv6 address");
		if ((size_t)(close - host - 1) >= sizeof(u->host))
			return REFUSE("host name too long");
		memcpy(u->host, host + 1, (size_t)(close - host - 1));
		if (close + 1 < end)
			port = close + 2;
	} else {
		const char *colon = memchr(host, ':', (size_t)(end - host));
		size_t len = (size_t)((colon ? colon : end) - host);

		if (len >= sizeof(u->host))
			return REFUSE("host name too long");
		memcpy(u->host, host, len);
		if (colon)
			port = colon + 1;
	}
	if (port) {
		unsigned long n = 0;
		const char *d;

		for (d = port; d < end && *d >= '0' && *d <= '9' && n <= 65535; d++)
			n = n * 10 + (unsigned long)(*d - '0');
		if (d == port || d != end || n == 0 || n > 65535)
			return REFUSE("bad port '%.*s'", (int)(end - port), port);
		u->port = (unsigned)n;
	}
	if (*end != '/' || decode(end + 1, strcspn(end + 1, "?"), u->database, sizeof(u->database)) ||
	    !u->database[0])
		return REFUSE("no database name (mysql://user:password@host[:port]/database)");
	end += 1 + strcspn(end + 1, "?");
	return *end == '?' ? parse_query(end + 1, u, why, why_len) : 0;
}

/* ---- the table ------------------------------------------------------------------ */

#define TABLE_ENGINE "MyISAM"
/* The start time: DATETIME holds UTC as given, whatever the session's
 * time_zone, and goes past 2038, unlike TIMESTAMP (doc/accounting.md §3.1).
 */
#define START_TIME_TYPE "DATETIME"

/* The start time column's index, in CREATE TABLE and in ALTER TABLE ... ADD */
static void starttime_index(const struct mp_config *cfg, char *out, size_t len)
{
	snprintf(out, len, "INDEX starttime_idx (%s)", cfg->database.starttime_column);
}

/* doc/accounting.md §3.1's table with the configured names.  `by_hand`: the statements as
 * doc/accounting.md §3.1 shows them, for a DBA to run; otherwise the same table in one
 * statement, so that two dispatchers creating it at once cannot leave it
 * half made.
 */
static void ddl(const struct mp_config *cfg, bool by_hand, char *out, size_t len)
{
	const struct mp_database_config *c = &cfg->database;
	char columns[512], key[256], index[128];

	snprintf(columns, sizeof(columns),
		 "    id INT PRIMARY KEY AUTO_INCREMENT,\n"
		 "    %s VARCHAR(255) NOT NULL,\n"
		 "    %s VARCHAR(64) NOT NULL,\n"
		 "    %s VARCHAR(64),\n"
		 "    %s MEDIUMBLOB,\n"
		 "    %s " START_TIME_TYPE,
		 c->callid_column, c->fromtag_column, c->totag_column, c->info_column, c->starttime_column);
	snprintf(key, sizeof(key), "UNIQUE callid_idx (%s, %s, %s)", c->callid_column, c->fromtag_column,
		 c->totag_column);
	starttime_index(cfg, index, sizeof(index));
	if (by_hand)
		snprintf(out, len,
			 "CREATE TABLE %s (\n%s\n);\n"
			 "ALTER TABLE %s ADD %s, ADD %s;\n"
			 "ALTER TABLE %s ENGINE " TABLE_ENGINE ";",
			 c->sessions_table, columns, c->sessions_table, key, index, c->sessions_table);
	else
		snprintf(out, len, "CREATE TABLE IF NOT EXISTS %s (\n%s,\n    %s,\n    %s\n) ENGINE " TABLE_ENGINE,
			 c->sessions_table, columns, key, index);
}

/* The start time column and its index, for a table made without them: one
 * statement, so both or neither.
 */
static void add_column_ddl(const struct mp_config *cfg, char *out, size_t len)
{
	char index[128];

	starttime_index(cfg, index, sizeof(index));
	snprintf(out, len, "ALTER TABLE %s ADD COLUMN %s " START_TIME_TYPE ", ADD %s;", cfg->database.sessions_table,
		 cfg->database.starttime_column, index);
}

/* ---- the connection ------------------------------------------------------------- */

static const char *where(const struct mysql_db *m, char *out, size_t len)
{
	if (m->uri.unix_socket[0] && (!m->uri.host[0] || !strcmp(m->uri.host, "localhost")))
		return m->uri.unix_socket; /* where libmariadb goes then */
	if (!m->uri.port)
		return m->uri.host[0] ? m->uri.host : "localhost";
	snprintf(out, len, "%s:%u", m->uri.host, m->uri.port);
	return out;
}

static void disconnect(struct mysql_db *m)
{
	if (m->insert)
		mysql_stmt_close(m->insert);
	if (m->conn)
		mysql_close(m->conn);
	m->insert = NULL;
	m->conn = NULL;
}

static int create_table(struct mysql_db *m)
{
	char statement[2048];

	ddl(m->cfg, false, statement, sizeof(statement));
	if (mysql_query(m->conn, statement)) {
		if (!m->create_failure_logged) {
			ddl(m->cfg, true, statement, sizeof(statement));
			acct_log_create_failure(m->cfg, m->uri.user[0] ? m->uri.user : "(default)", m->uri.database,
						mysql_error(m->conn), statement);
		}
		m->create_failure_logged = true;
		return -1;
	}
	m->create_failure_logged = false;
	return 0;
}

/* 0, or the error number (in m->conn or the statement) */
static unsigned prepare_insert(struct mysql_db *m, bool with_start_time)
{
	char statement[512];

	if (m->insert)
		mysql_stmt_close(m->insert);
	m->with_start_time = with_start_time;
	if (!(m->insert = mysql_stmt_init(m->conn)))
		return mysql_errno(m->conn) ? mysql_errno(m->conn) : CR_OUT_OF_MEMORY;
	acct_insert_statement(m->cfg, with_start_time, false, statement, sizeof(statement));
	return mysql_stmt_prepare(m->insert, statement, strlen(statement)) ? mysql_stmt_errno(m->insert) : 0;
}

/* A table of the layout without the start time (doc/accounting.md §3.2)
 * gets the column: true when it did.
 */
static bool add_column(struct mysql_db *m)
{
	char statement[512];

	add_column_ddl(m->cfg, statement, sizeof(statement));
	/* a duplicate column: another dispatcher added it (and the index) just now */
	if (mysql_query(m->conn, statement) && mysql_errno(m->conn) != ER_DUP_FIELDNAME) {
		if (!m->alter_failure_logged)
			acct_log_alter_failure(m->cfg, m->uri.user[0] ? m->uri.user : "(default)", m->uri.database,
					       mysql_error(m->conn), statement);
		m->alter_failure_logged = true;
		return false;
	}
	log_info("accounting: added the column %s to the table %s", m->cfg->database.starttime_column,
		 m->cfg->database.sessions_table);
	m->alter_failure_logged = false;
	return true;
}

/* Prepares the insert with the start time; into a table that lacks that
 * column alone, after adding it, or without it when it cannot be added.
 * 0, or the error number.
 */
static unsigned prepare_with_start_time(struct mysql_db *m)
{
	unsigned err = prepare_insert(m, true);

	if (err != ER_BAD_FIELD_ERROR || (err = prepare_insert(m, false))) /* another column is missing */
		return err;
	return add_column(m) ? prepare_insert(m, true) : 0;
}

/* Connects, makes the table when it is missing and prepares the insert. */
static int connect_db(struct mysql_db *m, bool quiet)
{
	const struct mysql_uri *u = &m->uri;
	unsigned connect_timeout = CONNECT_TIMEOUT, io_timeout = IO_TIMEOUT, err;
	char place[300];

	if (!(m->conn = mysql_init(NULL))) {
		log_err("accounting: out of memory for a MySQL connection");
		return -1;
	}
	mysql_options(m->conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	mysql_options(m->conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
	mysql_options(m->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
	mysql_options(m->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!mysql_real_connect(m->conn, u->host[0] ? u->host : NULL, u->user[0] ? u->user : NULL, u->password,
				u->database, u->port, u->unix_socket[0] ? u->unix_socket : NULL, 0)) {
		if (!quiet)
			log_err("accounting: cannot connect to the MySQL database %s on %s as %s: %s", u->database,
				where(m, place, sizeof(place)), u->user, mysql_error(m->conn));
		disconnect(m);
		return -1;
	}
	err = prepare_with_start_time(m);
	if (err == ER_NO_SUCH_TABLE) {
		if (create_table(m)) {
			disconnect(m);
			return -1;
		}
		log_info("accounting: created the table %s in the MySQL database %s", m->cfg->database.sessions_table,
			 u->database);
		err = prepare_with_start_time(m);
	}
	if (err) {
		if (!quiet)
			log_err("accounting: cannot prepare the insert into %s: %s", m->cfg->database.sessions_table,
				m->insert ? mysql_stmt_error(m->insert) : mysql_error(m->conn));
		disconnect(m);
		return -1;
	}
	log_info("accounting: sessions go to the MySQL database %s on %s, table %s%s", u->database,
		 where(m, place, sizeof(place)), m->cfg->database.sessions_table,
		 m->with_start_time ? "" : ", without the start time");
	return 0;
}

/* ---- the records ------------------------------------------------------------------ */

static unsigned insert(struct mysql_db *m, const struct acct_record *r)
{
	unsigned long lengths[5] = { strlen(r->call_id), strlen(r->from_tag), r->to_tag ? strlen(r->to_tag) : 0,
				     strlen(r->info), strlen(r->start_time) };
	my_bool to_tag_null = !r->to_tag, start_time_null = !r->start_time[0];
	MYSQL_BIND bind[5];

	memset(bind, 0, sizeof(bind));
	bind[0].buffer_type = MYSQL_TYPE_STRING;
	bind[0].buffer = r->call_id;
	bind[1].buffer_type = MYSQL_TYPE_STRING;
	bind[1].buffer = r->from_tag;
	bind[2].buffer_type = MYSQL_TYPE_STRING;
	bind[2].buffer = r->to_tag;
	bind[2].is_null = &to_tag_null;
	bind[3].buffer_type = MYSQL_TYPE_BLOB; /* the JSON's bytes, unchanged */
	bind[3].buffer = r->info;
	bind[4].buffer_type = MYSQL_TYPE_STRING; /* "YYYY-MM-DD HH:MM:SS", UTC */
	bind[4].buffer = (char *)r->start_time;
	bind[4].is_null = &start_time_null;
	for (int i = 0; i < 5; i++) {
		bind[i].buffer_length = lengths[i];
		bind[i].length = &lengths[i];
	}
	if (mysql_stmt_bind_param(m->insert, bind) || mysql_stmt_execute(m->insert))
		return mysql_stmt_errno(m->insert);
	return 0;
}

static enum acct_result mysql_write(void *backend, const struct acct_record *r, bool quiet)
{
	struct mysql_db *m = backend;
	bool fresh = !m->conn;
	unsigned err;

	if (!m->conn && connect_db(m, quiet))
		return ACCT_RETRY;
	err = insert(m, r);
	if (!fresh && (err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST)) {
		/* the server closed the connection while it was idle (a restart,
		 * wait_timeout): once more on a new one, which is refused at once
		 * if the server is really away
		 */
		disconnect(m);
		if (connect_db(m, quiet))
			return ACCT_RETRY;
		err = insert(m, r);
	}
	if (err == ER_NO_SUCH_TABLE) {
		char original[512];

		/* dropped while we were connected: made again, one more try (doc/accounting.md §3.2) */
		snprintf(original, sizeof(original), "%s", mysql_stmt_error(m->insert));
		if (!create_table(m) && !prepare_with_start_time(m)) {
			log_info("accounting: the table %s was missing; created it again",
				 m->cfg->database.sessions_table);
			err = insert(m, r);
		} else {
			if (!quiet)
				log_err("accounting: failed to insert the record of %s into MySQL: %s", r->call_id,
					original);
			disconnect(m);
			return ACCT_RETRY;
		}
	}
	switch (err) {
	case 0:
		return ACCT_WRITTEN;
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
		return ACCT_DUPLICATE;
	case ER_DATA_TOO_LONG:
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_BAD_NULL_ERROR:
	case ER_NET_PACKET_TOO_LARGE: /* over max_allowed_packet: the server closes the connection */
	case CR_NET_PACKET_TOO_LARGE:
		log_err("accounting: the MySQL database refused the record of %s for good: %s; it is dropped",
			r->call_id, mysql_stmt_error(m->insert));
		if (err == ER_NET_PACKET_TOO_LARGE || err == CR_NET_PACKET_TOO_LARGE)
			disconnect(m);
		return ACCT_REJECTED;
	default:
		/* client errors (CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ...) mean the
		 * connection went; anything else may be mended on the server's
		 * side: either way connect again for the next try
		 */
		if (!quiet)
			log_err("accounting: failed to insert the record of %s into MySQL: %s", r->call_id,
				m->insert ? mysql_stmt_error(m->insert) : mysql_error(m->conn));
		disconnect(m);
		return ACCT_RETRY;
	}
}

static void *mysql_open(const struct mp_config *cfg, bool *fatal)
{
	struct mysql_db *m = calloc(1, sizeof(*m));
	char why[200];

	if (!m) {
		*fatal = true;
		return NULL;
	}
	m->cfg = cfg;
	if (mysql_uri_parse(cfg->database.dburi, &m->uri, why, sizeof(why))) {
		log_err("accounting: [Database] dburi: %s", why);
		free(m);
		*fatal = true;
		return NULL;
	}
	/* not thread-safe: here, on the main thread, before the worker's first mysql_init */
	if (mysql_library_init(0, NULL, NULL)) {
		log_err("accounting: cannot initialize the MySQL client library");
		free(m);
		*fatal = true;
		return NULL;
	}
	connect_db(m, false); /* early, so that a start-up problem shows at once */
	return m;
}

static void mysql_close_backend(void *backend)
{
	disconnect(backend);
	free(backend);
}

const struct acct_backend acct_mysql = {
	.name = "database",
	.open = mysql_open,
	.write = mysql_write,
	.close = mysql_close_backend,
};
