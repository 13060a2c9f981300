/* Struct fields to JSON and back (json_fields.h). */
#include <arpa/inet.h>
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

static void text_read(const json_t *json, char *out, size_t size)
{
	const char *hex = json_string_value(json_object_get(json, "hex"));
	size_t i = 0;

	if (json_is_string(json)) {
		snprintf(out, size, "%s", json_string_value(json));
		return;
	}
	for (unsigned byte; hex && hex[2 * i] && i + 1 < size && sscanf(hex + 2 * i, "%2x", &byte) == 1; i++)
		out[i] = (char)byte;
	out[i] = '\0';
}

/* text_read into a heap copy of at most `limit` bytes with its NUL, no longer than the text. */
static char *text_dup(const json_t *json, size_t limit)
{
	char *text = malloc(limit), *copy;

	if (!text)
		return NULL;
	text_read(json, text, limit);
	copy = strdup(text);
	free(text);
	return copy;
}

static json_t *ip_json(struct in_addr ip)
{
	char text[INET_ADDRSTRLEN];

	return json_string(inet_ntop(AF_INET, &ip, text, sizeof(text)));
}

static struct in_addr ip_read(const json_t *json)
{
	struct in_addr ip = { 0 };
	const char *text = json_string_value(json);

	if (text)
		inet_pton(AF_INET, text, &ip);
	return ip;
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

static int value_read(const struct json_field *f, const json_t *json, char *at);

static int array_read(const struct json_field *f, const json_t *json, char *at)
{
	struct json_field one = *f;

	one.count = 0;
	for (unsigned i = 0; i < f->count; i++)
		if (value_read(f->element ? f->element : &one, json_array_get(json, i), at + i * f->stride))
			return -1;
	return 0;
}

static int tuple_read(const struct json_field *fields, const json_t *json, char *at)
{
	size_t i = 0;

	for (const struct json_field *f = fields; f->key; f++, i++)
		if (value_read(f, json_array_get(json, i), at + f->offset))
			return -1;
	return 0;
}

static int value_read(const struct json_field *f, const json_t *json, char *at)
{
	if (f->count)
		return array_read(f, json, at);
	switch (f->kind) {
	case JSON_FIELD_BOOL:
		*(bool *)at = json_is_true(json);
		break;
	case JSON_FIELD_UINT:
		uint_set(at, f->size, (uint64_t)json_integer_value(json));
		break;
	case JSON_FIELD_REAL:
		*(double *)at = json_real_value(json);
		break;
	case JSON_FIELD_IPV4:
		*(struct in_addr *)at = ip_read(json);
		break;
	case JSON_FIELD_TEXT:
		text_read(json, at, f->size);
		break;
	case JSON_FIELD_TEXT_COPY:
		*(char **)at = text_dup(json, f->size);
		return *(char **)at ? 0 : -1;
	case JSON_FIELD_OBJECT:
		return json_fields_read(f->fields, json, at);
	case JSON_FIELD_TUPLE:
		return tuple_read(f->fields, json, at);
	}
	return 0;
}

int json_fields_read(const struct json_field *fields, const json_t *json, void *object)
{
	for (const struct json_field *f = fields; f->key; f++)
		if (value_read(f, json_object_get(json, f->key), (char *)object + f->offset))
			return -1;
	return 0;
}
