/* The radiusclient file of [Radius] config_file (dispatcher/acct_radius.c,
 * doc/accounting.md §4): the backend opens with a file made for
 * accounting, and refuses, naming file and line, servers that radcli would
 * misread: a port that is not a number (radcli's atoi() makes it 0),
 * more than radcli's SERVER_MAX servers (radcli writes past its arrays) and
 * an auth_order without a word (radcli crashes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "acct_backend.h"
#include "log.h"
#include "log_capture.h"

/* radcli 1.2 frees only the first name and secret of a server list
 * (rc_config_free): its leak, not ours, left out of LeakSanitizer's report
 * in a SANITIZE=1 build, and quietly (a report file fails the test).
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libradcli.so\n";
}

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "print_suppressions=0";
}

static char dir[64], client_conf[128];
static struct mp_config cfg;

static int make_dir(void **state)
{
	strcpy(dir, "/tmp/mp-unit-radius.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(client_conf, sizeof(client_conf), "%s/client.conf", dir);
	snprintf(cfg.radius.config_file, sizeof(cfg.radius.config_file), "%s", client_conf);
	snprintf(cfg.radius.additional_dictionary, sizeof(cfg.radius.additional_dictionary), "%s/none", dir);
	return 0;
}

static int remove_dir(void **state)
{
	unlink(client_conf);
	return rmdir(dir);
}

/* Opens the backend on a client file of `text`; *log gets what it logged. */
static void *open_with(const char *text, bool *fatal, const char **log)
{
	FILE *f = fopen(client_conf, "w");
	struct log_capture capture;
	void *backend;

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	log_capture_start(&capture);
	backend = acct_radius.open(&cfg, fatal);
	*log = log_capture_end(&capture);
	return backend;
}

static void expect_refused(const char *text, const char *why)
{
	const char *log;
	bool fatal = false;

	assert_null(open_with(text, &fatal, &log));
	assert_true(fatal);
	if (!strstr(log, why))
		fail_msg("expected '%s' in the log, got: %s", why, log);
}

static void test_accounting_file_opens(void **state)
{
	const char *log;
	bool fatal = true;
	void *backend = open_with("# accounting only\n"
				  "acctserver 198.18.3.20:1813:testing123, [2001:db8::20]:1814:s2 198.18.3.21\n"
				  "radius_timeout 5\nradius_retries 2\ndefault_realm\n",
				  &fatal, &log);

	assert_non_null(backend);
	assert_false(fatal);
	acct_radius.close(backend);
}

static void test_port_not_a_number(void **state)
{
	expect_refused("acctserver 198.18.3.20:radius:testing123\n", "client.conf:1: acctserver: the port of");
	expect_refused("radius_timeout 5\nacctserver [2001:db8::20]x:testing123\n", "client.conf:2: acctserver:");
	expect_refused("acctserver 198.18.3.20:1813:s\nauthserver 198.18.3.20:0\n", "client.conf:2: authserver:");
	expect_refused("acctserver 198.18.3.20:70000\n", "not a number from 1 to 65535");
	expect_refused("acctserver [2001:db8::20:1813:s\n", "has no ']'");
}

static void test_auth_order_without_word(void **state)
{
	expect_refused("acctserver 198.18.3.20\nauth_order ,\n", "client.conf:2: auth_order: no word");
}

static void test_more_servers_than_radcli_holds(void **state)
{
	expect_refused("acctserver 198.18.3.20,198.18.3.21,198.18.3.22,198.18.3.23,198.18.3.24,198.18.3.25,"
		       "198.18.3.26,198.18.3.27,198.18.3.28:1813:s\n",
		       "client.conf:1: acctserver: more than 8 servers");
	/* radcli joins the lines of one option */
	expect_refused("acctserver 198.18.3.20 198.18.3.21 198.18.3.22 198.18.3.23\n"
		       "acctserver 198.18.3.24 198.18.3.25 198.18.3.26 198.18.3.27\n"
		       "acctserver 198.18.3.28\n",
		       "client.conf:3: acctserver: more than 8 servers");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accounting_file_opens),
		cmocka_unit_test(test_port_not_a_number),
		cmocka_unit_test(test_more_servers_than_radcli_holds),
		cmocka_unit_test(test_auth_order_without_word),
	};

	mp_log_open("test_radius_conf", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_INFO);
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
