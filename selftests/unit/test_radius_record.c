/* The RADIUS record made of a session's statistics (doc/accounting.md §4.2),
 * without radcli or a server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "acct_radius.h"

/* doc/accounting.md §2's examples */
static const char normal_end[] =
	"{\"call_id\": \"7f3c9a21e5b04d2c@10.0.0.23\", \"from_tag\": \"a73kszlfl\", \"from_uri\": \"alice@example.org\", "
	"\"to_tag\": \"8321234356\", \"to_uri\": \"bob@example.net\", \"start_time\": 1767225612.482913, \"duration\": 62, "
	"\"caller_ua\": \"ExamplePhone/2.1\", \"callee_ua\": \"OtherPhone 5.0\", \"username\": null, \"streams\": "
	"[{\"media_type\": \"audio\", \"status\": \"closed\", \"timeout_wait\": 0, \"caller_codec\": \"G711u\", "
	"\"callee_codec\": \"G711u\", \"start_time\": 0, \"end_time\": 62, \"post_dial_delay\": 1.8427, \"caller_bytes\": "
	"496000, \"callee_bytes\": 497720, \"caller_packets\": 3100, \"callee_packets\": 3111, \"caller_local\": "
	"\"198.18.0.50:40000\", \"callee_local\": \"198.18.0.50:40002\", \"caller_remote\": \"198.18.1.7:49170\", "
	"\"callee_remote\": \"198.18.2.9:30000\"}, {\"media_type\": \"video\", \"status\": \"closed\", \"timeout_wait\": 0, "
	"\"caller_codec\": \"Dynamic(96)\", \"callee_codec\": \"Dynamic(96)\", \"start_time\": 0, \"end_time\": 62, "
	"\"post_dial_delay\": 2.0513, \"caller_bytes\": 3511200, \"callee_bytes\": 3290110, \"caller_packets\": 3720, "
	"\"callee_packets\": 3542, \"caller_local\": \"198.18.0.50:40004\", \"callee_local\": \"198.18.0.50:40006\", "
	"\"caller_remote\": \"198.18.1.7:51372\", \"callee_remote\": \"198.18.2.9:30002\"}], \"dialog_id\": \"3021:17\", "
	"\"timed_out\": false}";

static const char expired[] =
	"{\"call_id\": \"7f3c9a21e5b04d2c@10.0.0.23\", \"from_tag\": \"a73kszlfl\", \"from_uri\": \"alice@example.org\", "
	"\"to_tag\": \"8321234356\", \"to_uri\": \"bob@example.net\", \"start_time\": 1767225612.482913, \"duration\": 305, "
	"\"caller_ua\": \"ExamplePhone/2.1\", \"callee_ua\": \"OtherPhone 5.0\", \"username\": \"alice@example.org\", "
	"\"streams\": [{\"media_type\": \"audio\", \"status\": \"conntrack timeout\", \"timeout_wait\": 180, "
	"\"caller_codec\": \"G711u\", \"callee_codec\": \"G711u\", \"start_time\": 0, \"end_time\": 305, "
	"\"post_dial_delay\": 1.8427, \"caller_bytes\": 1952000, \"callee_bytes\": 1953120, \"caller_packets\": 12200, "
	"\"callee_packets\": 12207, \"caller_local\": \"198.18.0.50:40000\", \"callee_local\": \"198.18.0.50:40002\", "
	"\"caller_remote\": \"198.18.1.7:49170\", \"callee_remote\": \"198.18.2.9:30000\"}], \"timed_out\": true, "
	"\"dialog_id\": \"3021:17\", \"all_streams_ice\": false}";

static const struct radius_attr *find(const struct radius_attr *attrs, int n, enum radius_attr_id id)
{
	for (int i = 0; i < n; i++)
		if (attrs[i].id == id)
			return &attrs[i];
	return NULL;
}

static const char *string(const struct radius_attr *attrs, int n, enum radius_attr_id id)
{
	const struct radius_attr *a = find(attrs, n, id);

	assert_non_null(a);
	assert_int_equal(a->type, RADIUS_STRING);
	return a->string;
}

static uint32_t number(const struct radius_attr *attrs, int n, enum radius_attr_id id)
{
	const struct radius_attr *a = find(attrs, n, id);

	assert_non_null(a);
	assert_int_not_equal(a->type, RADIUS_STRING);
	return a->number;
}

