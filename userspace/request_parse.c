/* Dispatcher requests: block assembly and the block parser
 * (doc/relay-protocol.md §4-§6, doc/proxy-protocol.md §5-§6).
 * Every input is a byte range: nothing here relies on NUL termination.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "log.h"
#include "request_parse.h"

/* ---- framing ---- */

void request_block_init(struct request_block *b)
{
	*b = (struct request_block){ 0 };
}

void request_block_free(struct request_block *b)
{
	free(b->text);
	request_block_init(b);
}

enum mp_frame_status request_block_add_line(struct request_block *b, const char *line, size_t len)
{
	size_t need = b->len + len + 2;

	if (need > MP_REQUEST_MAX) {
		b->too_long = true;
		return len == 0 ? MP_FRAME_READY : MP_FRAME_PARTIAL;
	}
	if (need > b->size) {
		size_t size = b->size ? b->size : 1024;
		char *text;

		while (size < need)
			size *= 2;
		text = realloc(b->text, size);
		if (!text)
			return MP_FRAME_NO_MEMORY;
		b->text = text;
		b->size = size;
	}
	memcpy(b->text + b->len, line, len);
	memcpy(b->text + b->len + len, "\r\n", 2);
	b->len = need;
	return len == 0 ? MP_FRAME_READY : MP_FRAME_PARTIAL;
}

void request_block_clear(struct request_block *b)
{
	b->len = 0;
	b->too_long = false;
}

/* ---- parsing ---- */

/* A byte range of the block being parsed. */
struct text {
	const char *p;
	size_t len;
};

static bool text_is(struct text t, const char *word)
{
	return t.len == strlen(word) && !memcmp(t.p, word, t.len);
}

static int fail(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -1;
}

/* A printable excerpt of `t` for log lines: a value may be 64 KiB of anything. */
#define EXCERPT_SIZE 72
static const char *excerpt(struct text t, char out[EXCERPT_SIZE])
{
	size_t n = t.len < EXCERPT_SIZE - 4 ? t.len : EXCERPT_SIZE - 4;

	for (size_t i = 0; i < n; i++)
		out[i] = t.p[i] >= 0x20 && t.p[i] < 0x7f ? t.p[i] : '?';
	strcpy(out + n, n < t.len ? "..." : "");
	return out;
}

/* Iterates over the fields of `*rest` separated by `sep`: "a,,b," gives
 * "a", "", "b", "".  `*rest` becomes NULL after the last field.
 */
static bool next_field(struct text *rest, char sep, struct text *field)
{
	const char *stop;

	if (!rest->p)
		return false;
	stop = memchr(rest->p, sep, rest->len);
	if (!stop) {
		*field = *rest;
		rest->p = NULL;
		return true;
	}
	*field = (struct text){ rest->p, stop - rest->p };
	rest->len -= field->len + 1;
	rest->p = stop + 1;
	return true;
}

/* Lines end in CRLF; a last line without one still counts. */
static bool next_line(struct text *rest, struct text *line)
{
	const char *crlf;

	if (!rest->len)
		return false;
	crlf = memmem(rest->p, rest->len, "\r\n", 2);
	*line = (struct text){ rest->p, crlf ? (size_t)(crlf - rest->p) : rest->len };
	rest->p += crlf ? line->len + 2 : line->len;
	rest->len -= crlf ? line->len + 2 : line->len;
	return true;
}

static int copy_text(char *dst, size_t size, struct text t, const char *what, char *why, size_t why_len)
{
	if (t.len >= size)
		return fail(why, why_len, "%s is longer than %zu bytes", what, size - 1);
	memcpy(dst, t.p, t.len);
	dst[t.len] = '\0';
	return 0;
}

/* Python's split() separators, ASCII part */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool parse_digits(struct text t, uint64_t max, uint64_t *value)
{
	*value = 0;
	if (!t.len)
		return false;
	for (size_t i = 0; i < t.len; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return false;
		*value = *value * 10 + (t.p[i] - '0');
		if (*value > max)
			return false;
	}
	return true;
}

