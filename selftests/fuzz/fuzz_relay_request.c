/* Requests on the relay (doc/relay-protocol.md §4-§6): the input is what a
 * dispatcher writes on one connection.  It goes through the daemon's own
 * framing and answering (userspace/control.c, request_parse.c,
 * request_answer.c: the same functions as on the TLS link) on a socketpair,
 * into the session table of relay_harness.h.
 *
 * Checked besides memory: what relay_harness.h checks after each request,
 * every reply is one "<seq> <payload>" line, and a connection that
 * half-closes gets its replies, then is closed.
 */
#include "relay_harness.h"
#include "control.c"

static struct event_base *base;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-relay_request");
	base = event_base_new();
	return base ? 0 : -1;
}

static void check_replies(struct evbuffer *replies)
{
	size_t len;
	char *line;

	while (mp_line_take(replies, SIZE_MAX - 2, &line, &len) == MP_FRAME_READY) {
		const char *space = memchr(line, ' ', len);

		FUZZ_CHECK(space && space > line && space + 1 < line + len && !memchr(line, '\r', len) &&
			   !memchr(line, '\n', len));
		free(line);
	}
	FUZZ_CHECK(evbuffer_get_length(replies) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control control = { .base = base, .handle = harness_handle };
	struct fuzz_peer dispatcher;
	unsigned rounds = 0;
	bool ended = false;

	harness_start();
	LIST_INIT(&control.clients);
	client_accept(&control, fuzz_peer_open(&dispatcher, (struct fuzz_bytes){ data, size }), NULL, 0);
	FUZZ_CHECK(!LIST_EMPTY(&control.clients));
	while (!ended && rounds++ < 1000 + size / 256)
		ended = fuzz_peer_turn(&dispatcher, base);
	FUZZ_CHECK(ended && LIST_EMPTY(&control.clients));
	check_replies(dispatcher.got);
	fuzz_peer_close(&dispatcher);
	harness_stop();
	return 0;
}
