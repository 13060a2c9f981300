#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include "config_types.h"

#define REFUSE(...) (snprintf(why, why_len, __VA_ARGS__), -1)

/* Splits a list at commas and/or white space; calls `item` for each word. */
static int for_each_word(const char *text, int (*item)(const char *word, void *out, long arg, char *why,
						       size_t why_len),
			 void *out, long arg, char *why, size_t why_len)
{
	char buf[4096], *save = NULL;

	if (strlen(text) >= sizeof(buf))
		return REFUSE("the list is longer than %zu characters", sizeof(buf) - 1);
	strcpy(buf, text);
	for (char *word = strtok_r(buf, ", \t\n", &save); word; word = strtok_r(NULL, ", \t\n", &save))
		if (item(word, out, arg, why, why_len))
			return -1;
	return 0;
}

int mp_parse_string(const char *text, void *out, long size, char *why, size_t why_len)
{
	if (strlen(text) >= (size_t)size)
		return REFUSE("longer than %ld characters", size - 1);
	strcpy(out, text);
	return 0;
}

int mp_parse_path(const char *text, void *out, long size, char *why, size_t why_len)
{
	if (!*text)
		return REFUSE("a path is required");
	return mp_parse_string(text, out, size, why, why_len);
}

/* Table and column names go into SQL statements, so only plain identifiers. */
int mp_parse_identifier(const char *text, void *out, long size, char *why, size_t why_len)
{
	if (!isalpha((unsigned char)text[0]) && text[0] != '_')
		return REFUSE("a name must start with a letter or '_'");
	for (const char *p = text; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return REFUSE("a name may hold only letters, digits and '_'");
	return mp_parse_string(text, out, size, why, why_len);
}

/* Decimal, with an optional '+' and '_' between digits, as Python's int(). */
int mp_parse_mode(const char *text, void *out, long unused, char *why, size_t why_len)
{
	char *end;
	unsigned long mode;

	if (!*text || strspn(text, "01234567") != strlen(text))
		return REFUSE("not an octal file mode such as 0660");
	mode = strtoul(text, &end, 8);
	if (mode > 07777)
		return REFUSE("not an octal file mode such as 0660");
	*(unsigned *)out = (unsigned)mode;
	return 0;
}

int mp_parse_uint(const char *text, void *out, long min, char *why, size_t why_len)
{
	unsigned long long value = 0;
	const char *p = text;
	bool digit_before = false;

	if (*p == '+')
		p++;
	if (!*p)
		return REFUSE("not an integer");
	for (; *p; p++) {
		if (*p == '_' && digit_before && isdigit((unsigned char)p[1])) {
			digit_before = false;
			continue;
		}
		if (!isdigit((unsigned char)*p))
			return REFUSE(text[0] == '-' && min > 0 ? "must be a positive integer" :
				      text[0] == '-' ? "must not be negative" : "not an integer");
		value = value * 10 + (unsigned)(*p - '0');
		if (value > UINT_MAX)
			return REFUSE("larger than %u", UINT_MAX);
		digit_before = true;
	}
	if (value < (unsigned long long)min)
		return REFUSE(min == 1 ? "must be a positive integer" : "must be at least %ld", min);
	*(unsigned *)out = (unsigned)value;
	return 0;
}

int mp_parse_bool(const char *text, void *out, long unused, char *why, size_t why_len)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(text, yes[i]))
			return *(bool *)out = true, 0;
		if (!strcasecmp(text, no[i]))
			return *(bool *)out = false, 0;
	}
	return REFUSE("not a boolean (use yes/no, true/false, on/off or 1/0)");
}

/* Python logging names or numbers, stored as the matching syslog priority. */
int mp_parse_log_level(const char *text, void *out, long unused, char *why, size_t why_len)
{
	static const struct {
		const char *name;
		unsigned number;
		int priority;
	} levels[] = {
		{ "CRITICAL", 50, LOG_CRIT }, { "ERROR", 40, LOG_ERR }, { "WARNING", 30, LOG_WARNING },
		{ "INFO", 20, LOG_INFO },     { "DEBUG", 10, LOG_DEBUG },
	};
	unsigned number;
	char ignored[1];

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (!strcasecmp(text, levels[i].name))
			return *(int *)out = levels[i].priority, 0;
	if (mp_parse_uint(text, &number, 0, ignored, sizeof(ignored)))
		return REFUSE("not a log level (use CRITICAL, ERROR, WARNING, INFO, DEBUG or a number)");
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (number >= levels[i].number)
			return *(int *)out = levels[i].priority, 0;
	*(int *)out = LOG_DEBUG;
	return 0;
}