static bool parse_ipv4(struct text t, struct in_addr *addr)
{
	char buf[INET_ADDRSTRLEN];

	if (t.len >= sizeof(buf))
		return false;
	memcpy(buf, t.p, t.len);
	buf[t.len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1;
}

static int decode_cseq(struct text value, struct request *req, char *why, size_t why_len)
{
	uint64_t cseq;

	if (!parse_digits(value, UINT32_MAX, &cseq))
		return fail(why, why_len, "not a decimal integer up to %u", UINT32_MAX);
	req->cseq = cseq;
	req->has_cseq = true;
	return 0;
}

static int decode_type(struct text value, struct request *req, char *why, size_t why_len)
{
	if (text_is(value, "request"))
		req->type = MESSAGE_REQUEST;
	else if (text_is(value, "reply"))
		req->type = MESSAGE_REPLY;
	else
		return fail(why, why_len, "neither 'request' nor 'reply'");
	req->has_type = true;
	return 0;
}

/* A key of the signaling_ip JSON object: 1 and *str when it holds a
 * non-empty string, 0 when it is missing, null or "", -1 for another type.
 */
static int json_string_member(json_t *obj, const char *key, struct text *str)
{
	json_t *member = json_object_get(obj, key);

	if (!member || json_is_null(member))
		return 0;
	if (!json_is_string(member))
		return -1;
	*str = (struct text){ json_string_value(member), json_string_length(member) };
	return str->len > 0;
}

static int decode_signaling_json(json_t *obj, struct request *req, char *why, size_t why_len)
{
	static const char *const address_keys[] = { "signaling_ip", "destination_ip" };
	struct in_addr *addresses[] = { &req->signaling_source, &req->signaling_destination };
	struct text str;
	int found;

	for (int i = 0; i < 2; i++) {
		found = json_string_member(obj, address_keys[i], &str);
		if (found < 0 || (found && !parse_ipv4(str, addresses[i])))
			return fail(why, why_len, "\"%s\" is not an IPv4 address", address_keys[i]);
	}
	found = json_string_member(obj, "username", &str);
	if (found < 0)
		return fail(why, why_len, "\"username\" is not a string");
	if (found) {
		if (copy_text(req->username, sizeof(req->username), str, "\"username\"", why, why_len))
			return -1;
		req->has_username = true;
	}
	return 0;
}

/* Forms in the order of doc/proxy-protocol.md §6: JSON object, "src_dst", address. */
static int decode_signaling_ip(struct text value, struct request *req, char *why, size_t why_len)
{
	json_t *obj = json_loadb(value.p, value.len, 0, NULL);
	const char *underscore;
	int ret = 0;

	if (obj && json_is_object(obj)) {
		ret = decode_signaling_json(obj, req, why, why_len);
		json_decref(obj);
		req->has_signaling_ip = !ret;
		return ret;
	}
	json_decref(obj);
	underscore = memchr(value.p, '_', value.len);
	if (underscore) {
		struct text src = { value.p, underscore - value.p };
		struct text dst = { underscore + 1, value.len - src.len - 1 };

		if (!parse_ipv4(src, &req->signaling_source) || !parse_ipv4(dst, &req->signaling_destination))
			return fail(why, why_len, "'source_destination' form without two IPv4 addresses");
	} else if (!parse_ipv4(value, &req->signaling_source)) {
		return fail(why, why_len, "neither a JSON object, nor 'source_destination', nor an IPv4 address");
	}
	req->has_signaling_ip = true;
	return 0;
}

static bool parse_direction(struct text t, enum media_direction *direction)
{
	static const char *const names[] = {
		[DIRECTION_SENDRECV] = "sendrecv",
		[DIRECTION_SENDONLY] = "sendonly",
		[DIRECTION_RECVONLY] = "recvonly",
		[DIRECTION_INACTIVE] = "inactive",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (t.len == strlen(names[i]) && !strncasecmp(t.p, names[i], t.len)) {
			*direction = i;
			return true;
		}
	}
	return false;
}

static int decode_stream_params(struct text params, struct request_media *m, char *why, size_t why_len)
{
	struct text param, name, value;

	while (next_field(&params, ':', &param)) {
		if (!param.len)
			continue;
		value = param;
		next_field(&value, '=', &name);
		if (!value.p)
			return fail(why, why_len, "parameter without '='");
		if (!text_is(name, "ice"))
			continue; /* other parameters are accepted and unused */
		if (text_is(value, "yes"))
			m->ice = true;
		else if (text_is(value, "no"))
			m->ice = false;
		else
			return fail(why, why_len, "ice is neither 'yes' nor 'no'");
	}
	return 0;
}

/* type:ip:port:direction[:name=value...].  The address may itself hold
 * colons (IPv6), so the direction is the first direction word from the
 * fourth field on, the port is the field before it and the address is
 * everything between the type and the port.
 */
static int decode_stream(struct text entry, struct request_media *m, char *why, size_t why_len)
{
	struct text rest = entry, type, field, port = { 0 }, ip;
	unsigned index = 0;
	bool found = false;
	uint64_t port_number;

	next_field(&rest, ':', &type);
	ip.p = rest.p;
	while (!found && next_field(&rest, ':', &field)) {
		index++;
		found = index >= 3 && parse_direction(field, &m->direction);
		if (!found)
			port = field;
	}
	if (!found)
		return fail(why, why_len, "not type:ip:port:direction[:name=value...]");
	ip.len = port.p - 1 - ip.p;
	if (!type.len || !ip.len)
		return fail(why, why_len, "empty type or address");
	if (copy_text(m->type, sizeof(m->type), type, "type", why, why_len) ||
	    copy_text(m->ip, sizeof(m->ip), ip, "address", why, why_len))
		return -1;
	if (!parse_digits(port, 65535, &port_number))
		return fail(why, why_len, "port is not a number from 0 to 65535");
	m->port = port_number;
	return rest.p ? decode_stream_params(rest, m, why, why_len) : 0;
}

static int decode_media(struct text value, struct request *req, char *why, size_t why_len)
{
	struct text rest = value, entry;
	char reason[128], quoted[EXCERPT_SIZE];

	req->has_media = true;
	while (next_field(&rest, ',', &entry)) {
		if (!entry.len)
			continue;
		if (req->stream_count == REQUEST_MAX_STREAMS)
			return fail(why, why_len, "more than %d streams", REQUEST_MAX_STREAMS);
		if (decode_stream(entry, &req->streams[req->stream_count], reason, sizeof(reason)))
			return fail(why, why_len, "stream '%s': %s", excerpt(entry, quoted), reason);
		req->stream_count++;
	}
	return 0;
}

enum header {
	H_CALL_ID, H_FROM_TAG, H_TO_TAG, H_FROM_URI, H_TO_URI, H_USER_AGENT,
	H_CSEQ, H_TYPE, H_SIGNALING_IP, H_MEDIA,
	HEADER_COUNT,
};

typedef int (*header_decoder)(struct text value, struct request *req, char *why, size_t why_len);

#define TEXT_HEADER(field) { #field, NULL, offsetof(struct request, field), \
			     sizeof(((struct request *)0)->field) }
