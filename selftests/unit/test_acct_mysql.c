/* The mysql:// URI of [Database] dburi (doc/accounting.md §3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "acct_mysql.h"

static void test_full_uri(void **state)
{
	struct mysql_uri u;
	char why[200] = "";

	assert_int_equal(mysql_uri_parse("mysql://mediaproxy:CHANGEME@db.example:3307/mediaproxy", &u, why, sizeof(why)),
			 0);
	assert_string_equal(u.user, "mediaproxy");
	assert_string_equal(u.password, "CHANGEME");
	assert_string_equal(u.host, "db.example");
	assert_int_equal(u.port, 3307);
	assert_string_equal(u.database, "mediaproxy");
	assert_string_equal(u.unix_socket, "");
}

static void test_percent_decoding(void **state)
{
	struct mysql_uri u;
	char why[200] = "";

	/* the password se:cr@t/% and a socket path with a space */
	assert_int_equal(mysql_uri_parse("mysql://m%40p:se%3Acr%40t%2F%25@/acct%2D1?unix_socket=/run/my%20sql/s.sock", &u,
					 why, sizeof(why)),
			 0);
	assert_string_equal(u.user, "m@p");
	assert_string_equal(u.password, "se:cr@t/%");
	assert_string_equal(u.host, "");
	assert_int_equal(u.port, 0);
	assert_string_equal(u.database, "acct-1");
	assert_string_equal(u.unix_socket, "/run/my sql/s.sock");
}

static void test_hosts(void **state)
{
	struct mysql_uri u;
	char why[200] = "";

	assert_int_equal(mysql_uri_parse("mysql://u@[::1]:3306/d", &u, why, sizeof(why)), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 3306);
	assert_string_equal(u.password, "");
	assert_int_equal(mysql_uri_parse("mysql://u@[fe80::1]/d", &u, why, sizeof(why)), 0);
	assert_string_equal(u.host, "fe80::1");
	assert_int_equal(u.port, 0);
	assert_int_equal(mysql_uri_parse("mysql://localhost/d", &u, why, sizeof(why)), 0);
	assert_string_equal(u.user, "");
	assert_string_equal(u.host, "localhost");
	/* only the last @ ends the user part */
	assert_int_equal(mysql_uri_parse("mysql://u:p@ss@h/d", &u, why, sizeof(why)), 0);
	assert_string_equal(u.password, "p@ss");
	assert_string_equal(u.host, "h");
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"postgresql://u@h/d",        "mysql://u@h",          "mysql://u@h/",          "mysql://u@h:0/d",
		"mysql://u@h:65536/d",       "mysql://u@h:33x/d",    "mysql://u@h:/d",        "mysql://u@[::1/d",
		"mysql://u%zz@h/d",          "mysql://u%0@h/d",      "mysql://u%00@h/d",      "mysql://u@h/d?socket=/s",
		"mysql://u@h/d?unix_socket=", "mysql://u@[::1]x:1/d",
	};
	struct mysql_uri u;
	char why[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (mysql_uri_parse(bad[i], &u, why, sizeof(why)) != -1)
			fail_msg("%s was taken", bad[i]);
		assert_true(why[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_uri),
		cmocka_unit_test(test_percent_decoding),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests_name("acct_mysql", tests, NULL, NULL);
}
