/* The relay protocol on the dispatcher (dispatcher/relays.c, dispatch.c,
 * doc/proxy-protocol.md §7-§10): relays' answers to `update`, `remove` and
 * `sessions`, their `expired` reports and pings, interleaved with the
 * proxy's requests, relays coming and going, timeouts and cancelled
 * requests.  The daemon's own code runs on relays whose connections are
 * buffers; accounting and ending dialogs are stand-ins that check what
 * they get.
 *
 * The input is a script, one step a line (LF):
 *   up [IP]      a relay connects (198.18.0.50 if no IP; it replaces one from the same IP)
 *   down [IP]    its connection is lost
 *   < TEXT       the newest relay sends the line TEXT
 *   > TEXT       the proxy module sends the line TEXT (a request ends with "> ")
 *   timeout      the newest relay's oldest command times out
 *   recover      a timed-out relay that never pinged again is dropped
 *   cancel       the proxy connection of the oldest unanswered request goes away
 *   dead         the oldest lost relay stays away past cleanup_dead_relays_after
 *   cleanup      the periodic cleanup of expired records runs
 * Checked besides memory: each request gets exactly one answer, none
 * after it was cancelled, every reply is one line; every block sent to a
 * relay is within MP_REQUEST_MAX (D4); what is accounted is a JSON object
 * that RADIUS can read too, and whose start time the database columns take
 * (doc/accounting.md §3.1).
 */
#include "fuzz.h"
#include "acct_backend.h"
#include "acct_radius.h"
#include "proxy_request.h"
#include "relays.c"
#include "dispatch.c"

static struct event_base *base;
static struct mp_config cfg;
static struct relays relays;
static struct dispatch dispatch;
static int accounting_stand_in, proxy_control_stand_in;

/* A request of the proxy and what became of it. */
struct proxy_call {
	struct dispatch_job *job;
	bool answered, cancelled;
};

static struct proxy_call *calls[4096];
static unsigned call_count;

void accounting_record(struct accounting *a, const char *call_id, const char *from_tag, const char *to_tag,
		       const char *info)
{
	struct radius_attr attrs[RADIUS_RECORD_MAX];
	json_t *stored = json_loads(info, 0, NULL);
	char why[256], start_time[ACCT_TIME_LEN];
	const json_t *start = json_object_get(stored, "start_time");
	double t = json_number_value(start);

	FUZZ_CHECK(a == (void *)&accounting_stand_in && call_id && from_tag);
	FUZZ_CHECK(json_is_object(stored));
	/* "YYYY-MM-DD HH:MM:SS" for a start time from 1970 to 9999, else none */
	acct_start_time(info, start_time);
	FUZZ_CHECK(strlen(start_time) == (json_is_number(start) && t >= 0 && t < 253402300800.0 ? ACCT_TIME_LEN - 1 : 0));
	FUZZ_CHECK(!start_time[0] || (start_time[4] == '-' && start_time[10] == ' ' && start_time[16] == ':' &&
				      strspn(start_time, "0123456789-: ") == ACCT_TIME_LEN - 1));
	json_decref(stored);
	radius_record(info, attrs, why, sizeof(why));
}

void proxy_control_end_dialog(struct proxy_control *pc, const char *dialog_id, const char *call_id)
{
	FUZZ_CHECK(pc == (void *)&proxy_control_stand_in && dialog_id && call_id && strlen(dialog_id) + strlen(call_id));
}

static void proxy_answered(void *ctx, const char *reply)
{
	struct proxy_call *call = ctx;

	FUZZ_CHECK(!call->answered && !call->cancelled);
	FUZZ_CHECK(reply && !strstr(reply, "\r\n"));
	call->answered = true;
	call->job = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-relay_replies");
	base = event_base_new();
	cfg.dispatcher.relay_timeout = 5;
	cfg.dispatcher.relay_recover_interval = 60;
	cfg.dispatcher.cleanup_dead_relays_after = 43200;
	return base ? 0 : -1;
}

static struct relay *relay_connect(const char *ip)
{
	struct relay *r = calloc(1, sizeof(*r));

	FUZZ_CHECK(r);
	r->relays = &relays;
	snprintf(r->ip, sizeof(r->ip), "%s", ip);
	/* no descriptor: what the dispatcher sends stays in its output buffer */
	r->bev = bufferevent_socket_new(base, -1, 0);
	FUZZ_CHECK(r->bev);
	bufferevent_disable(r->bev, EV_READ | EV_WRITE);
	r->next = relays.list;
	relays.list = r;
	relay_authenticated(r);
	return r;
}

