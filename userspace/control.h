/* The local control socket: a UNIX stream socket (mode 0600) on which tests
 * and operators send the same request blocks a dispatcher sends
 * (doc/relay-protocol.md §5-§6) and read one reply line
 * "<seq> <payload>" per request, in request order.  tools/relay-ctl is its
 * command line client.
 */
#ifndef MP_CONTROL_H
#define MP_CONTROL_H

#include <event2/event.h>
#include "request_answer.h"

struct control;

/* Listens on `path`, replacing a socket left there by an earlier run.
 * Returns NULL, after logging why, when it cannot.
 */
struct control *control_open(struct event_base *base, const char *path,
				   request_handler handle, void *owner);

/* Disconnects every client, stops listening and removes the socket file. */
void control_close(struct control *control);

#endif
