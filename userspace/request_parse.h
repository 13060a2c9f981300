/* Reading dispatcher requests (doc/relay-protocol.md §4-§6):
 * the assembly of request blocks from lines (lines.h), and the parser that
 * turns a block into a struct request.  The control socket and the TLS
 * dispatcher link share both.
 */
#ifndef MP_REQUEST_PARSE_H
#define MP_REQUEST_PARSE_H

#include "lines.h"
#include "request.h"

#define REQUEST_LINE_MAX  (64 * 1024)         /* longest line accepted, CRLF excluded */

/* A request block being assembled line by line. */
struct request_block {
	char *text;  /* the lines received so far, each with its CRLF */
	size_t len, size;
	bool too_long; /* over MP_REQUEST_MAX: only the lines that fit are kept, to answer "<seq> error" */
};

void request_block_init(struct request_block *b);
void request_block_free(struct request_block *b);
/* Appends one line given without its CRLF; READY when it was the empty line
 * that ends the block, whose text is then b->text[0..b->len).  Lines past
 * MP_REQUEST_MAX are dropped and the block marked too_long.
 */
enum mp_frame_status request_block_add_line(struct request_block *b, const char *line, size_t len);
/* Forgets the block's lines, to start the next block. */
void request_block_clear(struct request_block *b);

enum parse_result {
	PARSE_OK,
	PARSE_IGNORED,         /* no "<command> <seq>" line: send no reply at all */
	PARSE_UNKNOWN_COMMAND, /* reply "<seq> error"; req->seq is set */
	PARSE_INVALID,         /* missing or malformed header: reply "<seq> error"; req->seq is set */
};

/* Parses one request block: the command line, header lines and the empty
 * line, each ending in CRLF.  Reading stops at the first empty line (or at
 * the end of `len` bytes).  Unless the result is PARSE_OK, `why` says what
 * was wrong, for the log.  Never reads outside block[0..len).
 */
enum parse_result request_parse(const char *block, size_t len, struct request *req,
				      char *why, size_t why_len);

const char *command_name(enum command command);

#endif