static int record(const char *info, struct radius_attr *attrs)
{
	char why[256] = "";
	int n = radius_record(info, attrs, why, sizeof(why));

	if (n < 0)
		fail_msg("no record: %s", why);
	return n;
}

static void test_normal_end(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	int n = record(normal_end, a);
	static const enum radius_attr_id order[] = {
		RADIUS_ACCT_STATUS_TYPE, RADIUS_USER_NAME,	   RADIUS_ACCT_SESSION_ID, RADIUS_ACCT_SESSION_TIME,
		RADIUS_ACCT_INPUT_OCTETS, RADIUS_ACCT_OUTPUT_OCTETS, RADIUS_SIP_FROM_TAG,	   RADIUS_SIP_TO_TAG,
		RADIUS_NAS_IP_ADDRESS,	  RADIUS_SIP_USER_AGENTS,   RADIUS_SIP_APPLICATIONS, RADIUS_MEDIA_CODECS,
		RADIUS_MEDIA_INFO,	  RADIUS_ACCT_DELAY_TIME,
	};

	assert_int_equal(n, sizeof(order) / sizeof(order[0]));
	for (int i = 0; i < n; i++)
		assert_int_equal(a[i].id, order[i]);
	assert_int_equal(number(a, n, RADIUS_ACCT_STATUS_TYPE), 3);
	assert_string_equal(string(a, n, RADIUS_USER_NAME), "mediaproxy@default");
	assert_string_equal(string(a, n, RADIUS_ACCT_SESSION_ID), "7f3c9a21e5b04d2c@10.0.0.23");
	assert_int_equal(number(a, n, RADIUS_ACCT_SESSION_TIME), 62);
	assert_int_equal(number(a, n, RADIUS_ACCT_INPUT_OCTETS), 496000 + 3511200);
	assert_int_equal(number(a, n, RADIUS_ACCT_OUTPUT_OCTETS), 497720 + 3290110);
	assert_string_equal(string(a, n, RADIUS_SIP_FROM_TAG), "a73kszlfl");
	assert_string_equal(string(a, n, RADIUS_SIP_TO_TAG), "8321234356");
	assert_int_equal(find(a, n, RADIUS_NAS_IP_ADDRESS)->type, RADIUS_IPADDR);
	assert_int_equal(number(a, n, RADIUS_NAS_IP_ADDRESS), (198u << 24) | (18u << 16) | 50u);
	assert_string_equal(string(a, n, RADIUS_SIP_USER_AGENTS), "ExamplePhone/2.1+OtherPhone 5.0");
	assert_string_equal(string(a, n, RADIUS_SIP_APPLICATIONS), "audio, video");
	assert_string_equal(string(a, n, RADIUS_MEDIA_CODECS), "G711u, Dynamic(96)");
	assert_string_equal(string(a, n, RADIUS_MEDIA_INFO), "");
	assert_int_equal(number(a, n, RADIUS_ACCT_DELAY_TIME), 1);
}

static void test_expired(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	int n = record(expired, a);

	assert_string_equal(string(a, n, RADIUS_USER_NAME), "alice@example.org");
	assert_int_equal(number(a, n, RADIUS_ACCT_SESSION_TIME), 305);
	assert_int_equal(number(a, n, RADIUS_ACCT_INPUT_OCTETS), 1952000);
	assert_int_equal(number(a, n, RADIUS_ACCT_OUTPUT_OCTETS), 1953120);
	assert_string_equal(string(a, n, RADIUS_SIP_APPLICATIONS), "audio");
	assert_string_equal(string(a, n, RADIUS_MEDIA_INFO), "timeout");
	assert_null(find(a, n, RADIUS_ACCT_INPUT_GIGAWORDS));
}

static void test_ice(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	int n = record("{\"call_id\": \"c\", \"from_tag\": \"f\", \"to_tag\": \"t\", \"duration\": 5, \"streams\": "
		       "[{\"media_type\": \"audio\", \"caller_codec\": \"G711a\", \"start_time\": 0, \"end_time\": 5, "
		       "\"post_dial_delay\": null, \"caller_bytes\": 1, \"callee_bytes\": 2, \"caller_local\": "
		       "\"10.1.2.3:40000\"}], \"timed_out\": false, \"dialog_id\": null, \"all_streams_ice\": true}",
		       a);

	assert_string_equal(string(a, n, RADIUS_MEDIA_INFO), "ICE session");
}

