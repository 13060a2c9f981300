/* The dispatcher's reading of proxy requests (doc/proxy-protocol.md §2) and its
 * session records (doc/proxy-protocol.md §7.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "proxy_request.h"
#include "records.h"

/* Feeds CRLF-separated text line by line; returns the result of the last line. */
static int feed(struct proxy_request *r, const char *text)
{
	int done = 0;

	while (*text) {
		const char *eol = strstr(text, "\r\n");

		assert_non_null(eol);
		done = proxy_request_add_line(r, text, (size_t)(eol - text));
		text = eol + 2;
	}
	return done;
}

static void test_module_request(void **state)
{
	struct proxy_request r;

	proxy_request_init(&r);
	assert_int_equal(feed(&r, "update\r\ntype: request\r\ndialog_id: 3021:17\r\ncall_id: abc@h\r\n"
				  "to_tag: \r\nmedia_relay: \r\nmedia: audio:1.2.3.4:5:sendrecv:ice=no\r\n"),
			 0);
	assert_int_equal(feed(&r, "\r\n"), 1);
	assert_string_equal(r.command, "update");
	assert_string_equal(r.call_id, "abc@h");
	assert_string_equal(r.dialog_id, "3021:17");
	assert_null(r.media_relay); /* sent empty: absent */
	assert_false(r.malformed);
	/* forwarded in order, without the empty headers */
	assert_int_equal(r.headers_len, strlen("type: request\r\ndialog_id: 3021:17\r\ncall_id: abc@h\r\n"
					       "media: audio:1.2.3.4:5:sendrecv:ice=no\r\n"));
	assert_memory_equal(r.headers, "type: request\r\ndialog_id: 3021:17\r\ncall_id: abc@h\r\nmedia:",
			    strlen("type: request\r\ndialog_id: 3021:17\r\ncall_id: abc@h\r\nmedia:"));
	proxy_request_free(&r);
}

static void test_framing_rules(void **state)
{
	struct proxy_request r;

	proxy_request_init(&r);
	/* blank lines before a request are ignored (rule 2) */
	assert_int_equal(feed(&r, "\r\n\r\n"), 0);
	assert_null(r.command);
	/* the last duplicate wins for the dispatcher; bytes are opaque; "a: b: " ends in ": " and goes */
	feed(&r, "remove\r\ncall_id: first\r\ncall_id: s\xe9" "cond\r\nuser_agent: x: \r\n");
	assert_string_equal(r.call_id, "s\xe9" "cond");
	assert_int_equal(r.headers_len, strlen("call_id: first\r\ncall_id: s\xe9" "cond\r\n"));
	/* no ": " makes the request fail, and so does "to_tag:" without the space */
	feed(&r, "to_tag:\r\n");
	assert_true(r.malformed);
	assert_int_equal(feed(&r, "\r\n"), 1);
	proxy_request_free(&r);
}

/* D4: the header lines stop being kept at PROXY_HEADERS_MAX, so 10 MiB of
 * them cost no memory; the request is marked and still ends at its empty
 * line.
 */
static void test_request_limit(void **state)
{
	struct proxy_request r;
	char line[1024];
	size_t kept;

	memset(line, 'v', sizeof(line));
	memcpy(line, "h: ", 3);
	proxy_request_init(&r);
	assert_int_equal(proxy_request_add_line(&r, "update", 6), 0);
	assert_int_equal(proxy_request_add_line(&r, "call_id: big", 12), 0);
	for (int i = 0; i < 10 * 1024; i++)
		assert_int_equal(proxy_request_add_line(&r, line, sizeof(line)), 0);
	assert_true(r.too_long);
	assert_true(r.headers_len <= PROXY_HEADERS_MAX);
	kept = r.headers_len;
	assert_int_equal(proxy_request_add_line(&r, "call_id: later", 14), 0);
	assert_int_equal(r.headers_len, kept);
	assert_int_equal(proxy_request_add_line(&r, "", 0), 1);
	proxy_request_free(&r);

	/* exactly at the limit is kept */
	proxy_request_init(&r);
	proxy_request_add_line(&r, "update", 6);
	while (r.headers_len + sizeof(line) + 2 <= PROXY_HEADERS_MAX)
		proxy_request_add_line(&r, line, sizeof(line));
	proxy_request_add_line(&r, line, PROXY_HEADERS_MAX - r.headers_len - 2);
	assert_int_equal(r.headers_len, PROXY_HEADERS_MAX);
	assert_false(r.too_long);
	proxy_request_free(&r);
}

static void test_records(void **state)
{
	struct records *t = records_new();
	char id[32];

	assert_non_null(t);
	for (int i = 0; i < 5000; i++) { /* past the first table size */
		snprintf(id, sizeof(id), "call-%d", i);
		assert_non_null(records_put(t, id, i % 2 ? "198.18.0.50" : "198.18.0.51", i % 3 ? NULL : "1:2"));
	}
	assert_int_equal(records_count(t), 5000);
	assert_string_equal(records_find(t, "call-7")->relay_ip, "198.18.0.50");
	assert_null(records_find(t, "call-7")->dialog_id);
	assert_string_equal(records_find(t, "call-9")->dialog_id, "1:2");
	/* one record per Call-ID: a second put replaces */
	records_put(t, "call-7", "198.18.0.52", NULL);
	assert_int_equal(records_count(t), 5000);
	assert_string_equal(records_find(t, "call-7")->relay_ip, "198.18.0.52");
	records_delete(t, "call-7");
	assert_null(records_find(t, "call-7"));
	assert_int_equal(records_count(t), 4999);
	records_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_module_request),
		cmocka_unit_test(test_framing_rules),
		cmocka_unit_test(test_request_limit),
		cmocka_unit_test(test_records),
	};

	return cmocka_run_group_tests_name("proxy_request", tests, NULL, NULL);
}
