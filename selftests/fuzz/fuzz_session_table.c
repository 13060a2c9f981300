/* The relay's session table (userspace/session.c, doc/relay-sessions.md)
 * driven deep: each few bytes of the input are one step, an `update` or
 * `remove` made of a small set of calls, tags, CSeqs and media entries,
 * written as the dispatcher would send it and parsed by request_parse(),
 * a stream's timeout, or time passing.  The small sets make offers,
 * answers, re-INVITEs, forks, holds, stale CSeqs and exhausted ports
 * frequent; relay_harness.h checks the table after every step.
 */
#include "relay_harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-session_table");
	return 0;
}

struct steps {
	const uint8_t *p, *end;
};

static unsigned next(struct steps *s)
{
	return s->p < s->end ? *s->p++ : 0;
}

/* One media entry from one byte: type, address, port, direction, ice. */
static void add_stream(struct evbuffer *b, unsigned byte, bool first)
{
	static const char *const types[] = { "audio", "video", "image", "audio" };
	static const char *const ips[] = { "10.0.0.23", "192.168.5.9", "0.0.0.0", "198.18.1.7" };
	static const char *const ports[] = { "49170", "30000", "0", "51372" };
	static const char *const directions[] = { "sendrecv", "sendonly", "recvonly", "inactive" };

	evbuffer_add_printf(b, "%s%s:%s:%s:%s%s", first ? "" : ",", types[byte & 3], ips[byte >> 2 & 3],
			    ports[byte >> 4 & 3], directions[byte >> 6 & 3], byte % 5 == 0 ? ":ice=yes" : ":ice=no");
}

/* "update" or "remove" from the next bytes, as request text. */
static void write_request(struct steps *s, bool update, unsigned seq, struct evbuffer *b)
{
	static const char *const tags[] = { "a73kszlfl", "8321234356", "forked-2", "" };
	unsigned who = next(s), streams;
	const char *from_tag = tags[who >> 1 & 1], *to_tag = tags[who >> 2 & 3];

	if (who & 0x20) { /* the callee's message: the tags swapped */
		const char *tag = from_tag;

		from_tag = to_tag[0] ? to_tag : "8321234356";
		to_tag = tag;
	}
	evbuffer_add_printf(b, "%s %u\r\ncall_id: %s\r\nfrom_tag: %s\r\nto_tag: %s\r\n", update ? "update" : "remove",
			    seq, who & 1 ? "call-b@10.0.0.23" : "7f3c9a21e5b04d2c@10.0.0.23", from_tag, to_tag);
	if (!update) {
		evbuffer_add(b, "\r\n", 2);
		return;
	}
	evbuffer_add_printf(b, "type: %s\r\ncseq: %u\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\n"
			    "user_agent: Phone %u\r\n", who & 0x10 ? "reply" : "request", next(s) % 8, who >> 6);
	if (who & 0x40)
		evbuffer_add_printf(b, "signaling_ip: {\"signaling_ip\": \"198.18.1.7\", \"username\": \"alice\"}\r\n");
	else
		evbuffer_add_printf(b, "signaling_ip: 198.18.2.9\r\n");
	streams = next(s);
	if (!(streams & 0x80)) { /* else a message without SDP */
		streams = streams % 8 == 7 ? REQUEST_MAX_STREAMS + 1 : streams % 8;
		evbuffer_add_printf(b, "media: ");
		for (unsigned i = 0; i < streams; i++)
			add_stream(b, next(s), i == 0);
		evbuffer_add(b, "\r\n", 2);
	}
	evbuffer_add(b, "\r\n", 2);
}

/* Ends the n-th alive stream as a timer would. */
static void expire_stream(unsigned n, unsigned what)
{
	static const enum stream_status timeouts[] = { STREAM_NO_TRAFFIC_TIMEOUT, STREAM_ON_HOLD_TIMEOUT,
						       STREAM_CONNTRACK_TIMEOUT };
	unsigned alive = 0;

	for (struct session *s = sessions_first(harness.sessions); s; s = s->next)
		for (unsigned i = 0; i < s->stream_count; i++) {
			struct session *ended;

			if (!s->streams[i]->alive || alive++ != n)
				continue;
			ended = sessions_stream_expired(harness.sessions, s->streams[i], timeouts[what % 3], 90,
							&harness.now);
			if (ended) {
				struct evbuffer *report = evbuffer_new();

				FUZZ_CHECK(report);
				reply_json(report, session_stats_json(ended, harness.now.wall));
				evbuffer_free(report);
				session_free(ended);
			}
			return;
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct steps s = { data, data + size };
	unsigned seq = 0;

	harness_start();
	while (s.p < s.end) {
		unsigned op = next(&s);
		struct evbuffer *block = evbuffer_new(), *reply = evbuffer_new();
		struct request req;
		char why[512];

		FUZZ_CHECK(block && reply);
		switch (op % 8) {
		case 0: case 1: case 2: case 3:
			write_request(&s, true, seq++, block);
			break;
		case 4:
			write_request(&s, false, seq++, block);
			break;
		case 5:
			evbuffer_add_printf(block, "%s %u\r\n\r\n", op & 8 ? "sessions" : "summary", seq++);
			break;
		case 6:
			expire_stream(next(&s), op >> 3);
			harness_check();
			break;
		case 7:
			harness.now.wall += op >> 3;
			harness.now.mono_ns += (uint64_t)(op >> 3) * 1000000000ULL;
			break;
		}
		if (evbuffer_get_length(block)) {
			size_t len = evbuffer_get_length(block);

			if (request_parse((const char *)evbuffer_pullup(block, -1), len, &req, why, sizeof(why)) == PARSE_OK)
				harness_handle(NULL, NULL, &req, reply);
			else /* only what the module would never send: too many streams */
				FUZZ_CHECK(strstr(why, "streams"));
		}
		evbuffer_free(block);
		evbuffer_free(reply);
	}
	harness_stop();
	return 0;
}