static const struct {
	const char *name;
	header_decoder decode; /* NULL: text copied into the request at `offset` */
	size_t offset, size;
} headers[HEADER_COUNT] = {
	[H_CALL_ID] = TEXT_HEADER(call_id),
	[H_FROM_TAG] = TEXT_HEADER(from_tag),
	[H_TO_TAG] = TEXT_HEADER(to_tag),
	[H_FROM_URI] = TEXT_HEADER(from_uri),
	[H_TO_URI] = TEXT_HEADER(to_uri),
	[H_USER_AGENT] = TEXT_HEADER(user_agent),
	[H_CSEQ] = { "cseq", decode_cseq },
	[H_TYPE] = { "type", decode_type },
	[H_SIGNALING_IP] = { "signaling_ip", decode_signaling_ip },
	[H_MEDIA] = { "media", decode_media },
};

static const char *const command_names[] = {
	[COMMAND_UPDATE] = "update",
	[COMMAND_REMOVE] = "remove",
	[COMMAND_SUMMARY] = "summary",
	[COMMAND_SESSIONS] = "sessions",
};
#define COMMAND_COUNT (sizeof(command_names) / sizeof(command_names[0]))

/* doc/relay-protocol.md §6.1 and §6.2; summary and sessions take no headers. */
static const unsigned required_headers[COMMAND_COUNT] = {
	[COMMAND_UPDATE] = 1 << H_CALL_ID | 1 << H_FROM_TAG | 1 << H_FROM_URI | 1 << H_TO_URI |
			  1 << H_CSEQ | 1 << H_USER_AGENT | 1 << H_TYPE | 1 << H_SIGNALING_IP,
	[COMMAND_REMOVE] = 1 << H_CALL_ID | 1 << H_FROM_TAG,
};

