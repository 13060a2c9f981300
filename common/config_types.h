/* Kinds of config.ini values and their parsers.  Every parser takes the text
 * of a value, writes the parsed value to `out` and returns 0, or returns -1
 * and writes why the text is not acceptable to `why`.
 */
#ifndef MP_CONFIG_TYPES_H
#define MP_CONFIG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define MP_MAX_ENDPOINTS 16
#define MP_MAX_CIDRS 32
#define MP_MAX_PASSPORT_ITEMS 8

struct mp_endpoint {
	char host[256];
	uint16_t port;
};

struct mp_endpoint_list {
	unsigned count;
	struct mp_endpoint item[MP_MAX_ENDPOINTS];
};

/* Certificate subject checks; count == 0 means None (no check). */
struct mp_passport {
	unsigned count;
	struct {
		char attr[8];
		char value[256];
	} item[MP_MAX_PASSPORT_ITEMS];
};

struct mp_port_range {
	unsigned start, end; /* even ports, pairs start..end-1 */
};

struct mp_cidr_list {
	unsigned count;
	struct {
		struct in_addr net;
		unsigned prefix;
	} item[MP_MAX_CIDRS];
};

/* [Relay] forwarding: which forwarding tier to use; auto takes the best that works. */
enum mp_forwarding {
	MP_FORWARDING_AUTO,
	MP_FORWARDING_XDP, /* native XDP, else generic XDP */
	MP_FORWARDING_TC,
	MP_FORWARDING_CONNTRACK, /* kernel conntrack NAT entries, no BPF */
	MP_FORWARDING_USERSPACE, /* the agent relays every packet itself */
};

/* [Dispatcher] http_use_tls */
enum mp_tls_mode {
	MP_TLS_AUTO, /* plain on a loopback address, TLS on any other */
	MP_TLS_ON,
	MP_TLS_OFF,
};

enum mp_accounting {
	MP_ACCOUNTING_DATABASE = 1 << 0,
	MP_ACCOUNTING_RADIUS = 1 << 1,
};

/* `arg` is per kind: a buffer size for strings, a minimum for integers,
 * the default port for endpoints.
 */
typedef int (*mp_value_parser)(const char *text, void *out, long arg, char *why, size_t why_len);

int mp_parse_string(const char *text, void *out, long size, char *why, size_t why_len);
int mp_parse_path(const char *text, void *out, long size, char *why, size_t why_len);
int mp_parse_identifier(const char *text, void *out, long size, char *why, size_t why_len);
/* A file mode in octal, e.g. 0660. */
int mp_parse_mode(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_uint(const char *text, void *out, long min, char *why, size_t why_len);
int mp_parse_bool(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_log_level(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_endpoint(const char *text, void *out, long default_port, char *why, size_t why_len);
/* host[:port], or empty or "none" for no listener at all (host ""). */
int mp_parse_endpoint_or_none(const char *text, void *out, long default_port, char *why, size_t why_len);
int mp_parse_endpoint_list(const char *text, void *out, long default_port, char *why, size_t why_len);
int mp_parse_passport(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_port_range(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_ipv4_optional(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_cidr_list(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_forwarding(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_tls_mode(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_accounting(const char *text, void *out, long unused, char *why, size_t why_len);
int mp_parse_dburi(const char *text, void *out, long size, char *why, size_t why_len);

#endif
