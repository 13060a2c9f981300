/* Struct fields to JSON and back (json_fields.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_fields.h"

/* SIP texts are UTF-8 in practice; anything else is kept as hex. */
static json_t *text_json(const char *text)
{
	json_t *json = json_string(text);
	char *hex;

	if (json)
		return json;
	hex = malloc(2 * strlen(text) + 1);
	for (size_t i = 0; hex && text[i]; i++)
		sprintf(hex + 2 * i, "%02x", (unsigned char)text[i]);
	json = hex ? json_pack("{ss}", "hex", text[0] ? hex : "") : NULL;
	free(hex);
	return json;
}

/* A saved text (a string, or {"hex": "..."}) into `out`, which holds
 * `size` bytes with the NUL: NULL, or what is wrong with it.
 */
static const char *text_read(const json_t *json, char *out, size_t size)
{
	const char *hex = json_string_value(json_object_get(json, "hex"));
	size_t len = 0;
	unsigned byte;

	/* jansson refuses a string holding \u0000 without JSON_ALLOW_NUL */
	if (json_is_string(json)) {
		len = json_string_length(json);
		if (len >= size)
			return "too long";
		memcpy(out, json_string_value(json), len + 1);
		return NULL;
	}
	if (!hex || json_object_size(json) != 1)
		return "not a text";
	for (; hex[2 * len]; len++) {
		if (len + 1 >= size)
			return "too long";
		if (!isxdigit((unsigned char)hex[2 * len]) || !isxdigit((unsigned char)hex[2 * len + 1]) ||
		    sscanf(hex + 2 * len, "%2x", &byte) != 1)
			return "not hexadecimal";
		if (!byte)
			return "holds a NUL byte";
		out[len] = (char)byte;
	}
	out[len] = '\0';
	return NULL;
}

/* text_read into a heap copy no longer than the text, `limit` bytes at most with its NUL. */
static const char *text_dup(const json_t *json, size_t limit, char **copy)
{
	char *text = malloc(limit);
	const char *problem = text ? text_read(json, text, limit) : "out of memory";

	if (!problem && !(*copy = strdup(text)))
		problem = "out of memory";
	free(text);
	return problem;
}

static json_t *ip_json(struct in_addr ip)
{
	char text[INET_ADDRSTRLEN];

	return json_string(inet_ntop(AF_INET, &ip, text, sizeof(text)));
}

static uint64_t uint_at(const void *at, size_t size)
{
	switch (size) {
	case 1:
		return *(const uint8_t *)at;
	case 2:
		return *(const uint16_t *)at;
	case 4:
		return *(const uint32_t *)at;
	default:
		return *(const uint64_t *)at;
	}
}

/* Keeps the low `size` bytes, as a cast to the member's type does. */
static void uint_set(void *at, size_t size, uint64_t value)
{
	switch (size) {
	case 1:
		*(uint8_t *)at = (uint8_t)value;
		break;
	case 2:
		*(uint16_t *)at = (uint16_t)value;
		break;
	case 4:
		*(uint32_t *)at = (uint32_t)value;
		break;
	default:
		*(uint64_t *)at = value;
	}
}

static json_t *value_json(const struct json_field *f, const char *at);

static json_t *array_json(const struct json_field *f, const char *at)
{
	struct json_field one = *f;
	json_t *array = json_array();

	one.count = 0;
	for (unsigned i = 0; array && i < f->count; i++)
		if (json_array_append_new(array, value_json(f->element ? f->element : &one, at + i * f->stride))) {
			json_decref(array);
			return NULL;
		}
	return array;
}

static json_t *tuple_json(const struct json_field *fields, const char *at)
{
	json_t *array = json_array();

	for (const struct json_field *f = fields; array && f->key; f++)
		if (json_array_append_new(array, value_json(f, at + f->offset))) {
			json_decref(array);
			return NULL;
		}
	return array;
}

/* The value at `at` (the field's offset already added). */
static json_t *value_json(const struct json_field *f, const char *at)
{
	if (f->count)
		return array_json(f, at);
	switch (f->kind) {
	case JSON_FIELD_BOOL:
		return json_boolean(*(const bool *)at);
	case JSON_FIELD_UINT:
		/* a 64-bit value past INT64_MAX goes negative and reads back the same */
		return json_integer((json_int_t)uint_at(at, f->size));
	case JSON_FIELD_TIME:
	case JSON_FIELD_REAL:
		return json_real(*(const double *)at);
	case JSON_FIELD_IPV4:
		return ip_json(*(const struct in_addr *)at);
	case JSON_FIELD_TEXT:
		return text_json(at);
	case JSON_FIELD_TEXT_COPY:
		return text_json(*(char *const *)at);
	case JSON_FIELD_OBJECT:
		return json_fields_write(f->fields, at);
	case JSON_FIELD_TUPLE:
		return tuple_json(f->fields, at);
	}
	return NULL;
}

json_t *json_fields_write(const struct json_field *fields, const void *object)
{
	json_t *json = json_object();

	for (const struct json_field *f = fields; json && f->key; f++)
		if (json_object_set_new(json, f->key, value_json(f, (const char *)object + f->offset))) {
			json_decref(json);
			return NULL;
		}
	return json;
}