const char *command_name(enum command command)
{
	return command < COMMAND_COUNT ? command_names[command] : "?";
}

/* The first line: exactly two whitespace-separated words.  Returns 0, -1
 * when the line is unusable (no reply), 1 for an unknown command.
 */
static int parse_command_line(struct text line, struct request *req, char *why, size_t why_len)
{
	struct text words[2];
	char quoted[EXCERPT_SIZE];
	unsigned count = 0;
	size_t i = 0;

	while (i < line.len) {
		size_t start;

		while (i < line.len && is_space(line.p[i]))
			i++;
		if (i == line.len)
			break;
		if (count == 2)
			return fail(why, why_len, "command line '%s' has more than two words", excerpt(line, quoted));
		start = i;
		while (i < line.len && !is_space(line.p[i]))
			i++;
		words[count++] = (struct text){ line.p + start, i - start };
	}
	if (count < 2)
		return fail(why, why_len, "command line '%s' is not '<command> <seq>'", excerpt(line, quoted));
	if (words[1].len >= sizeof(req->seq) || memchr(words[1].p, '\0', words[1].len))
		return fail(why, why_len, "sequence token of command line '%s' is too long or holds a NUL byte",
			    excerpt(line, quoted));
	memcpy(req->seq, words[1].p, words[1].len);
	for (unsigned c = 0; c < COMMAND_COUNT; c++) {
		if (text_is(words[0], command_names[c])) {
			req->command = c;
			return 0;
		}
	}
	fail(why, why_len, "unknown command '%s'", excerpt(words[0], quoted));
	return 1;
}

static int find_header(struct text name)
{
	for (int h = 0; h < HEADER_COUNT; h++)
		if (text_is(name, headers[h].name))
			return h;
	return -1;
}

static int decode_header(int h, struct text value, struct request *req, char *why, size_t why_len)
{
	char reason[256];

	if (memchr(value.p, '\0', value.len))
		return fail(why, why_len, "header %s holds a NUL byte", headers[h].name);
	if (headers[h].decode) {
		if (headers[h].decode(value, req, reason, sizeof(reason)))
			return fail(why, why_len, "header %s: %s", headers[h].name, reason);
		return 0;
	}
	return copy_text((char *)req + headers[h].offset, headers[h].size, value, headers[h].name, why, why_len);
}

enum parse_result request_parse(const char *block, size_t len, struct request *req,
				      char *why, size_t why_len)
{
	struct text rest = { block, len }, line, name, value, values[HEADER_COUNT] = { 0 };
	char quoted[EXCERPT_SIZE];
	unsigned present = 0;
	int ret;

	memset(req, 0, sizeof(*req));
	if (!next_line(&rest, &line)) {
		fail(why, why_len, "empty request");
		return PARSE_IGNORED;
	}
	ret = parse_command_line(line, req, why, why_len);
	if (ret)
		return ret < 0 ? PARSE_IGNORED : PARSE_UNKNOWN_COMMAND;

	/* Only the last occurrence of a header counts, so collect before decoding. */
	while (next_line(&rest, &line) && line.len) {
		const char *colon = memmem(line.p, line.len, ": ", 2);
		int h;

		if (!colon) {
			log_warn("request %s: ignoring header line without ': ': '%s'", req->seq,
				 excerpt(line, quoted));
			continue;
		}
		name = (struct text){ line.p, colon - line.p };
		value = (struct text){ colon + 2, line.len - name.len - 2 };
		h = find_header(name);
		if (h >= 0)
			values[h] = value;
	}
	for (int h = 0; h < HEADER_COUNT; h++) {
		if (!values[h].len)
			continue; /* an empty value is an absent header */
		if (decode_header(h, values[h], req, why, why_len))
			return PARSE_INVALID;
		present |= 1u << h;
	}
	for (int h = 0; h < HEADER_COUNT; h++) {
		if ((required_headers[req->command] & 1u << h) && !(present & 1u << h)) {
			fail(why, why_len, "%s without required header %s", command_names[req->command],
			     headers[h].name);
			return PARSE_INVALID;
		}
	}
	return PARSE_OK;
}
