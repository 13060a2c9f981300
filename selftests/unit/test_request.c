/* Unit tests of request framing and parsing (userspace/request_parse.c):
 * the examples of doc/, every header rule, a table of malformed blocks, and
 * a random-input loop.  Built with -DMP_FUZZ this file is instead a
 * libFuzzer target:
 *   clang -DMP_FUZZ -g -fsanitize=fuzzer,address -D_GNU_SOURCE -Icommon -Iuserspace \
 *         selftests/unit/test_request.c userspace/request_parse.c common/lines.c common/log.c \
 *         -ljansson -levent -lcmocka -o build/fuzz_request
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "log.h"
#include "request_parse.h"

static struct request req;
static char why[512];

static enum parse_result parse(const char *block)
{
	why[0] = '\0';
	return request_parse(block, strlen(block), &req, why, sizeof(why));
}

/* Every header an update needs, valid; a test appends lines that override them. */
#define UPDATE_HEADERS "type: request\r\n" \
		       "call_id: 7f3c9a21e5b04d2c@10.0.0.23\r\n" \
		       "cseq: 101\r\n" \
		       "from_uri: alice@example.org\r\n" \
		       "to_uri: bob@example.net\r\n" \
		       "from_tag: a73kszlfl\r\n" \
		       "user_agent: ExamplePhone/2.1\r\n" \
		       "signaling_ip: 198.18.1.7\r\n"

static enum parse_result parse_update_with(const char *extra_headers)
{
	static char block[MP_REQUEST_MAX];

	snprintf(block, sizeof(block), "update 4\r\n" UPDATE_HEADERS "%s\r\n", extra_headers);
	return parse(block);
}

static const char *addr(struct in_addr a)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

static void expect_why(enum parse_result got, enum parse_result expected, const char *text)
{
	if (got != expected || !strstr(why, text))
		fail_msg("result %d why '%s', expected %d and '%s'", got, why, expected, text);
}

static void test_spec_example_update(void **state)
{
	assert_int_equal(parse("update 1\r\n"
			       "type: request\r\n"
			       "dialog_id: 3021:17\r\n"
			       "call_id: 7f3c9a21e5b04d2c@10.0.0.23\r\n"
			       "cseq: 101\r\n"
			       "from_uri: alice@example.org\r\n"
			       "to_uri: bob@example.net\r\n"
			       "from_tag: a73kszlfl\r\n"
			       "user_agent: ExamplePhone/2.1\r\n"
			       "signaling_ip: 198.18.1.7\r\n"
			       "media: audio:10.0.0.23:49170:sendrecv:ice=no,video:10.0.0.23:51372:sendrecv:ice=no\r\n"
			       "\r\n"), PARSE_OK);
	assert_int_equal(req.command, COMMAND_UPDATE);
	assert_string_equal(req.seq, "1");
	assert_string_equal(req.call_id, "7f3c9a21e5b04d2c@10.0.0.23");
	assert_string_equal(req.from_tag, "a73kszlfl");
	assert_string_equal(req.to_tag, "");
	assert_string_equal(req.from_uri, "alice@example.org");
	assert_string_equal(req.to_uri, "bob@example.net");
	assert_string_equal(req.user_agent, "ExamplePhone/2.1");
	assert_true(req.has_cseq);
	assert_int_equal(req.cseq, 101);
	assert_true(req.has_type);
	assert_int_equal(req.type, MESSAGE_REQUEST);
	assert_true(req.has_signaling_ip);
	assert_string_equal(addr(req.signaling_source), "198.18.1.7");
	assert_int_equal(req.signaling_destination.s_addr, 0);
	assert_false(req.has_username);
	assert_true(req.has_media);
	assert_int_equal(req.stream_count, 2);
	assert_string_equal(req.streams[0].type, "audio");
	assert_string_equal(req.streams[0].ip, "10.0.0.23");
	assert_int_equal(req.streams[0].port, 49170);
	assert_int_equal(req.streams[0].direction, DIRECTION_SENDRECV);
	assert_false(req.streams[0].ice);
	assert_string_equal(req.streams[1].type, "video");
	assert_int_equal(req.streams[1].port, 51372);
}

