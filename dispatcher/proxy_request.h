/* A request from the SIP proxy's mediaproxy module (doc/proxy-protocol.md §2-§3):
 * a command line, header lines, an empty line.  The dispatcher reads only
 * call_id, dialog_id and media_relay; every header line goes on to the relay
 * as it came, in order.
 */
#ifndef MP_PROXY_REQUEST_H
#define MP_PROXY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include "lines.h"

#define PROXY_LINE_MAX 16384 /* a longer line closes the connection (doc/proxy-protocol.md §2 rule 8) */
/* The header lines kept: what goes to the relay must stay within
 * MP_REQUEST_MAX (lines.h) with the command line, its sequence number and
 * the empty line added.
 */
#define PROXY_HEADERS_MAX (MP_REQUEST_MAX - 64) /* 65,472: the log says so */

struct proxy_request {
	char *command;     /* "" until the first line */
	char *headers;     /* the kept header lines, each ending in CRLF */
	size_t headers_len;
	char *call_id, *dialog_id, *media_relay; /* NULL when absent (or empty) */
	bool malformed;    /* a header line without ": ": the reply is `error` */
	bool too_long;     /* headers over PROXY_HEADERS_MAX, no longer kept: the reply is `error` */
};

void proxy_request_init(struct proxy_request *r);
void proxy_request_free(struct proxy_request *r);

/* Adds one line, given without its CRLF.  Returns true when it was the
 * empty line that ends the request.  -1 when out of memory.
 */
int proxy_request_add_line(struct proxy_request *r, const char *line, size_t len);

#endif
