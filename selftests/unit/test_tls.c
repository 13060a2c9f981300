/* Unit tests of the passport check (common/tls.c, doc/relay-protocol.md §3.4):
 * the value patterns, a subject against a parsed passport, and where
 * mp_tls_find_files looks for the credentials.  Handshakes are in
 * selftests/test_tls.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/x509.h>
#include "config_types.h"
#include "log.h"
#include "tls.h"

static void test_value_patterns(void **state)
{
	static const struct {
		const char *pattern, *value;
		int match;
	} cases[] = {
		{ "relay", "relay", 1 },
		{ "relay", "relay-1", 0 },
		{ "relay", "Relay", 0 }, /* case-sensitive */
		{ "relay", "", 0 },
		{ "relay*", "relay", 1 },
		{ "relay*", "relay-ams-3", 1 },
		{ "relay*", "a-relay", 0 },
		{ "relay*", "rela", 0 },
		{ "*dispatcher", "dispatcher", 1 },
		{ "*dispatcher", "main-dispatcher", 1 },
		{ "*dispatcher", "dispatcher-2", 0 },
		{ "*dispatcher", "patcher", 0 },
		{ "*", "", 1 },
		{ "*", "anything", 1 },
		{ "*mid*", "a mid*", 1 }, /* a leading * wins: ends with "mid*" */
		{ "*mid*", "a middle", 0 },
		{ "a*b", "a*b", 1 }, /* a * inside is literal */
		{ "a*b", "axb", 0 },
		{ "", "", 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = mp_tls_passport_value_matches(cases[i].pattern, cases[i].value);

		if (got != cases[i].match)
			fail_msg("'%s' against '%s': got %d", cases[i].pattern, cases[i].value, got);
	}
}

static X509_NAME *subject(void)
{
	X509_NAME *name = X509_NAME_new();
	static const char *const fields[][2] = {
		{ "C", "NL" },
		{ "ST", "Noord-Holland" },
		{ "L", "Amsterdam" },
		{ "O", "Example Carrier, Inc." },
		{ "OU", "Media" },
		{ "OU", "Second unit" },
		{ "CN", "relay-ams-3" },
		{ "emailAddress", "ops@example.net" },
	};

	assert_non_null(name);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, fields[i][0], MBSTRING_UTF8,
							    (const unsigned char *)fields[i][1], -1, -1, 0),
				 1);
	return name;
}

/* check TEXT: parses TEXT as config.ini would and checks the subject */
static int check(const X509_NAME *name, const char *text, char *why, size_t why_len)
{
	struct mp_passport passport;
	char err[256];

	if (mp_parse_passport(text, &passport, 0, err, sizeof(err)))
		fail_msg("passport '%s' does not parse: %s", text, err);
	*why = '\0';
	return mp_tls_passport_check_name(name, &passport, why, why_len);
}

static void test_subject_matches(void **state)
{
	static const char *const good[] = {
		"None",
		"CN:relay-ams-3",
		"CN:relay*",
		"CN:*ams-3",
		"O:Example Carrier\\, Inc.",
		"O:Example*, CN:relay*",
		"C:NL, ST:Noord-Holland, L:Amsterdam, O:*Inc., OU:Media, CN:relay-ams-3, EMAIL:ops@example.net",
		"EMAIL:*@example.net",
		"OU:Media", /* the first OU, as the original */
	};
	X509_NAME *name = subject();
	char why[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (check(name, good[i], why, sizeof(why)))
			fail_msg("passport '%s' refused: %s", good[i], why);
	X509_NAME_free(name);
}

static void test_subject_mismatches(void **state)
{
	static const struct {
		const char *passport, *why;
	} bad[] = {
		{ "CN:relay", "CN 'relay-ams-3' does not match 'relay'" },
		{ "CN:Relay*", "CN 'relay-ams-3' does not match 'Relay*'" },
		{ "CN:*ams", "CN 'relay-ams-3' does not match '*ams'" },
		{ "O:Example*, CN:dispatcher*", "CN 'relay-ams-3' does not match 'dispatcher*'" },
		{ "C:DE", "C 'NL' does not match 'DE'" },
		{ "ST:*Brabant", "ST 'Noord-Holland' does not match '*Brabant'" },
		{ "L:Rotterdam", "L 'Amsterdam' does not match 'Rotterdam'" },
		{ "OU:Second unit", "OU 'Media' does not match 'Second unit'" },
		{ "EMAIL:*.org", "EMAIL 'ops@example.net' does not match '*.org'" },
	};
	X509_NAME *name = subject();
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(name, bad[i].passport, why, sizeof(why)), -1);
		assert_string_equal(why, bad[i].why);
	}
	X509_NAME_free(name);
}