static void test_spec_example_reply_and_remove(void **state)
{
	assert_int_equal(parse_update_with("type: reply\r\nto_tag: 8321234356\r\n"
					   "media: audio:192.168.5.9:30000:sendrecv:ice=no,"
					   "video:192.168.5.9:0:sendrecv:ice=no\r\n"), PARSE_OK);
	assert_int_equal(req.type, MESSAGE_REPLY);
	assert_string_equal(req.to_tag, "8321234356");
	assert_int_equal(req.streams[1].port, 0);

	assert_int_equal(parse("remove 3\r\n"
			       "call_id: 7f3c9a21e5b04d2c@10.0.0.23\r\n"
			       "from_tag: a73kszlfl\r\n"
			       "to_tag: 8321234356\r\n"
			       "\r\n"), PARSE_OK);
	assert_int_equal(req.command, COMMAND_REMOVE);
	assert_string_equal(req.seq, "3");
	assert_string_equal(req.to_tag, "8321234356");
	assert_false(req.has_media);
	assert_false(req.has_signaling_ip);
}

static void test_summary_and_sessions(void **state)
{
	assert_int_equal(parse("summary 7\r\n\r\n"), PARSE_OK);
	assert_int_equal(req.command, COMMAND_SUMMARY);
	assert_string_equal(req.seq, "7");
	/* other whitespace separates the words too; unknown headers are ignored */
	assert_int_equal(parse("\tsessions \t x-0 \r\ndialog_id: 5\r\n\r\n"), PARSE_OK);
	assert_int_equal(req.command, COMMAND_SESSIONS);
	assert_string_equal(req.seq, "x-0");
	assert_string_equal(command_name(COMMAND_SESSIONS), "sessions");
}

static void test_command_line(void **state)
{
	expect_why(parse("\r\n"), PARSE_IGNORED, "is not '<command> <seq>'");
	expect_why(parse(""), PARSE_IGNORED, "empty request");
	expect_why(parse("summary\r\n\r\n"), PARSE_IGNORED, "is not '<command> <seq>'");
	expect_why(parse("summary 1 2\r\n\r\n"), PARSE_IGNORED, "more than two words");
	expect_why(parse("summary 1234567890123456789012345678901234567890123456789012345678901234\r\n\r\n"),
		   PARSE_IGNORED, "too long");
	assert_int_equal(parse("summary 123456789012345678901234567890123456789012345678901234567890123\r\n\r\n"),
			 PARSE_OK);
	assert_int_equal(strlen(req.seq), 63);

	/* an unknown command still has a seq to answer; its headers are not looked at */
	expect_why(parse("UPDATE 5\r\n" UPDATE_HEADERS "\r\n"), PARSE_UNKNOWN_COMMAND, "unknown command 'UPDATE'");
	assert_string_equal(req.seq, "5");
	expect_why(parse("frobnicate 9\r\ncall_id: abc\r\n\r\n"), PARSE_UNKNOWN_COMMAND, "frobnicate");
	assert_string_equal(req.seq, "9");
}

