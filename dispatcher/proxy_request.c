#include <stdlib.h>
#include <string.h>
#include "proxy_request.h"

void proxy_request_init(struct proxy_request *r)
{
	memset(r, 0, sizeof(*r));
}

void proxy_request_free(struct proxy_request *r)
{
	free(r->command);
	free(r->headers);
	free(r->call_id);
	free(r->dialog_id);
	free(r->media_relay);
	proxy_request_init(r);
}

static int set_value(char **field, const char *value, size_t len)
{
	char *copy = strndup(value, len);

	if (!copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

static int keep_header(struct proxy_request *r, const char *line, size_t len)
{
	char *headers;

	if (r->too_long || r->headers_len + len + 2 > PROXY_HEADERS_MAX) {
		r->too_long = true;
		return 0;
	}
	headers = realloc(r->headers, r->headers_len + len + 2);
	if (!headers)
		return -1;
	memcpy(headers + r->headers_len, line, len);
	memcpy(headers + r->headers_len + len, "\r\n", 2);
	r->headers = headers;
	r->headers_len += len + 2;
	return 0;
}

/* The value of header `name` if `line` is that header; the last one wins (rule 6). */
static int note_header(struct proxy_request *r, const char *line, size_t len, size_t colon)
{
	static const struct {
		const char *name;
		size_t offset;
	} wanted[] = {
		{ "call_id", offsetof(struct proxy_request, call_id) },
		{ "dialog_id", offsetof(struct proxy_request, dialog_id) },
		{ "media_relay", offsetof(struct proxy_request, media_relay) },
	};

	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (colon == strlen(wanted[i].name) && !memcmp(line, wanted[i].name, colon))
			return set_value((char **)((char *)r + wanted[i].offset), line + colon + 2, len - colon - 2);
	return 0;
}

int proxy_request_add_line(struct proxy_request *r, const char *line, size_t len)
{
	const char *sep;

	if (!len)
		return r->command != NULL; /* a blank line before a request is ignored (rule 2) */
	if (!r->command)
		return set_value(&r->command, line, len);
	/* rule 3: "name: " with nothing after it is how the modules send an empty header */
	if (len >= 2 && !memcmp(line + len - 2, ": ", 2))
		return 0;
	sep = memmem(line, len, ": ", 2);
	if (!sep) {
		r->malformed = true; /* rule 5 */
		return 0;
	}
	if (keep_header(r, line, len) || note_header(r, line, len, (size_t)(sep - line)))
		return -1;
	return 0;
}
