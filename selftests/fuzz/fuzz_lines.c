/* The CRLF line reader of every line protocol (common/lines.c), against
 * what lines.h promises: a stream fed in pieces gives the lines a plain
 * search for CRLF gives, in order, without their CRLF; a line over `max`
 * bytes is TOO_LONG as soon as that is sure, and nothing else is.
 *
 * Input: byte 0 is `max` (0-255), byte 1 the size of the pieces the
 * stream arrives in (1-256), the rest is the stream.
 */
#include <event2/buffer.h>
#include "fuzz.h"
#include "lines.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-lines");
	return 0;
}

/* What the next mp_line_take must do with stream[taken..fed). */
static enum mp_frame_status expected(const uint8_t *stream, size_t taken, size_t fed, size_t max, size_t *line_len)
{
	const uint8_t *crlf = memmem(stream + taken, fed - taken, "\r\n", 2);

	if (!crlf)
		return fed - taken > max + 1 ? MP_FRAME_TOO_LONG : MP_FRAME_PARTIAL;
	*line_len = (size_t)(crlf - (stream + taken));
	return *line_len > max ? MP_FRAME_TOO_LONG : MP_FRAME_READY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *in;
	size_t max, piece, taken = 0, fed = 0;
	bool closed = false;

	if (size < 2)
		return 0;
	max = data[0];
	piece = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	in = evbuffer_new();
	FUZZ_CHECK(in);
	while (fed < size && !closed) {
		size_t n = size - fed < piece ? size - fed : piece;
		enum mp_frame_status status, want;

		FUZZ_CHECK(evbuffer_add(in, data + fed, n) == 0);
		fed += n;
		do {
			size_t want_len = 0, len = 0;
			char *line = NULL;

			want = expected(data, taken, fed, max, &want_len);
			status = mp_line_take(in, max, &line, &len);
			FUZZ_CHECK(status == want);
			if (status == MP_FRAME_READY) {
				FUZZ_CHECK(len == want_len && !memcmp(line, data + taken, len) && line[len] == '\0');
				taken += len + 2;
				free(line);
			}
			/* the caller closes the connection: nothing more is read */
			closed = status == MP_FRAME_TOO_LONG;
			if (!closed)
				FUZZ_CHECK(evbuffer_get_length(in) == fed - taken);
		} while (status == MP_FRAME_READY);
	}
	evbuffer_free(in);
	return 0;
}