static void test_header_rules(void **state)
{
	/* names are case-sensitive and not trimmed: these lines do not set call_id */
	expect_why(parse("remove 1\r\nfrom_tag: t\r\nCall_ID: a\r\ncall_id : b\r\ncall_id:c\r\n\r\n"),
		   PARSE_INVALID, "remove without required header call_id");
	/* the value is not trimmed, and splits at the first ": " only */
	assert_int_equal(parse("remove 1\r\nfrom_tag: t\r\ncall_id:  a: b \r\n\r\n"), PARSE_OK);
	assert_string_equal(req.call_id, " a: b ");
	/* a repeated header overwrites; an empty value is an absent header */
	assert_int_equal(parse("remove 1\r\nfrom_tag: t\r\ncall_id: a\r\ncall_id: b\r\n\r\n"), PARSE_OK);
	assert_string_equal(req.call_id, "b");
	expect_why(parse("remove 1\r\nfrom_tag: t\r\ncall_id: a\r\ncall_id: \r\n\r\n"),
		   PARSE_INVALID, "required header call_id");
	/* only the last value of a typed header is decoded */
	assert_int_equal(parse_update_with("cseq: nonsense\r\ncseq: 7\r\n"), PARSE_OK);
	assert_int_equal(req.cseq, 7);
	/* a bare LF is part of a line, not a line end */
	assert_int_equal(parse("remove 1\r\nfrom_tag: t\ncall_id: x\r\ncall_id: c\r\n\r\n"), PARSE_OK);
	assert_string_equal(req.from_tag, "t\ncall_id: x");
	/* reading stops at the empty line, and also at the end of the bytes */
	assert_int_equal(parse("remove 1\r\nfrom_tag: t\r\ncall_id: c\r\n\r\ncall_id: d\r\n"), PARSE_OK);
	assert_string_equal(req.call_id, "c");
	assert_int_equal(parse("remove 1\r\nfrom_tag: t\r\ncall_id: c"), PARSE_OK);
	assert_string_equal(req.call_id, "c");
	/* summary needs nothing, but a malformed typed header is still an error */
	expect_why(parse("summary 1\r\ncseq: x\r\n\r\n"), PARSE_INVALID, "header cseq");
	assert_string_equal(req.seq, "1");
}

static void test_value_lengths(void **state)
{
	char headers[2048];

	snprintf(headers, sizeof(headers), "call_id: %0*d\r\n", REQUEST_ID_LEN - 1, 0);
	assert_int_equal(parse_update_with(headers), PARSE_OK);
	assert_int_equal(strlen(req.call_id), REQUEST_ID_LEN - 1);
	snprintf(headers, sizeof(headers), "call_id: %0*d\r\n", REQUEST_ID_LEN, 0);
	expect_why(parse_update_with(headers), PARSE_INVALID, "call_id is longer than 255 bytes");
	snprintf(headers, sizeof(headers), "user_agent: %0*d\r\n", REQUEST_TEXT_LEN, 0);
	expect_why(parse_update_with(headers), PARSE_INVALID, "user_agent is longer than 511 bytes");
	/* an over-long unknown header is not looked at */
	snprintf(headers, sizeof(headers), "dialog_id: %0*d\r\n", 1500, 0);
	assert_int_equal(parse_update_with(headers), PARSE_OK);
}

static void test_nul_bytes(void **state)
{
	static const char with_nul[] = "remove 1\r\nfrom_tag: t\r\ncall_id: a\0b\r\n\r\n";
	static const char nul_in_seq[] = "remove 1\0\r\n\r\n";

	assert_int_equal(request_parse(with_nul, sizeof(with_nul) - 1, &req, why, sizeof(why)),
			 PARSE_INVALID);
	assert_non_null(strstr(why, "NUL"));
	assert_int_equal(request_parse(nul_in_seq, sizeof(nul_in_seq) - 1, &req, why, sizeof(why)),
			 PARSE_IGNORED);
}

static void test_cseq_and_type(void **state)
{
	assert_int_equal(parse_update_with("cseq: 0\r\n"), PARSE_OK);
	assert_int_equal(req.cseq, 0);
	assert_int_equal(parse_update_with("cseq: 4294967295\r\n"), PARSE_OK);
	assert_int_equal(req.cseq, 4294967295u);
	assert_int_equal(parse_update_with("type: reply\r\n"), PARSE_OK);
	assert_int_equal(req.type, MESSAGE_REPLY);
}

