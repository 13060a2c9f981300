/* A struct's JSON form with its keys named once: a table of its fields,
 * which json_fields_write() turns into a JSON object and json_fields_read()
 * reads back.  The relay's saved state (state.c, media.c) is made of these.
 *
 *	static const struct json_field leg_fields[] = {
 *		JSON_FIELD(struct leg, in_use, BOOL),
 *		JSON_FIELD(struct leg, remote_port, UINT),
 *		JSON_FIELDS_END,
 *	};
 */
#ifndef MP_JSON_FIELDS_H
#define MP_JSON_FIELDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum json_field_kind {
	JSON_FIELD_BOOL,
	JSON_FIELD_UINT,      /* an unsigned integer or an enum, `size` bytes wide, at most `max` */
	JSON_FIELD_TIME,      /* a double: UNIX seconds, 0 (not yet) up to the end of the year 9999 */
	JSON_FIELD_REAL,      /* a double, finite and not negative */
	JSON_FIELD_IPV4,      /* a struct in_addr, as "a.b.c.d" */
	JSON_FIELD_TEXT,      /* a char[size]; bytes that are not UTF-8 go as {"hex": "..."} */
	JSON_FIELD_TEXT_COPY, /* a char *, read back as a heap copy of at most `size` bytes with its NUL */
	JSON_FIELD_OBJECT,    /* a struct, described by `fields` */
	JSON_FIELD_TUPLE,     /* a struct, described by `fields`, as an array of their values */
};

struct json_field {
	const char *key; /* NULL ends a table */
	enum json_field_kind kind;
	size_t offset;
	size_t size;
	const struct json_field *fields;
	uint64_t max; /* JSON_FIELD_UINT: the largest value read back; 0: what `size` bytes hold */
	/* Not 0: an array of `count` values `stride` bytes apart, each one
	 * described by `element` when set (an array of arrays), else by this
	 * field without its count.
	 */
	unsigned count;
	size_t stride;
	const struct json_field *element;
};

#define JSON_MEMBER_SIZE(type, member) sizeof(((type *)0)->member)

/* `member` under its own name; more designators may follow (.fields = ...). */
#define JSON_FIELD(type, member, kind, ...) \
	{ #member, JSON_FIELD_##kind, offsetof(type, member), JSON_MEMBER_SIZE(type, member), __VA_ARGS__ }

/* An array member, as a JSON array of its values. */
#define JSON_ARRAY(type, member, kind, ...)                                                                \
	{ #member, JSON_FIELD_##kind, offsetof(type, member), JSON_MEMBER_SIZE(type, member[0]),            \
	  .count = JSON_MEMBER_SIZE(type, member) / JSON_MEMBER_SIZE(type, member[0]),                      \
	  .stride = JSON_MEMBER_SIZE(type, member[0]), __VA_ARGS__ }

#define JSON_TEXT_COPY(type, member, limit) { #member, JSON_FIELD_TEXT_COPY, offsetof(type, member), limit }

#define JSON_FIELDS_END { NULL }

/* A new object with the fields of `object` in table order, or NULL when a
 * value cannot be made (out of memory, a real that is not finite).
 */
json_t *json_fields_write(const struct json_field *fields, const void *object);

/* Why a read failed, for a log line: "party[1].rtp.remote_port = 70000:
 * out of range".
 */
struct json_fields_error {
	char field[128];     /* the path of the field, from the object read */
	char value[48];      /* its JSON text, shortened; "" when it is missing */
	const char *problem; /* "missing", "not a boolean", "out of range"... */
};

/* Fills the fields of `object` (zeroed, as from calloc) from `json`, an
 * object that must hold every field with a value of its kind and range
 * (texts shorter than `size`, without NUL bytes).  0, or -1 with `err`
 * filled; the text copies made so far stay in `object` either way.
 */
int json_fields_read(const struct json_field *fields, const json_t *json, void *object,
		     struct json_fields_error *err);

/* A check of the caller's own failed on `value` of `field`: fills `err`, returns -1. */
int json_fields_reject(struct json_fields_error *err, const char *field, const json_t *value, const char *problem);

/* Puts the path of an enclosing value ("streams[2]", "media") before the
 * field `err` names, for a failure found inside it.
 */
void json_fields_error_within(struct json_fields_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
