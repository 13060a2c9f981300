/* What the database backends share (doc/accounting.md §3): the advice
 * logged when the table cannot be made or altered, the insert statement,
 * and the start time as the tables store it.
 */
#include <jansson.h>
#include <stdio.h>
#include <time.h>
#include "acct_backend.h"
#include "log.h"

#define SCISSORS "--------8<--------"

void acct_log_create_failure(const struct mp_config *cfg, const char *user, const char *database, const char *error,
			     const char *ddl)
{
	log_err("accounting: cannot create the table %s: %s", cfg->database.sessions_table, error);
	log_info("accounting: the database user %s needs the CREATE and ALTER rights on the database %s; grant them "
		 "and restart the dispatcher, or create the table by hand:\n" SCISSORS "\n%s\n" SCISSORS,
		 user, database, ddl);
}

void acct_log_alter_failure(const struct mp_config *cfg, const char *user, const char *database, const char *error,
			    const char *ddl)
{
	const struct mp_database_config *c = &cfg->database;

	log_warn("accounting: cannot add the column %s to the table %s: %s; records are written without it",
		 c->starttime_column, c->sessions_table, error);
	log_info("accounting: the database user %s needs the ALTER right on the table %s in the database %s; grant it "
		 "and restart the dispatcher, or add the column by hand:\n" SCISSORS "\n%s\n" SCISSORS,
		 user, c->sessions_table, database, ddl);
}

void acct_insert_statement(const struct mp_config *cfg, bool start_time, bool numbered, char *out, size_t len)
{
	const struct mp_database_config *c = &cfg->database;
	int n = snprintf(out, len, "INSERT INTO %s (%s, %s, %s, %s%s%s) VALUES (", c->sessions_table, c->callid_column,
			 c->fromtag_column, c->totag_column, c->info_column, start_time ? ", " : "",
			 start_time ? c->starttime_column : "");

	for (int i = 1; i <= 4 + start_time && n > 0 && (size_t)n < len; i++)
		n += numbered ? snprintf(out + n, len - (size_t)n, "%s$%d", i > 1 ? ", " : "", i)
			      : snprintf(out + n, len - (size_t)n, "%s?", i > 1 ? ", " : "");
	if (n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, ")");
}

void acct_add_column_ddl(const struct mp_config *cfg, const char *type, bool if_not_exists, char *out, size_t len)
{
	const struct mp_database_config *c = &cfg->database;

	snprintf(out, len,
		 "ALTER TABLE %s ADD COLUMN %s%s %s;\n"
		 "CREATE INDEX IF NOT EXISTS %s_starttime_idx ON %s (%s);",
		 c->sessions_table, if_not_exists ? "IF NOT EXISTS " : "", c->starttime_column, type, c->sessions_table,
		 c->sessions_table, c->starttime_column);
}

/* 10000-01-01 00:00:00 UTC: MySQL's DATETIME ends before it */
#define YEAR_10000 253402300800.0

void acct_start_time(const char *info, char out[ACCT_TIME_LEN])
{
	json_t *stats = json_loads(info, 0, NULL), *start = json_object_get(stats, "start_time");
	double t = json_number_value(start);
	struct tm tm;

	out[0] = '\0';
	/* t >= 0, so the cast cuts the fraction off towards the past */
	if (json_is_number(start) && t >= 0 && t < YEAR_10000 && gmtime_r(&(time_t){ (time_t)t }, &tm))
		strftime(out, ACCT_TIME_LEN, "%Y-%m-%d %H:%M:%S", &tm);
	json_decref(stats);
}