static void test_media(void **state)
{
	char headers[4096];
	int n;

	/* empty entries and empty params are skipped, unknown params accepted,
	 * direction matched case-insensitively, params optional */
	assert_int_equal(parse_update_with("media: ,audio:10.0.0.23:49170:SendOnly::ice=yes:x-foo=bar:,,"
					   "image:10.0.0.23:0:inactive,"
					   "video:0.0.0.0:5000:recvonly:ice=no:ice=yes,\r\n"), PARSE_OK);
	assert_int_equal(req.stream_count, 3);
	assert_int_equal(req.streams[0].direction, DIRECTION_SENDONLY);
	assert_true(req.streams[0].ice);
	assert_string_equal(req.streams[1].type, "image");
	assert_int_equal(req.streams[1].port, 0);
	assert_int_equal(req.streams[1].direction, DIRECTION_INACTIVE);
	assert_false(req.streams[1].ice);
	assert_string_equal(req.streams[2].ip, "0.0.0.0");
	assert_int_equal(req.streams[2].direction, DIRECTION_RECVONLY);
	assert_true(req.streams[2].ice); /* a repeated param: the last counts */

	/* an IPv6 address keeps its colons; port and direction follow it */
	assert_int_equal(parse_update_with("media: audio:2001:db8::5000:1:6000:sendrecv:ice=no\r\n"), PARSE_OK);
	assert_string_equal(req.streams[0].ip, "2001:db8::5000:1");
	assert_int_equal(req.streams[0].port, 6000);

	/* a media header of empty entries only: an SDP with no relayed stream */
	assert_int_equal(parse_update_with("media: ,\r\n"), PARSE_OK);
	assert_true(req.has_media);
	assert_int_equal(req.stream_count, 0);

	/* the module's limit holds; one stream more is an error */
	n = snprintf(headers, sizeof(headers), "media: ");
	for (int i = 0; i < REQUEST_MAX_STREAMS; i++)
		n += snprintf(headers + n, sizeof(headers) - n, "audio:10.0.0.1:%d:sendrecv:ice=no,", 2000 + 2 * i);
	snprintf(headers + n, sizeof(headers) - n, "\r\n");
	assert_int_equal(parse_update_with(headers), PARSE_OK);
	assert_int_equal(req.stream_count, REQUEST_MAX_STREAMS);
	assert_int_equal(req.streams[REQUEST_MAX_STREAMS - 1].port, 2000 + 2 * (REQUEST_MAX_STREAMS - 1));
	snprintf(headers + n, sizeof(headers) - n, "audio:10.0.0.1:9:sendrecv\r\n");
	expect_why(parse_update_with(headers), PARSE_INVALID, "more than 32 streams");
}

static void test_signaling_ip(void **state)
{
	assert_int_equal(parse_update_with("signaling_ip: {\"signaling_ip\": \"198.18.1.7\", "
					   "\"destination_ip\": \"198.18.2.9\", \"username\": \"alice@example.org\", "
					   "\"other\": [1]}\r\n"), PARSE_OK);
	assert_true(req.has_signaling_ip);
	assert_string_equal(addr(req.signaling_source), "198.18.1.7");
	assert_string_equal(addr(req.signaling_destination), "198.18.2.9");
	assert_true(req.has_username);
	assert_string_equal(req.username, "alice@example.org");

	/* every key is optional */
	assert_int_equal(parse_update_with("signaling_ip: {\"username\": \"bob\"}\r\n"), PARSE_OK);
	assert_true(req.has_signaling_ip);
	assert_int_equal(req.signaling_source.s_addr, 0);
	assert_string_equal(req.username, "bob");
	assert_int_equal(parse_update_with("signaling_ip: {\"username\": null, \"signaling_ip\": \"\"}\r\n"),
			 PARSE_OK);
	assert_false(req.has_username);
	assert_int_equal(req.signaling_source.s_addr, 0);

	assert_int_equal(parse_update_with("signaling_ip: 198.18.1.7_198.18.2.9\r\n"), PARSE_OK);
	assert_string_equal(addr(req.signaling_source), "198.18.1.7");
	assert_string_equal(addr(req.signaling_destination), "198.18.2.9");
	assert_false(req.has_username);
}