static bool valid_hostname(const char *host)
{
	if (!*host || strlen(host) > 253)
		return false;
	for (const char *p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			return false;
	return true;
}

/* host[:port]; "any" and "0.0.0.0" mean every interface, "default" the
 * default address and port.
 */
int mp_parse_endpoint(const char *text, void *out, long default_port, char *why, size_t why_len)
{
	struct mp_endpoint *ep = out;
	const char *colon = strchr(text, ':');
	size_t host_len = colon ? (size_t)(colon - text) : strlen(text);
	unsigned port = (unsigned)default_port;

	if (!strcasecmp(text, "default"))
		return snprintf(ep->host, sizeof(ep->host), "0.0.0.0"), ep->port = (uint16_t)default_port, 0;
	if (!strcasecmp(text, "none"))
		return REFUSE("'none' cannot be used: give an address, 'any' or 'default'");
	if (colon && strchr(colon + 1, ':'))
		return REFUSE("IPv6 addresses are not supported; use host[:port]");
	if (host_len == 0 || host_len >= sizeof(ep->host))
		return REFUSE("missing or too long host name; use host[:port]");
	if (colon) {
		char ignored[1];

		if (mp_parse_uint(colon + 1, &port, 1, ignored, sizeof(ignored)) || port > 65535)
			return REFUSE("'%s' is not a port number (1-65535)", colon + 1);
	}
	memcpy(ep->host, text, host_len);
	ep->host[host_len] = '\0';
	if (!valid_hostname(ep->host))
		return REFUSE("'%s' is not a valid IPv4 address or host name", ep->host);
	if (!strcasecmp(ep->host, "any"))
		snprintf(ep->host, sizeof(ep->host), "0.0.0.0");
	ep->port = (uint16_t)port;
	return 0;
}

int mp_parse_endpoint_or_none(const char *text, void *out, long default_port, char *why, size_t why_len)
{
	if (!*text || !strcasecmp(text, "none"))
		return *(struct mp_endpoint *)out = (struct mp_endpoint){ 0 }, 0;
	return mp_parse_endpoint(text, out, default_port, why, why_len);
}

static int add_endpoint(const char *word, void *out, long default_port, char *why, size_t why_len)
{
	struct mp_endpoint_list *list = out;

	if (list->count == MP_MAX_ENDPOINTS)
		return REFUSE("more than %d entries", MP_MAX_ENDPOINTS);
	return mp_parse_endpoint(word, &list->item[list->count++], default_port, why, why_len);
}

int mp_parse_endpoint_list(const char *text, void *out, long default_port, char *why, size_t why_len)
{
	struct mp_endpoint_list list = { 0 };

	if (for_each_word(text, add_endpoint, &list, default_port, why, why_len))
		return -1;
	*(struct mp_endpoint_list *)out = list;
	return 0;
}

/* "ATTR:value, ATTR:value" with "\," for a literal comma, or None. */
int mp_parse_passport(const char *text, void *out, long unused, char *why, size_t why_len)
{
	static const char *const attrs[] = { "O", "OU", "CN", "C", "L", "ST", "EMAIL" };
	struct mp_passport passport = { 0 };
	const char *p = text;

	if (!strcasecmp(text, "none"))
		return *(struct mp_passport *)out = passport, 0;
	while (*p) {
		char pair[512];
		size_t n = 0;
		char *colon;
		bool known = false;

		while (*p == ' ' || *p == '\t')
			p++;
		for (; *p && *p != ','; p++) {
			if (*p == '\\' && p[1] == ',')
				p++;
			if (n + 1 < sizeof(pair))
				pair[n++] = *p;
		}
		pair[n] = '\0';
		if (*p == ',')
			p++;
		colon = strchr(pair, ':');
		if (!colon || colon == pair || !colon[1])
			return REFUSE("'%s' is not ATTR:value (or None)", pair);
		*colon = '\0';
		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			known |= !strcmp(pair, attrs[i]);
		if (!known)
			return REFUSE("unknown attribute '%s' (use O, OU, CN, C, L, ST or EMAIL)", pair);
		if (passport.count == MP_MAX_PASSPORT_ITEMS)
			return REFUSE("more than %d attributes", MP_MAX_PASSPORT_ITEMS);
		if (strlen(colon + 1) >= sizeof(passport.item[0].value))
			return REFUSE("the %s value is too long", pair);
		strcpy(passport.item[passport.count].attr, pair); /* one of attrs[] */
		strcpy(passport.item[passport.count].value, colon + 1);
		passport.count++;
	}
	if (!passport.count)
		return REFUSE("empty; use None to disable the check");
	*(struct mp_passport *)out = passport;
	return 0;
}

int mp_parse_port_range(const char *text, void *out, long unused, char *why, size_t why_len)
{
	unsigned start, end;
	char tail;

	if (sscanf(text, "%u:%u%c", &start, &end, &tail) != 2)
		return REFUSE("not start:end");
	if (start % 2 || end % 2)
		return REFUSE("both ends must be even");
	if (start < 1024 || end > 65536)
		return REFUSE("ports must lie within 1024:65536");
	if (start >= end)
		return REFUSE("start must be below end");
	*(struct mp_port_range *)out = (struct mp_port_range){ start, end };
	return 0;
}

/* An IPv4 address, or empty for "not set". */
int mp_parse_ipv4_optional(const char *text, void *out, long unused, char *why, size_t why_len)
{
	struct in_addr addr = { 0 };

	if (*text && inet_pton(AF_INET, text, &addr) != 1)
		return REFUSE("'%s' is not an IPv4 address", text);
	*(struct in_addr *)out = addr;
	return 0;
}

static int add_cidr(const char *word, void *out, long unused, char *why, size_t why_len)
{
	struct mp_cidr_list *list = out;
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(word, '/');
	size_t addr_len = slash ? (size_t)(slash - word) : strlen(word);
	unsigned prefix = 32;
	struct in_addr net;

	if (list->count == MP_MAX_CIDRS)
		return REFUSE("more than %d networks", MP_MAX_CIDRS);
	if (addr_len >= sizeof(addr))
		return REFUSE("'%s' is not address/prefix", word);
	memcpy(addr, word, addr_len);
	addr[addr_len] = '\0';
	if (inet_pton(AF_INET, addr, &net) != 1)
		return REFUSE("'%s' is not an IPv4 network", word);
	if (slash) {
		char ignored[1];

		if (mp_parse_uint(slash + 1, &prefix, 0, ignored, sizeof(ignored)) || prefix > 32)
			return REFUSE("'%s' has a bad prefix length (0-32)", word);
	}
	if (prefix < 32 && (ntohl(net.s_addr) & (0xffffffffu >> prefix)))
		return REFUSE("'%s' has host bits set", word);
	list->item[list->count].net = net;
	list->item[list->count].prefix = prefix;
	list->count++;
	return 0;
}

int mp_parse_cidr_list(const char *text, void *out, long unused, char *why, size_t why_len)
{
	struct mp_cidr_list list = { 0 };

	if (for_each_word(text, add_cidr, &list, 0, why, why_len))
		return -1;
	*(struct mp_cidr_list *)out = list;
	return 0;
}

int mp_parse_forwarding(const char *text, void *out, long unused, char *why, size_t why_len)
{
	static const char *const names[] = { [MP_FORWARDING_AUTO] = "auto", [MP_FORWARDING_XDP] = "xdp",
					      [MP_FORWARDING_TC] = "tc", [MP_FORWARDING_CONNTRACK] = "conntrack",
					      [MP_FORWARDING_USERSPACE] = "userspace" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(text, names[i]))
			return *(enum mp_forwarding *)out = (enum mp_forwarding)i, 0;
	return REFUSE("unknown forwarding tier '%s' (use auto, xdp, tc, conntrack or userspace)", text);
}

int mp_parse_tls_mode(const char *text, void *out, long unused, char *why, size_t why_len)
{
	bool on;

	if (!strcasecmp(text, "auto"))
		return *(enum mp_tls_mode *)out = MP_TLS_AUTO, 0;
	if (mp_parse_bool(text, &on, 0, why, why_len))
		return REFUSE("use auto, or a boolean (yes/no, true/false, on/off, 1/0)");
	*(enum mp_tls_mode *)out = on ? MP_TLS_ON : MP_TLS_OFF;
	return 0;
}

static int add_backend(const char *word, void *out, long unused, char *why, size_t why_len)
{
	unsigned *backends = out;

	if (!strcmp(word, "database"))
		*backends |= MP_ACCOUNTING_DATABASE;
	else if (!strcmp(word, "radius"))
		*backends |= MP_ACCOUNTING_RADIUS;
	else if (strcmp(word, "none"))
		return REFUSE("unknown accounting backend '%s' (use database, radius or none)", word);
	return 0;
}

int mp_parse_accounting(const char *text, void *out, long unused, char *why, size_t why_len)
{
	unsigned backends = 0;

	if (for_each_word(text, add_backend, &backends, 0, why, why_len))
		return -1;
	*(unsigned *)out = backends;
	return 0;
}

/* scheme://... with a backend we support; empty means "not set". */
int mp_parse_dburi(const char *text, void *out, long size, char *why, size_t why_len)
{
	static const char *const schemes[] = { "sqlite", "postgresql", "postgres", "mysql" };
	const char *sep = strstr(text, "://");

	if (*text) {
		bool known = false;

		if (!sep)
			return REFUSE("not scheme://user:password@host[:port]/database");
		for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
			known |= strlen(schemes[i]) == (size_t)(sep - text) && !strncmp(text, schemes[i], sep - text);
		if (!known)
			return REFUSE("unsupported database '%.*s' (use sqlite, postgresql or mysql)", (int)(sep - text),
				      text);
		if (!sep[3])
			return REFUSE("nothing after '%.*s'", (int)(sep - text) + 3, text);
	}
	return mp_parse_string(text, out, size, why, why_len);
}