/* Streams that never lasted leave Sip-Applications; every stream gives its
 * codec; a null to_tag is empty; no post_dial_delay, no Acct-Delay-Time.
 */
static void test_streams(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	int n = record("{\"call_id\": \"c\", \"from_tag\": \"f\", \"to_tag\": null, \"duration\": 9, \"caller_ua\": "
		       "\"A\", \"callee_ua\": \"Unknown\", \"username\": null, \"streams\": ["
		       "{\"media_type\": \"video\", \"caller_codec\": \"H263\", \"start_time\": 0, \"end_time\": 9, "
		       "\"post_dial_delay\": null, \"caller_bytes\": 10, \"callee_bytes\": 20, \"caller_local\": "
		       "\"10.1.2.3:40000\"},"
		       "{\"media_type\": \"image\", \"caller_codec\": \"Unknown\", \"start_time\": 3, \"end_time\": 3, "
		       "\"post_dial_delay\": null, \"caller_bytes\": 0, \"callee_bytes\": 0, \"caller_local\": "
		       "\"10.1.2.3:40002\"},"
		       "{\"media_type\": \"audio\", \"caller_codec\": \"G711u\", \"start_time\": 0, \"end_time\": 4, "
		       "\"post_dial_delay\": null, \"caller_bytes\": 100, \"callee_bytes\": 200, \"caller_local\": "
		       "\"10.1.2.3:40004\"},"
		       "{\"media_type\": \"audio\", \"caller_codec\": \"G729\", \"start_time\": 4, \"end_time\": 9, "
		       "\"post_dial_delay\": null, \"caller_bytes\": 1000, \"callee_bytes\": 2000, \"caller_local\": "
		       "\"10.1.2.3:40006\"}], \"dialog_id\": null, \"timed_out\": false}",
		       a);

	assert_string_equal(string(a, n, RADIUS_SIP_APPLICATIONS), "audio, video");
	assert_string_equal(string(a, n, RADIUS_MEDIA_CODECS), "H263, Unknown, G711u, G729");
	assert_string_equal(string(a, n, RADIUS_SIP_TO_TAG), "");
	assert_string_equal(string(a, n, RADIUS_SIP_USER_AGENTS), "A+Unknown");
	assert_int_equal(number(a, n, RADIUS_ACCT_INPUT_OCTETS), 1110);
	assert_int_equal(number(a, n, RADIUS_ACCT_OUTPUT_OCTETS), 2220);
	assert_int_equal(number(a, n, RADIUS_NAS_IP_ADDRESS), (10u << 24) | (1u << 16) | (2u << 8) | 3u);
	assert_null(find(a, n, RADIUS_ACCT_DELAY_TIME));
}

/* Over 2^32 - 1 bytes: the rest goes into the gigawords (RFC 2869 5.1). */
static void test_gigawords(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	int n = record("{\"call_id\": \"c\", \"from_tag\": \"f\", \"to_tag\": \"t\", \"duration\": 9, \"streams\": ["
		       "{\"media_type\": \"video\", \"caller_codec\": \"H263\", \"start_time\": 0, \"end_time\": 9, "
		       "\"post_dial_delay\": 0.2, \"caller_bytes\": 4294967295, \"callee_bytes\": 4294967295, "
		       "\"caller_local\": \"10.1.2.3:40000\"},"
		       "{\"media_type\": \"video\", \"caller_codec\": \"H263\", \"start_time\": 0, \"end_time\": 9, "
		       "\"post_dial_delay\": 3.9, \"caller_bytes\": 4294967297, \"callee_bytes\": 5, "
		       "\"caller_local\": \"10.1.2.3:40002\"}], \"timed_out\": false}",
		       a);

	/* 8589934592 = 2 * 2^32 + 0 */
	assert_int_equal(number(a, n, RADIUS_ACCT_INPUT_OCTETS), 0);
	assert_int_equal(number(a, n, RADIUS_ACCT_INPUT_GIGAWORDS), 2);
	/* 4294967300 = 1 * 2^32 + 4 */
	assert_int_equal(number(a, n, RADIUS_ACCT_OUTPUT_OCTETS), 4);
	assert_int_equal(number(a, n, RADIUS_ACCT_OUTPUT_GIGAWORDS), 1);
	assert_int_equal(find(a, n, RADIUS_ACCT_INPUT_GIGAWORDS) - a, find(a, n, RADIUS_ACCT_INPUT_OCTETS) - a + 1);
	assert_int_equal(number(a, n, RADIUS_ACCT_DELAY_TIME), 0);
	assert_string_equal(string(a, n, RADIUS_SIP_APPLICATIONS), "video");
}