/* Malformed blocks: each must give its result and a reason naming the fault. */
static const struct bad_case {
	const char *name;
	const char *extra_headers; /* appended to a valid update */
	const char *why;
} bad_cases[] = {
	{ "missing call_id", "call_id: \r\n", "without required header call_id" },
	{ "missing from_tag", "from_tag: \r\n", "required header from_tag" },
	{ "missing from_uri", "from_uri: \r\n", "required header from_uri" },
	{ "missing to_uri", "to_uri: \r\n", "required header to_uri" },
	{ "missing cseq", "cseq: \r\n", "required header cseq" },
	{ "missing user_agent", "user_agent: \r\n", "required header user_agent" },
	{ "missing type", "type: \r\n", "required header type" },
	{ "missing signaling_ip", "signaling_ip: \r\n", "required header signaling_ip" },
	{ "cseq letters", "cseq: abc\r\n", "header cseq: not a decimal integer" },
	{ "cseq negative", "cseq: -1\r\n", "header cseq" },
	{ "cseq sign", "cseq: +1\r\n", "header cseq" },
	{ "cseq trailing space", "cseq: 1 \r\n", "header cseq" },
	{ "cseq too big", "cseq: 4294967296\r\n", "header cseq" },
	{ "cseq huge", "cseq: 99999999999999999999999999\r\n", "header cseq" },
	{ "type case", "type: Request\r\n", "header type: neither" },
	{ "type other", "type: response\r\n", "header type" },
	{ "signaling_ip garbage", "signaling_ip: host.example.com\r\n", "header signaling_ip: neither" },
	{ "signaling_ip ipv6", "signaling_ip: 2001:db8::1\r\n", "header signaling_ip" },
	{ "signaling_ip half pair", "signaling_ip: 198.18.1.7_\r\n", "'source_destination' form" },
	{ "signaling_ip bad pair", "signaling_ip: 198.18.1.7_198.18.2\r\n", "'source_destination' form" },
	{ "signaling_ip three parts", "signaling_ip: 1.2.3.4_1.2.3.4_1.2.3.4\r\n", "source_destination" },
	{ "signaling_ip trailing", "signaling_ip: 198.18.1.7 \r\n", "header signaling_ip" },
	{ "signaling_ip json array", "signaling_ip: [\"198.18.1.7\"]\r\n", "header signaling_ip" },
	{ "signaling_ip broken json", "signaling_ip: {\"signaling_ip\": \r\n", "header signaling_ip" },
	{ "signaling_ip json bad address", "signaling_ip: {\"signaling_ip\": \"1.2.3\"}\r\n",
	  "\"signaling_ip\" is not an IPv4 address" },
	{ "signaling_ip json number", "signaling_ip: {\"destination_ip\": 5}\r\n",
	  "\"destination_ip\" is not an IPv4 address" },
	{ "signaling_ip json username type", "signaling_ip: {\"username\": 5}\r\n", "\"username\" is not a string" },
	{ "media no direction", "media: audio:10.0.0.1:5000\r\n", "not type:ip:port:direction" },
	{ "media bad direction", "media: audio:10.0.0.1:5000:sendreceive\r\n", "not type:ip:port:direction" },
	{ "media no address", "media: audio:5000:sendrecv\r\n", "not type:ip:port:direction" },
	{ "media empty address", "media: audio::5000:sendrecv\r\n", "empty type or address" },
	{ "media empty type", "media: :10.0.0.1:5000:sendrecv\r\n", "empty type or address" },
	{ "media port letters", "media: audio:10.0.0.1:50a0:sendrecv\r\n", "port is not a number" },
	{ "media port suffix", "media: audio:10.0.0.1:5000/1:sendrecv\r\n", "port is not a number" },
	{ "media port empty", "media: audio:10.0.0.1::sendrecv\r\n", "port is not a number" },
	{ "media port too big", "media: audio:10.0.0.1:65536:sendrecv\r\n", "port is not a number" },
	{ "media port sign", "media: audio:10.0.0.1:+5000:sendrecv\r\n", "port is not a number" },
	{ "media ice value", "media: audio:10.0.0.1:5000:sendrecv:ice=maybe\r\n", "ice is neither" },
	{ "media ice case", "media: audio:10.0.0.1:5000:sendrecv:ice=YES\r\n", "ice is neither" },
	{ "media param without =", "media: audio:10.0.0.1:5000:sendrecv:ice\r\n", "parameter without '='" },
	{ "media bad second stream", "media: audio:10.0.0.1:5000:sendrecv,video:x\r\n", "stream 'video:x'" },
	{ "media long type", "media: audioaudioaudioaudioaudioaudio12:10.0.0.1:5000:sendrecv\r\n",
	  "type is longer than 31 bytes" },
	{ "media long address",
	  "media: audio:10.0.0.1.10.0.0.1.10.0.0.1.10.0.0.1.10.0.0.1.10.0.0.1.10.0.0.1.10.0.0.1:5000:sendrecv\r\n",
	  "address is longer than 63 bytes" },
};

