/* The OpenSIPS dialog id -> did conversion (doc/accounting.md §5.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "opensips_did.h"

struct did_case {
	const char *name;
	const char *dialog_id;
	const char *did; /* NULL: refused */
};

static const struct did_case cases[] = {
	/* measured on OpenSIPS 3.6.8: dlg_list's db_id and ID of one dialog */
	{ "OpenSIPS 3.6.8's pair", "1431723840536", "d41.81414695" },
	/* the spec's example: h_entry 3021 (0xbcd), h_id 17 (0x11) */
	{ "3021/17", "12975096201233", "dcb.11" },
	{ "both zero", "0", "0.0" },
	{ "h_entry zero", "17", "0.11" },
	{ "h_id zero", "4294967296", "1.0" },
	{ "largest h_id", "4294967295", "0.ffffffff" },
	{ "largest h_entry, h_id zero", "18446744069414584320", "ffffffff.0" },
	{ "largest both (2^64 - 1)", "18446744073709551615", "ffffffff.ffffffff" },
	{ "leading zeros", "0012975096201233", "dcb.11" },
	{ "2^64 overflows", "18446744073709551616", NULL },
	{ "far too long", "123456789012345678901234567890", NULL },
	{ "empty", "", NULL },
	{ "Kamailio's h_entry:h_id", "3021:17", NULL },
	{ "already a did", "d41.81414695", NULL },
	{ "sign", "-17", NULL },
	{ "trailing space", "17 ", NULL },
	{ "hex", "0x11", NULL },
};

static void test_did(void **state)
{
	const struct did_case *c = *state;
	char did[OPENSIPS_DID_SIZE] = "untouched";

	if (c->did) {
		assert_int_equal(opensips_did(c->dialog_id, did), 0);
		assert_string_equal(did, c->did);
	} else {
		assert_int_equal(opensips_did(c->dialog_id, did), -1);
		assert_string_equal(did, "untouched");
	}
}

int main(void)
{
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	static struct CMUnitTest tests[N];

	for (int i = 0; i < N; i++)
		tests[i] = (struct CMUnitTest){ cases[i].name, test_did, NULL, NULL, (void *)&cases[i] };
	return cmocka_run_group_tests_name("opensips_did", tests, NULL, NULL);
}