/* A relay's numbers may be anything JSON holds: each is clamped to what the
 * attribute takes, and sums never wrap.
 */
static void test_huge_numbers(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	int n = record("{\"call_id\": \"c\", \"from_tag\": \"f\", \"duration\": 1e300, \"streams\": ["
		       "{\"media_type\": \"audio\", \"start_time\": -1e300, \"end_time\": 1e300, "
		       "\"post_dial_delay\": 5e18, \"caller_bytes\": 9e18, \"callee_bytes\": 1e300, "
		       "\"caller_local\": \"10.1.2.3:40000\"},"
		       "{\"media_type\": \"video\", \"caller_bytes\": 9000000000000000000, \"callee_bytes\": -7}]}",
		       a);

	assert_int_equal(number(a, n, RADIUS_ACCT_SESSION_TIME), UINT32_MAX);
	/* INT64_MAX = 0x7fffffff * 2^32 + 0xffffffff */
	assert_int_equal(number(a, n, RADIUS_ACCT_INPUT_OCTETS), UINT32_MAX);
	assert_int_equal(number(a, n, RADIUS_ACCT_INPUT_GIGAWORDS), 0x7fffffff);
	assert_int_equal(number(a, n, RADIUS_ACCT_OUTPUT_OCTETS), UINT32_MAX);
	assert_int_equal(number(a, n, RADIUS_ACCT_OUTPUT_GIGAWORDS), 0x7fffffff);
	assert_int_equal(number(a, n, RADIUS_ACCT_DELAY_TIME), UINT32_MAX);
	assert_string_equal(string(a, n, RADIUS_SIP_APPLICATIONS), "audio");
}

/* 253 bytes at most, and never half a UTF-8 character. */
static void test_truncation(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	char info[2048], ua[400];
	int n;

	memset(ua, 'x', 300);
	ua[300] = '\0';
	snprintf(info, sizeof(info),
		 "{\"call_id\": \"c\", \"from_tag\": \"f\", \"to_tag\": \"t\", \"caller_ua\": \"%s\", \"callee_ua\": "
		 "\"B\", \"streams\": [{\"caller_local\": \"10.1.2.3:40000\"}]}",
		 ua);
	n = record(info, a);
	assert_int_equal(strlen(string(a, n, RADIUS_SIP_USER_AGENTS)), 253);
	assert_string_equal(string(a, n, RADIUS_MEDIA_CODECS), "");
	assert_string_equal(string(a, n, RADIUS_SIP_APPLICATIONS), "");
	assert_int_equal(number(a, n, RADIUS_ACCT_SESSION_TIME), 0);

	/* 251 ASCII bytes, "+", then "\u00e9" (2 bytes each): byte 253 is the
	 * first half of an é, which goes
	 */
	memset(ua, 'x', 251);
	ua[251] = '\0';
	snprintf(info, sizeof(info),
		 "{\"call_id\": \"c\", \"from_tag\": \"f\", \"to_tag\": \"t\", \"caller_ua\": \"%s\", \"callee_ua\": "
		 "\"\\u00e9\\u00e9\", \"streams\": [{\"caller_local\": \"10.1.2.3:40000\"}]}",
		 ua);
	n = record(info, a);
	assert_int_equal(strlen(string(a, n, RADIUS_SIP_USER_AGENTS)), 252);
	assert_string_equal(string(a, n, RADIUS_SIP_USER_AGENTS) + 250, "x+");
}

static void test_unbuildable(void **state)
{
	struct radius_attr a[RADIUS_RECORD_MAX];
	char why[256];

	assert_int_equal(radius_record("{\"call_id\": \"c\", \"from_tag\": \"f\", \"streams\": []}", a, why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "no streams"));
	assert_int_equal(radius_record("not json", a, why, sizeof(why)), -1);
	assert_int_equal(radius_record("{\"call_id\": \"c\", \"streams\": [{\"caller_local\": \"Unknown\"}]}", a, why,
				       sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "Unknown is not an IPv4 address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_end), cmocka_unit_test(test_expired),	cmocka_unit_test(test_ice),
		cmocka_unit_test(test_streams),	   cmocka_unit_test(test_gigawords), cmocka_unit_test(test_huge_numbers),	cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_unbuildable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