static void test_bad_update(void **state)
{
	const struct bad_case *c = *state;

	expect_why(parse_update_with(c->extra_headers), PARSE_INVALID, c->why);
	assert_string_equal(req.seq, "4");
}

static void test_line_framing(void **state)
{
	struct evbuffer *in = evbuffer_new();
	char *line, *big = malloc(REQUEST_LINE_MAX + 2);
	size_t len;

	assert_non_null(big);
	evbuffer_add_printf(in, "summary 1\r\n\r\nping\nstill\r");
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_READY);
	assert_int_equal(len, 9);
	assert_string_equal(line, "summary 1");
	free(line);
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_READY);
	assert_int_equal(len, 0);
	free(line);
	/* a bare LF and a lone CR end nothing */
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_PARTIAL);
	evbuffer_add(in, "\n", 1);
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_READY);
	assert_string_equal(line, "ping\nstill");
	free(line);
	assert_int_equal(evbuffer_get_length(in), 0);

	/* exactly REQUEST_LINE_MAX bytes is a line, arriving in pieces; one more is too long */
	memset(big, 'a', REQUEST_LINE_MAX);
	evbuffer_add(in, big, REQUEST_LINE_MAX);
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_PARTIAL);
	evbuffer_add(in, "\r", 1);
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_PARTIAL);
	evbuffer_add(in, "\n", 1);
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_READY);
	assert_int_equal(len, REQUEST_LINE_MAX);
	free(line);
	evbuffer_add(in, big, REQUEST_LINE_MAX);
	evbuffer_add(in, "a\r\n", 3);
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_TOO_LONG);
	evbuffer_drain(in, evbuffer_get_length(in));
	/* no CRLF at all: known to be too long before the end arrives */
	evbuffer_add(in, big, REQUEST_LINE_MAX);
	evbuffer_add(in, "ab", 2);
	assert_int_equal(mp_line_take(in, REQUEST_LINE_MAX, &line, &len), MP_FRAME_TOO_LONG);
	evbuffer_free(in);
	free(big);
}

static void test_block_assembly(void **state)
{
	struct request_block b;
	char *big = calloc(1, REQUEST_LINE_MAX);

	assert_non_null(big);
	request_block_init(&b);
	assert_int_equal(request_block_add_line(&b, "summary 1", 9), MP_FRAME_PARTIAL);
	assert_int_equal(request_block_add_line(&b, "x: y", 4), MP_FRAME_PARTIAL);
	assert_int_equal(request_block_add_line(&b, "", 0), MP_FRAME_READY);
	assert_int_equal(b.len, 19);
	assert_memory_equal(b.text, "summary 1\r\nx: y\r\n\r\n", 19);
	request_block_clear(&b);
	assert_int_equal(request_block_add_line(&b, "", 0), MP_FRAME_READY);
	assert_int_equal(b.len, 2);
	request_block_clear(&b);

	/* 100 header lines of 1 KiB after the command line: the block keeps what
	 * fits in MP_REQUEST_MAX, is marked too long, and still ends at the
	 * empty line; the next block starts afresh */
	memset(big, 'h', 1024);
	assert_int_equal(request_block_add_line(&b, "update 7", 8), MP_FRAME_PARTIAL);
	for (int i = 0; i < 100; i++)
		assert_int_equal(request_block_add_line(&b, big, 1024), MP_FRAME_PARTIAL);
	assert_int_equal(request_block_add_line(&b, "", 0), MP_FRAME_READY);
	assert_true(b.too_long);
	assert_true(b.len <= MP_REQUEST_MAX);
	assert_memory_equal(b.text, "update 7\r\n", 10);
	request_block_clear(&b);
	assert_false(b.too_long);
	assert_int_equal(request_block_add_line(&b, "summary 8", 9), MP_FRAME_PARTIAL);
	assert_int_equal(request_block_add_line(&b, "", 0), MP_FRAME_READY);
	assert_false(b.too_long);
	request_block_free(&b);
	free(big);
}

