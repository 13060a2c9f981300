/* [Database] dburi (doc/accounting.md §3): the input is the value as
 * config.ini gives it (up to a NUL byte).  It goes through the config
 * check (common/config_types.c), then the parser of its backend:
 * mysql_uri_parse() (dispatcher/acct_mysql.c), the postgresql:// rewrite
 * and libpq's check (dispatcher/acct_postgresql.c), or the sqlite path.
 * Checked besides memory: what a parser accepts is within its bounds.
 */
#include "acct_mysql.h"
#include "config.h"
#include "fuzz.h"
#include "acct_postgresql.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-dburi");
	return 0;
}

static bool terminated(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}

static void check_mysql(const char *dburi)
{
	struct mysql_uri u;
	char why[256];

	if (mysql_uri_parse(dburi, &u, why, sizeof(why))) {
		FUZZ_CHECK(why[0]);
		return;
	}
	FUZZ_CHECK(terminated(u.user, sizeof(u.user)) && terminated(u.password, sizeof(u.password)));
	FUZZ_CHECK(terminated(u.host, sizeof(u.host)) && terminated(u.unix_socket, sizeof(u.unix_socket)));
	FUZZ_CHECK(terminated(u.database, sizeof(u.database)) && u.database[0]);
	FUZZ_CHECK(u.port <= 65535);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mp_database_config db;
	char *text = fuzz_string((struct fuzz_bytes){ data, size }), why[256];
	char pg[sizeof(((struct pg_db *)0)->uri)];

	/* each parser on its own, then as the dispatcher chains them */
	check_mysql(text);
	if (!mp_parse_dburi(text, db.dburi, sizeof(db.dburi), why, sizeof(why))) {
		FUZZ_CHECK(terminated(db.dburi, sizeof(db.dburi)));
		if (!strncmp(db.dburi, "postgres", strlen("postgres")))
			pg_uri(db.dburi, pg, sizeof(pg));
		else if (!strncmp(db.dburi, "sqlite://", strlen("sqlite://")))
			FUZZ_CHECK(db.dburi[strlen("sqlite://")]);
		else
			check_mysql(db.dburi);
	}
	free(text);
	return 0;
}
