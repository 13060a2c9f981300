#include <stdlib.h>
#include "lines.h"

enum mp_frame_status mp_line_take(struct evbuffer *in, size_t max, char **line, size_t *len)
{
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF_STRICT);

	if (eol.pos < 0) {
		/* the last byte may be the CR of a line of exactly `max` */
		return evbuffer_get_length(in) > max + 1 ? MP_FRAME_TOO_LONG : MP_FRAME_PARTIAL;
	}
	if ((size_t)eol.pos > max)
		return MP_FRAME_TOO_LONG;
	*line = malloc((size_t)eol.pos + 1);
	if (!*line)
		return MP_FRAME_NO_MEMORY;
	evbuffer_remove(in, *line, (size_t)eol.pos);
	evbuffer_drain(in, 2);
	(*line)[eol.pos] = '\0';
	*len = (size_t)eol.pos;
	return MP_FRAME_READY;
}