/* Random and mutated blocks: any result is fine, but it must be one of the
 * four, a reason must come with every failure, and the request must stay
 * within its bounds (AddressSanitizer and the fuzz build check the reads).
 */
static void check_any_input(const char *data, size_t len)
{
	enum parse_result r;

	why[0] = '\0';
	r = request_parse(data, len, &req, why, sizeof(why));
	assert_true(r == PARSE_OK || r == PARSE_IGNORED || r == PARSE_UNKNOWN_COMMAND ||
		    r == PARSE_INVALID);
	assert_true(r == PARSE_OK || why[0] != '\0');
	assert_true(req.stream_count <= REQUEST_MAX_STREAMS);
	assert_true(strlen(req.seq) < sizeof(req.seq));
	assert_true(strlen(req.call_id) < sizeof(req.call_id));
	assert_true(strlen(req.username) < sizeof(req.username));
	for (unsigned i = 0; i < req.stream_count; i++)
		assert_true(strlen(req.streams[i].ip) < sizeof(req.streams[i].ip));
}

static void test_random_input(void **state)
{
	static const char seed_block[] =
		"update 1\r\n" UPDATE_HEADERS
		"signaling_ip: {\"signaling_ip\": \"198.18.1.7\", \"username\": \"a\"}\r\n"
		"media: audio:10.0.0.23:49170:sendrecv:ice=no,video:2001:db8::1:51372:recvonly:ice=yes:x=y,\r\n"
		"\r\n";
	static const char alphabet[] = "\r\n:_,={}\" 0123456789.auxdiotesnrcvlp\t\0";
	char buf[sizeof(seed_block) + 64];
	unsigned seed = 12345;

	for (int round = 0; round < 200000; round++) {
		size_t len = sizeof(seed_block) - 1;

		memcpy(buf, seed_block, len);
		for (int n = rand_r(&seed) % 8; n >= 0; n--) {
			size_t at = rand_r(&seed) % len;

			switch (rand_r(&seed) % 4) {
			case 0: /* replace a byte */
				buf[at] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
				break;
			case 1: /* any byte at all */
				buf[at] = rand_r(&seed);
				break;
			case 2: /* cut the block short */
				len = at;
				break;
			default: /* drop a byte */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
			if (!len)
				break;
		}
		/* an exact-size heap copy lets AddressSanitizer see an over-read */
		char *copy = malloc(len ? len : 1);

		assert_non_null(copy);
		memcpy(copy, buf, len);
		check_any_input(copy, len);
		free(copy);
	}
}

#ifdef MP_FUZZ
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_log_set_level(LOG_CRIT);
	check_any_input((const char *)data, size);
	return 0;
}
#else
int main(void)
{
	enum { N_BAD = sizeof(bad_cases) / sizeof(bad_cases[0]) };
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_spec_example_update),
		cmocka_unit_test(test_spec_example_reply_and_remove),
		cmocka_unit_test(test_summary_and_sessions),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_value_lengths),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_cseq_and_type),
		cmocka_unit_test(test_media),
		cmocka_unit_test(test_signaling_ip),
		cmocka_unit_test(test_line_framing),
		cmocka_unit_test(test_block_assembly),
		cmocka_unit_test(test_random_input),
	};
	enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	static struct CMUnitTest tests[N_FIXED + N_BAD];
	static char names[N_BAD][96];

	memcpy(tests, fixed, sizeof(fixed));
	for (int i = 0; i < N_BAD; i++) {
		snprintf(names[i], sizeof(names[i]), "malformed update: %s", bad_cases[i].name);
		tests[N_FIXED + i] = (struct CMUnitTest){ names[i], test_bad_update, NULL, NULL,
							  (void *)&bad_cases[i] };
	}
	mp_log_open("test_request", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_ERR); /* the random inputs would log many ignored header lines */
	return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
#endif