static void test_missing_attribute_fails(void **state)
{
	X509_NAME *name = X509_NAME_new();
	char why[256];

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"relay", -1, -1, 0);
	assert_int_equal(check(name, "CN:relay", why, sizeof(why)), 0);
	assert_int_equal(check(name, "CN:relay, O:*", why, sizeof(why)), -1);
	assert_string_equal(why, "subject has no O (passport wants '*')");
	assert_int_equal(check(name, "EMAIL:*", why, sizeof(why)), -1);
	assert_string_equal(why, "subject has no EMAIL (passport wants '*')");
	X509_NAME_free(name);
}

static void test_embedded_nul_fails(void **state)
{
	X509_NAME *name = X509_NAME_new();
	char why[256];

	/* "relay\0.evil": must not pass as "relay" */
	X509_NAME_add_entry_by_txt(name, "CN", V_ASN1_UTF8STRING, (const unsigned char *)"relay\0.evil", 11, -1, 0);
	assert_int_equal(check(name, "CN:relay", why, sizeof(why)), -1);
	assert_int_equal(check(name, "CN:relay*", why, sizeof(why)), -1);
	X509_NAME_free(name);
}

static void test_none_accepts_anything(void **state)
{
	struct mp_passport none = { 0 };
	char why[64];

	assert_int_equal(mp_tls_passport_check_name(NULL, &none, why, sizeof(why)), 0);
	assert_int_equal(mp_tls_passport_check_name(NULL, NULL, why, sizeof(why)), 0);
}

static void test_find_files(void **state)
{
	char base[] = "/tmp/mp-unit-tls.XXXXXX", local[64], sys[64], path[128], err[512];
	const char *dirs[] = { NULL, local, sys };
	struct mp_tls_files f;

	assert_non_null(mkdtemp(base));
	snprintf(local, sizeof(local), "%s/local", base);
	snprintf(sys, sizeof(sys), "%s/sys", base);
	mkdir(local, 0755);
	mkdir(sys, 0755);
	snprintf(path, sizeof(path), "%s/tls", sys);
	mkdir(path, 0755);

	assert_int_equal(mp_tls_find_files("tls", dirs, 3, MP_TLS_ROLE_RELAY, &f, err, sizeof(err)), 0);
	assert_string_equal(f.dir, path);
	snprintf(path, sizeof(path), "%s/tls/relay.key", sys);
	assert_string_equal(f.key, path);

	snprintf(path, sizeof(path), "%s/tls", local);
	mkdir(path, 0755);
	assert_int_equal(mp_tls_find_files("tls", dirs, 3, MP_TLS_ROLE_DISPATCHER, &f, err, sizeof(err)), 0);
	assert_string_equal(f.dir, path);
	snprintf(path, sizeof(path), "%s/tls/dispatcher.crt", local);
	assert_string_equal(f.cert, path);
	snprintf(path, sizeof(path), "%s/tls/ca.pem", local);
	assert_string_equal(f.ca, path);
	snprintf(path, sizeof(path), "%s/tls/crl.pem", local);
	assert_string_equal(f.crl, path);

	assert_int_equal(mp_tls_find_files(sys, dirs, 0, "management", &f, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/management.crt", sys);
	assert_string_equal(f.cert, path);

	assert_int_equal(mp_tls_find_files("nope", dirs, 3, "relay", &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(mp_tls_find_files("tls", dirs, 3, "../x", &f, err, sizeof(err)), -1);
	assert_int_equal(mp_tls_find_files("", dirs, 3, "relay", &f, err, sizeof(err)), -1);

	snprintf(path, sizeof(path), "rm -rf '%s'", base);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value_patterns),
		cmocka_unit_test(test_subject_matches),
		cmocka_unit_test(test_subject_mismatches),
		cmocka_unit_test(test_missing_attribute_fails),
		cmocka_unit_test(test_embedded_nul_fails),
		cmocka_unit_test(test_none_accepts_anything),
		cmocka_unit_test(test_find_files),
	};

	mp_log_open("test_tls", MP_LOG_TERMINAL);
	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
