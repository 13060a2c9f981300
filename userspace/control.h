/* The local control socket: a UNIX stream socket (mode 0600) on which tests
 * and operators send the same request blocks a dispatcher sends
 * (../shared/spec/relay-protocol.md §5-§6) and read one reply line
 * "<seq> <payload>" per request, in request order.  tools/mp-control is its
 * command line client.
 */
#ifndef MP_CONTROL_H
#define MP_CONTROL_H

#include <event2/buffer.h>
#include <event2/event.h>
#include "request.h"

/* Called for every well-formed request; appends the reply payload (without
 * seq and CRLF, e.g. "198.18.0.50 40002" or "error") to `reply_payload`.
 * A payload that is empty or holds CR or LF is replaced by "error".  The
 * handler must not close the control socket.
 */
typedef void (*mp_control_handler)(void *owner, void *origin, const struct mp_request *req,
				   struct evbuffer *reply_payload);

struct mp_control;

/* Listens on `path`, replacing a socket left there by an earlier run.
 * Returns NULL, after logging why, when it cannot.
 */
struct mp_control *mp_control_open(struct event_base *base, const char *path,
				   mp_control_handler handle, void *owner);

/* Parses one request block, runs it through `handle` (with `origin`, e.g.
 * the dispatcher connection it came on; NULL for the control socket) and
 * appends "<seq> <payload>\r\n" to `out`; nothing for a block without a
 * command line.  `who` names the peer in log lines.  -1 without memory.
 */
int mp_control_answer(mp_control_handler handle, void *owner, void *origin, const char *block, size_t len,
		      struct evbuffer *out, const char *who);

/* Disconnects every client, stops listening and removes the socket file. */
void mp_control_close(struct mp_control *control);

#endif
