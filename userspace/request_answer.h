/* Answering one request block, the same way on the local control socket
 * (control.h) and on a dispatcher connection (dispatcher_link.h): parse it,
 * run it through the owner's handler and queue the reply line
 * "<seq> <payload>".
 */
#ifndef MP_REQUEST_ANSWER_H
#define MP_REQUEST_ANSWER_H

#include <event2/buffer.h>
#include "request.h"
#include "request_parse.h"

/* Called for every well-formed request; appends the reply payload (without
 * seq and CRLF, e.g. "198.18.0.50 40002" or "error") to `reply_payload`.
 * A payload that is empty or holds CR or LF is replaced by "error".  The
 * handler must not close the connection the request came on.
 */
typedef void (*request_handler)(void *owner, void *origin, const struct request *req,
				   struct evbuffer *reply_payload);

/* Parses one complete request block, runs it through `handle` (with
 * `origin`, e.g. the dispatcher connection it came on; NULL for the control
 * socket) and appends "<seq> <payload>\r\n" to `out`; "<seq> error" for a
 * block over MP_REQUEST_MAX, nothing for a block without a command line.
 * `who` names the peer in log lines.  -1 without memory.
 */
int request_answer(request_handler handle, void *owner, void *origin, const struct request_block *block,
		      struct evbuffer *out, const char *who);

#endif
