/* CRLF line framing, shared by every line protocol of both daemons: the
 * relay protocol on either end, the proxy module's socket, the management
 * interface and the relay's control socket.  A bare LF is not a line end.
 */
#ifndef MP_LINES_H
#define MP_LINES_H

#include <stddef.h>
#include <event2/buffer.h>

/* The longest request either daemon takes, every line with its CRLF: the
 * proxy module's request on the dispatcher, and the block the dispatcher
 * relays from it (with a sequence number) to a relay.  A request over it is
 * answered `error`, and the connection goes on.
 */
#define MP_REQUEST_MAX (64 * 1024)

/* What a framing step produced. */
enum mp_frame_status {
	MP_FRAME_READY,     /* a line was taken / the block is complete */
	MP_FRAME_PARTIAL,   /* wait for more bytes / the block goes on */
	MP_FRAME_TOO_LONG,  /* over the limit: close the connection */
	MP_FRAME_NO_MEMORY, /* close the connection */
};

/* Takes one CRLF-terminated line of at most `max` bytes (CRLF excluded) out
 * of `in`.  When READY, *line is a malloc'ed copy without the CRLF,
 * NUL-terminated for convenience (it may also hold NUL bytes: use *len);
 * the caller frees it.
 */
enum mp_frame_status mp_line_take(struct evbuffer *in, size_t max, char **line, size_t *len);

#endif
