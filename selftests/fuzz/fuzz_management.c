/* The dispatcher's management interface (dispatcher/management.c,
 * doc/management.md) over plain TCP (management_use_tls = no): a client's
 * commands on a socketpair, `summary` and `sessions` fanned out to
 * stand-in relays whose answers come from the input.
 *
 * Input: byte 0 gives the number of relays (bits 0-1) and which of them
 * cannot be sent to (bits 2-4); then what the client writes before it
 * shuts its side; then, after two NUL bytes, the relays' answers in the
 * order they are asked, one a line (LF); "-" is a failed command.  An
 * answer arrives at each turn of the event loop.
 * Checked besides memory: every line the client gets is `error`, the
 * version, or a JSON-style array.
 */
#include "fuzz.h"
#include "management.c"

struct relay {
	char ip[INET_ADDRSTRLEN];
	bool refuses;
};

struct asked {
	struct relay *relay;
	relay_reply_cb cb;
	void *ctx;
};

static struct event_base *base;
static struct mp_config cfg;
static struct relay stand_ins[3];
static unsigned relay_count;
static struct asked asked[1024];
static unsigned asked_count;

const char *relay_ip(const struct relay *relay)
{
	return relay->ip;
}

unsigned relays_list(struct relays *relays, bool usable_only, struct relay **out, unsigned max)
{
	unsigned n = 0;

	for (; n < relay_count && n < max; n++)
		out[n] = &stand_ins[n];
	return n;
}

int relay_send(struct relay *relay, const char *command, const char *headers, size_t headers_len,
	       unsigned timeout_ms, relay_reply_cb cb, void *ctx)
{
	FUZZ_CHECK(!strcmp(command, "summary") || !strcmp(command, "sessions"));
	if (relay->refuses || asked_count == sizeof(asked) / sizeof(asked[0]))
		return -1;
	asked[asked_count++] = (struct asked){ relay, cb, ctx };
	return 0;
}

/* The oldest command gets the next answer, or fails when there is none. */
static void answer_one(struct fuzz_bytes *answers)
{
	struct fuzz_bytes answer;
	struct asked a = asked[0];
	char *text = NULL;

	memmove(asked, asked + 1, --asked_count * sizeof(asked[0]));
	if (fuzz_next_part(answers, "\n", 1, &answer) && !(answer.len == 1 && answer.p[0] == '-'))
		text = fuzz_string(answer);
	a.cb(a.ctx, a.relay, text, text ? strlen(text) : 0);
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-management");
	base = event_base_new();
	cfg.dispatcher.relay_timeout = 5;
	for (unsigned i = 0; i < 3; i++)
		snprintf(stand_ins[i].ip, sizeof(stand_ins[i].ip), "198.18.0.%u", 50 + i);
	return base ? 0 : -1;
}

static void check_answers(struct evbuffer *got)
{
	size_t len;
	char *line;

	while (mp_line_take(got, SIZE_MAX - 2, &line, &len) == MP_FRAME_READY) {
		FUZZ_CHECK(!strcmp(line, "error") || !strcmp(line, MP_VERSION) ||
			   (len >= 2 && line[0] == '[' && line[len - 1] == ']'));
		free(line);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct management m = { .base = base, .cfg = &cfg };
	struct fuzz_bytes in, commands, answers;
	struct fuzz_peer client;
	unsigned rounds = 0;
	bool ended = false;

	if (size < 1)
		return 0;
	in = (struct fuzz_bytes){ data + 1, size - 1 };
	relay_count = data[0] & 3;
	for (unsigned i = 0; i < 3; i++)
		stand_ins[i].refuses = data[0] >> (2 + i) & 1;
	asked_count = 0;
	fuzz_next_part(&in, "\0\0", 2, &commands);
	answers = in;
	LIST_INIT(&m.clients);
	client_accept(&m, fuzz_peer_open(&client, commands), NULL, 0);
	while (!ended && rounds++ < 1000 + commands.len / 64) {
		ended = fuzz_peer_turn(&client, base);
		if (asked_count)
			answer_one(&answers);
		ended &= !asked_count;
	}
	/* the dispatcher stops: clients first, then the relays' commands fail */
	while (!LIST_EMPTY(&m.clients))
		client_free(LIST_FIRST(&m.clients));
	while (asked_count)
		answer_one(&(struct fuzz_bytes){ 0 });
	check_answers(client.got);
	fuzz_peer_close(&client);
	event_base_loop(base, EVLOOP_NONBLOCK); /* deferred callbacks of freed clients */
	return 0;
}
