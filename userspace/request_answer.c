/* Answering one request block (request_answer.h). */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "request_answer.h"
#include "request_parse.h"

static bool payload_is_one_line(struct evbuffer *payload)
{
	return evbuffer_get_length(payload) > 0 &&
	       evbuffer_search(payload, "\r", 1, NULL).pos < 0 &&
	       evbuffer_search(payload, "\n", 1, NULL).pos < 0;
}

int request_answer(request_handler handle, void *owner, void *origin, const struct request_block *block,
		      struct evbuffer *out, const char *who)
{
	enum parse_result result;
	struct evbuffer *payload;
	struct request req;
	char why[512];
	int ret = 0;

	result = request_parse(block->text, block->len, &req, why, sizeof(why));
	if (result == PARSE_IGNORED) {
		log_warn("%s: ignoring a request: %s", who, why);
		return 0;
	}
	if (block->too_long) {
		result = PARSE_INVALID;
		snprintf(why, sizeof(why), "over %d bytes", MP_REQUEST_MAX);
	}
	payload = evbuffer_new();
	if (!payload)
		return -1;
	if (result == PARSE_OK) {
		handle(owner, origin, &req, payload);
		if (!payload_is_one_line(payload)) {
			log_err("%s: %s %s: the handler's reply is empty or not one line; answering error", who,
				command_name(req.command), req.seq);
			evbuffer_drain(payload, evbuffer_get_length(payload));
		}
	} else {
		log_warn("%s: request %s: %s; answering error", who, req.seq, why);
	}
	/* one piece, so that replies never interleave */
	if ((evbuffer_get_length(payload) == 0 && evbuffer_add(payload, "error", 5)) ||
	    evbuffer_prepend(payload, " ", 1) || evbuffer_prepend(payload, req.seq, strlen(req.seq)) ||
	    evbuffer_add(payload, "\r\n", 2) || evbuffer_add_buffer(out, payload))
		ret = -1;
	evbuffer_free(payload);
	return ret;
}
