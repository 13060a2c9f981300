/* The SDP fields the proxy module sends (doc/proxy-protocol.md §5, §6): the
 * `media` and `signaling_ip` header values, parsed by request_parse() on
 * the relay.  The input is the media value, then CRLF and the signaling_ip
 * value; they go into an otherwise valid `update`.  A request that parses
 * is held to request.h's promises, then offered to the session table
 * (relay_harness.h) and answered with the same media.
 */
#include "relay_harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-media_fields");
	return 0;
}

static bool terminated(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}

static void check_request(const struct request *req)
{
	FUZZ_CHECK(req->stream_count <= REQUEST_MAX_STREAMS);
	FUZZ_CHECK(req->has_media || req->stream_count == 0);
	for (unsigned i = 0; i < req->stream_count; i++) {
		const struct request_media *m = &req->streams[i];

		FUZZ_CHECK(terminated(m->type, sizeof(m->type)) && m->type[0]);
		FUZZ_CHECK(terminated(m->ip, sizeof(m->ip)) && m->ip[0]);
		FUZZ_CHECK(m->direction <= DIRECTION_INACTIVE);
	}
	FUZZ_CHECK(terminated(req->username, sizeof(req->username)));
	FUZZ_CHECK(req->has_username == (req->username[0] != '\0'));
}

static void handle(const char *type, struct fuzz_bytes media, struct fuzz_bytes signaling_ip)
{
	struct evbuffer *block = evbuffer_new(), *reply = evbuffer_new();
	struct request req;
	char why[512];

	FUZZ_CHECK(block && reply);
	evbuffer_add_printf(block, "update 1\r\ntype: %s\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\ncseq: 101\r\n"
			    "from_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: a73kszlfl\r\n"
			    "to_tag: %s\r\nuser_agent: ExamplePhone/2.1\r\nsignaling_ip: ", type,
			    strcmp(type, "reply") ? "" : "8321234356");
	evbuffer_add(block, signaling_ip.p, signaling_ip.len);
	evbuffer_add(block, "\r\nmedia: ", 9);
	evbuffer_add(block, media.p, media.len);
	evbuffer_add(block, "\r\n\r\n", 4);
	if (request_parse((const char *)evbuffer_pullup(block, -1), evbuffer_get_length(block), &req, why,
			  sizeof(why)) == PARSE_OK) {
		check_request(&req);
		harness_handle(NULL, NULL, &req, reply);
	}
	evbuffer_free(block);
	evbuffer_free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_bytes in = { data, size }, media = { (const uint8_t *)"", 0 }, signaling_ip = media;

	fuzz_next_part(&in, "\r\n", 2, &media);
	fuzz_next_part(&in, "\r\n", 2, &signaling_ip);
	harness_start();
	handle("request", media, signaling_ip);
	handle("reply", media, signaling_ip);
	harness_stop();
	return 0;
}