/* What each relay was sent: blocks "<command> <seq>", headers, an empty line. */
static void check_sent(void)
{
	for (struct relay *r = relays.list; r; r = r->next) {
		struct evbuffer *out = bufferevent_get_output(r->bev);
		struct evbuffer_ptr end;

		evbuffer_unfreeze(out, 1); /* as if written */
		while ((end = evbuffer_search(out, "\r\n\r\n", 4, NULL)).pos >= 0) {
			FUZZ_CHECK((size_t)end.pos + 4 <= MP_REQUEST_MAX);
			evbuffer_drain(out, (size_t)end.pos + 4);
		}
		FUZZ_CHECK(evbuffer_get_length(out) <= MP_REQUEST_MAX);
		evbuffer_freeze(out, 1);
	}
}

static void proxy_line(struct proxy_request *req, const char *text, size_t len)
{
	struct proxy_call *call;
	int done = proxy_request_add_line(req, text, len);

	FUZZ_CHECK(done >= 0);
	if (!done)
		return;
	if (call_count == sizeof(calls) / sizeof(calls[0])) {
		proxy_request_free(req);
		return;
	}
	call = calloc(1, sizeof(*call));
	FUZZ_CHECK(call);
	calls[call_count++] = call;
	call->job = dispatch_request(&dispatch, req, proxy_answered, call);
	FUZZ_CHECK(!call->job == call->answered);
}

static void relay_says(const char *text, size_t len)
{
	struct relay *r = relays.list;
	struct evbuffer *in = r ? bufferevent_get_input(r->bev) : NULL;

	if (!r)
		return;
	evbuffer_unfreeze(in, 0); /* as if read */
	FUZZ_CHECK(!evbuffer_add(in, text, len) && !evbuffer_add(in, "\r\n", 2));
	evbuffer_freeze(in, 0);
	relay_readable(r->bev, r);
}

static struct pending *oldest_pending(struct relay *r)
{
	struct pending *p = r ? r->pending : NULL;

	while (p && p->next)
		p = p->next;
	return p;
}

static void cancel_oldest(void)
{
	for (unsigned i = 0; i < call_count; i++)
		if (calls[i]->job) {
			calls[i]->cancelled = true;
			dispatch_cancel(calls[i]->job);
			calls[i]->job = NULL;
			return;
		}
}

static void step(struct proxy_request *req, const char *line, size_t len)
{
	const char *space = memchr(line, ' ', len), *arg = space ? space + 1 : line + len;
	size_t word = space ? (size_t)(space - line) : len, arg_len = (size_t)(line + len - arg);
	char ip[INET_ADDRSTRLEN] = "198.18.0.50";
	struct relay *r;

#define IS(name) (word == strlen(name) && !memcmp(line, name, word))
	if (space && arg_len < sizeof(ip) && (IS("up") || IS("down")))
		snprintf(ip, sizeof(ip), "%.*s", (int)arg_len, arg);
	if (IS("up")) {
		relay_connect(ip);
	} else if (IS("down")) {
		if ((r = relays_find(&relays, ip)))
			relay_drop(r, "lost (fuzz)");
	} else if (IS("<")) {
		relay_says(arg, arg_len);
	} else if (IS(">")) {
		proxy_line(req, arg, arg_len);
	} else if (IS("timeout")) {
		struct pending *p = oldest_pending(relays.list);

		if (p)
			command_timed_out(-1, EV_TIMEOUT, p);
	} else if (IS("recover")) {
		for (r = relays.list; r && !r->timed_out; r = r->next)
			;
		if (r)
			recover_expired(-1, EV_TIMEOUT, r);
	} else if (IS("cancel")) {
		cancel_oldest();
	} else if (IS("dead")) {
		if (dispatch.dead)
			dead_relay_expired(-1, EV_TIMEOUT, dispatch.dead);
	} else if (IS("cleanup")) {
		cleanup_expired(-1, EV_TIMEOUT, &dispatch);
	}
#undef IS
	check_sent();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_bytes in = { data, size }, line;
	struct proxy_request req;

	relays = (struct relays){ .base = base, .cfg = &cfg };
	dispatch = (struct dispatch){ .base = base, .cfg = &cfg, .relays = &relays, .records = records_new(),
				      .accounting = (void *)&accounting_stand_in,
				      .proxy_control = (void *)&proxy_control_stand_in };
	relays.events = (struct relays_events){ .ctx = &dispatch, .up = relay_up, .down = relay_down,
						.expired = relay_expired };
	FUZZ_CHECK(dispatch.records);
	proxy_request_init(&req);
	call_count = 0;
	while (fuzz_next_part(&in, "\n", 1, &line))
		step(&req, (const char *)line.p, line.len);

	/* the dispatcher stops: every request still out is answered */
	while (relays.list)
		relay_drop(relays.list, "dispatcher stopping");
	for (unsigned i = 0; i < call_count; i++) {
		FUZZ_CHECK(calls[i]->answered != calls[i]->cancelled);
		free(calls[i]);
	}
	proxy_request_free(&req);
	while (dispatch.dead)
		dead_relay_expired(-1, EV_TIMEOUT, dispatch.dead);
	records_free(dispatch.records);
	event_base_loop(base, EVLOOP_NONBLOCK); /* libevent frees bufferevents from the loop */
	return 0;
}