int json_fields_reject(struct json_fields_error *err, const char *field, const json_t *value, const char *problem)
{
	char *text = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	size_t room = sizeof(err->value);

	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->value, room, "%s", text ? text : "");
	if (text && strlen(text) >= room)
		memcpy(err->value + room - 4, "...", 4);
	err->problem = problem;
	free(text);
	return -1;
}

void json_fields_error_within(struct json_fields_error *err, const char *fmt, ...)
{
	char outer[64];
	size_t outer_len, inner_len = strlen(err->field), room = sizeof(err->field) - 1;
	bool dot = inner_len && err->field[0] != '[';
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(outer, sizeof(outer), fmt, ap);
	va_end(ap);
	outer_len = strlen(outer) + dot;
	if (outer_len + inner_len > room)
		inner_len = room - outer_len;
	memmove(err->field + outer_len, err->field, inner_len);
	err->field[outer_len + inner_len] = '\0';
	memcpy(err->field, outer, outer_len - dot);
	if (dot)
		err->field[outer_len - 1] = '.';
}

/* 9999-12-31T23:59:59Z: later times would overflow what is computed from them. */
#define LATEST_TIME 253402300799.0

static bool uint_fits(const struct json_field *f, json_int_t value)
{
	uint64_t limit = f->size < sizeof(uint64_t) ? (1ULL << (8 * f->size)) - 1 : UINT64_MAX;

	if (f->max)
		limit = f->max;
	if (value < 0)
		return limit == UINT64_MAX; /* written past INT64_MAX */
	return (uint64_t)value <= limit;
}

static int value_read(const struct json_field *f, const json_t *json, char *at, struct json_fields_error *err);

static int array_read(const struct json_field *f, const json_t *json, char *at, struct json_fields_error *err)
{
	struct json_field one = *f;

	if (!json_is_array(json))
		return json_fields_reject(err, "", json, "not an array");
	if (json_array_size(json) != f->count)
		return json_fields_reject(err, "", json, "an array of another length");
	one.count = 0;
	for (unsigned i = 0; i < f->count; i++)
		if (value_read(f->element ? f->element : &one, json_array_get(json, i), at + i * f->stride, err)) {
			json_fields_error_within(err, "[%u]", i);
			return -1;
		}
	return 0;
}

static int tuple_read(const struct json_field *fields, const json_t *json, char *at, struct json_fields_error *err)
{
	size_t i = 0;

	while (fields[i].key)
		i++;
	if (!json_is_array(json) || json_array_size(json) != i)
		return json_fields_reject(err, "", json, "not an array of its fields");
	for (i = 0; fields[i].key; i++)
		if (value_read(&fields[i], json_array_get(json, i), at + fields[i].offset, err)) {
			json_fields_error_within(err, "[%zu]", i);
			return -1;
		}
	return 0;
}

static int value_read(const struct json_field *f, const json_t *json, char *at, struct json_fields_error *err)
{
	const char *problem = NULL;

	if (f->count)
		return array_read(f, json, at, err);
	switch (f->kind) {
	case JSON_FIELD_BOOL:
		if (!json_is_boolean(json))
			problem = "not a boolean";
		else
			*(bool *)at = json_is_true(json);
		break;
	case JSON_FIELD_UINT:
		if (!json_is_integer(json))
			problem = "not an integer";
		else if (!uint_fits(f, json_integer_value(json)))
			problem = "out of range";
		else
			uint_set(at, f->size, (uint64_t)json_integer_value(json));
		break;
	case JSON_FIELD_TIME:
		if (!json_is_number(json))
			problem = "not a number";
		else if (!(json_number_value(json) >= 0 && json_number_value(json) <= LATEST_TIME))
			problem = "not a time between 1970 and 9999";
		else
			*(double *)at = json_number_value(json);
		break;
	case JSON_FIELD_REAL:
		if (!json_is_number(json))
			problem = "not a number";
		else if (!(json_number_value(json) >= 0 && isfinite(json_number_value(json))))
			problem = "negative or not finite";
		else
			*(double *)at = json_number_value(json);
		break;
	case JSON_FIELD_IPV4:
		if (!json_is_string(json) || inet_pton(AF_INET, json_string_value(json), at) != 1)
			problem = "not an IPv4 address";
		break;
	case JSON_FIELD_TEXT:
		problem = text_read(json, at, f->size);
		break;
	case JSON_FIELD_TEXT_COPY:
		problem = text_dup(json, f->size, (char **)at);
		break;
	case JSON_FIELD_OBJECT:
		return json_fields_read(f->fields, json, at, err);
	case JSON_FIELD_TUPLE:
		return tuple_read(f->fields, json, at, err);
	}
	return problem ? json_fields_reject(err, "", json, problem) : 0;
}

int json_fields_read(const struct json_field *fields, const json_t *json, void *object,
		     struct json_fields_error *err)
{
	if (!json_is_object(json))
		return json_fields_reject(err, "", json, "not an object");
	for (const struct json_field *f = fields; f->key; f++) {
		const json_t *value = json_object_get(json, f->key);

		if (!value ? json_fields_reject(err, "", NULL, "missing")
			   : value_read(f, value, (char *)object + f->offset, err)) {
			json_fields_error_within(err, "%s", f->key);
			return -1;
		}
	}
	return 0;
}
