/* The proxy module's socket on the dispatcher (dispatcher/proxy_socket.c,
 * proxy_request.c, common/lines.c, doc/proxy-protocol.md §2): the input is
 * what a module writes on one connection before it shuts its sending side.
 * The connection is the daemon's own code on a socketpair; dispatching is
 * a stand-in that checks each request it gets and answers every other one
 * at once (as with no relay, D1) and the rest from the event loop.
 *
 * Checked besides memory: a request handed on keeps its promises
 * (proxy_request.h), every request gets exactly one reply line, and the
 * connection is closed once everything it sent is answered (D7).
 */
#include "fuzz.h"
#include "proxy_socket.c"

static struct event_base *base;
static unsigned requests, cancelled;

struct dispatch_job {
	struct event *later;
	dispatch_reply_cb cb;
	void *ctx;
};

static void check_request(const struct proxy_request *r)
{
	FUZZ_CHECK(r->command);
	FUZZ_CHECK(r->headers_len <= PROXY_HEADERS_MAX && (r->headers_len == 0) == (r->headers == NULL));
	/* the kept header lines: each "name: value" with its CRLF */
	for (size_t at = 0; at < r->headers_len;) {
		const char *line = r->headers + at, *crlf = memmem(line, r->headers_len - at, "\r\n", 2);

		FUZZ_CHECK(crlf && memmem(line, (size_t)(crlf - line), ": ", 2));
		at += (size_t)(crlf - line) + 2;
	}
	FUZZ_CHECK(!r->call_id || strlen(r->call_id) < PROXY_LINE_MAX);
	FUZZ_CHECK(!r->dialog_id || strlen(r->dialog_id) < PROXY_LINE_MAX);
	FUZZ_CHECK(!r->media_relay || strlen(r->media_relay) < PROXY_LINE_MAX);
}

static void answer_later(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch_job *job = arg;

	event_free(job->later);
	job->cb(job->ctx, "198.18.0.50 40002 40006");
	free(job);
}

struct dispatch_job *dispatch_request(struct dispatch *d, struct proxy_request *req, dispatch_reply_cb cb, void *ctx)
{
	struct dispatch_job *job;

	check_request(req);
	proxy_request_free(req); /* taken over, as dispatch.c does */
	if (requests++ % 2 == 0) {
		cb(ctx, "error");
		return NULL;
	}
	job = calloc(1, sizeof(*job));
	FUZZ_CHECK(job && (job->later = event_new(base, -1, 0, answer_later, job)));
	job->cb = cb;
	job->ctx = ctx;
	event_active(job->later, 0, 0);
	return job;
}

void dispatch_cancel(struct dispatch_job *job)
{
	cancelled++;
	event_free(job->later);
	free(job);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-proxy_request");
	base = event_base_new();
	return base ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_socket ps = { .base = base };
	struct fuzz_peer module;
	unsigned rounds = 0, replies = 0;
	struct evbuffer_ptr at;
	bool ended = false;

	requests = cancelled = 0;
	LIST_INIT(&ps.clients);
	client_accept(&ps, fuzz_peer_open(&module, (struct fuzz_bytes){ data, size }), NULL, 0);
	FUZZ_CHECK(!LIST_EMPTY(&ps.clients));
	/* the module writes, then shuts its side; the dispatcher must answer, then close */
	while (!ended && rounds++ < 1000 + size / 256)
		ended = fuzz_peer_turn(&module, base);
	FUZZ_CHECK(ended && LIST_EMPTY(&ps.clients));
	evbuffer_ptr_set(module.got, &at, 0, EVBUFFER_PTR_SET);
	while ((at = evbuffer_search(module.got, "\r\n", 2, &at)).pos >= 0) {
		replies++;
		evbuffer_ptr_set(module.got, &at, 2, EVBUFFER_PTR_ADD);
	}
	FUZZ_CHECK(replies == requests && cancelled == 0);
	fuzz_peer_close(&module);
	return 0;
}
