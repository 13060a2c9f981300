/* RADIUS accounting through radcli (doc/accounting.md §4): one Accounting-Request
 * per record to the servers of the radiusclient-style [Radius] config_file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <radcli/radcli.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "acct_backend.h"
#include "acct_radius.h"
#include "log.h"

/* ---- the record: statistics JSON -> attributes (doc/accounting.md §4.2) ---------------------- */

/* A count or a time of the statistics: 0 when it is not a number or below
 * 0, at most INT64_MAX (a relay's JSON may hold 1e300).
 */
static json_int_t number(const json_t *v)
{
	double real = json_real_value(v);

	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
	return real <= 0 ? 0 : real < (double)INT64_MAX ? (json_int_t)real : INT64_MAX;
}

/* The sum of two number()s, at most INT64_MAX. */
static json_int_t saturated_sum(json_int_t a, json_int_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

static uint32_t clamp32(json_int_t v)
{
	return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static const char *text(const json_t *object, const char *key)
{
	return json_string_value(json_object_get(object, key));
}

/* Appends `s` to a value, cutting it at RADIUS_STRING_MAX bytes. */
static void append(char *value, const char *s)
{
	size_t used = strlen(value);

	snprintf(value + used, RADIUS_STRING_MAX + 1 - used, "%s", s ? s : "");
}

/* A value cut at the limit may end inside a UTF-8 character: drop the
 * part, so that the server gets valid text (the original cut characters,
 * then sent more than 253 bytes when they were not ASCII).
 */
static void cut_partial_character(char *value)
{
	size_t n = strlen(value), lead = n;

	if (n < RADIUS_STRING_MAX)
		return;
	while (lead > 0 && ((unsigned char)value[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead-- == 0 || (unsigned char)value[lead] < 0xC0)
		return;
	if (n - lead < ((unsigned char)value[lead] >= 0xF0 ? 4u : (unsigned char)value[lead] >= 0xE0 ? 3u : 2u))
		value[lead] = '\0';
}

static struct radius_attr *add(struct radius_attr *attrs, int *n, enum radius_attr_id id, enum radius_type type,
			       uint32_t value)
{
	struct radius_attr *a = &attrs[(*n)++];

	*a = (struct radius_attr){ .id = id, .type = type, .number = value };
	return a;
}

static void add_string(struct radius_attr *attrs, int *n, enum radius_attr_id id, const char *value)
{
	append(add(attrs, n, id, RADIUS_STRING, 0)->string, value);
}

/* Octets and, when the sum needs more than 32 bits, the gigawords. */
static void add_octets(struct radius_attr *attrs, int *n, enum radius_attr_id octets, enum radius_attr_id gigawords,
		       json_int_t total)
{
	uint64_t bytes = (uint64_t)total;

	add(attrs, n, octets, RADIUS_INTEGER, (uint32_t)bytes);
	if (bytes >> 32)
		add(attrs, n, gigawords, RADIUS_INTEGER, clamp32((json_int_t)(bytes >> 32)));
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct media types of the streams that lasted, sorted. */
static void applications(const json_t *streams, char *value)
{
	size_t count = json_array_size(streams), used = 0, i;
	const char **types = calloc(count, sizeof(*types));
	json_t *s;

	if (!types)
		return;
	json_array_foreach(streams, i, s)
		if (text(s, "media_type") && number(json_object_get(s, "start_time")) != number(json_object_get(s, "end_time")))
			types[used++] = text(s, "media_type");
	qsort(types, used, sizeof(*types), by_text);
	for (i = 0; i < used; i++)
		if (!i || strcmp(types[i], types[i - 1])) {
			append(value, i ? ", " : "");
			append(value, types[i]);
		}
	free(types);
}

int radius_record(const char *info, struct radius_attr attrs[RADIUS_RECORD_MAX], char *why, size_t why_len)
{
	json_t *root = json_loads(info, 0, NULL), *streams = json_object_get(root, "streams"), *s;
	json_int_t caller_bytes = 0, callee_bytes = 0;
	const char *username = text(root, "username"), *relay;
	char ip[INET_ADDRSTRLEN];
	struct in_addr nas_ip;
	struct radius_attr *a;
	int n = 0;
	size_t i;

	if (!json_is_object(root) || !text(root, "call_id")) {
		snprintf(why, why_len, "the statistics are not a JSON object with a call_id");
		goto fail;
	}
	relay = text(json_array_get(streams, 0), "caller_local");
	if (!relay) {
		snprintf(why, why_len, "no streams, so no relay address for NAS-IP-Address");
		goto fail;
	}
	snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(relay, ":"), relay);
	if (strcspn(relay, ":") >= sizeof(ip) || inet_pton(AF_INET, ip, &nas_ip) != 1) {
		snprintf(why, why_len, "the first stream's caller_local %s is not an IPv4 address:port", relay);
		goto fail;
	}
	json_array_foreach(streams, i, s) {
		caller_bytes = saturated_sum(caller_bytes, number(json_object_get(s, "caller_bytes")));
		callee_bytes = saturated_sum(callee_bytes, number(json_object_get(s, "callee_bytes")));
	}

	/* Empty values (a null to_tag, the Media-Info of a normal end) go as
	 * zero-length attributes, as the original sent them; FreeRADIUS reads
	 * those as absent.  An empty username counts as none.
	 */
	add(attrs, &n, RADIUS_ACCT_STATUS_TYPE, RADIUS_INTEGER, RADIUS_STATUS_UPDATE);
	add_string(attrs, &n, RADIUS_USER_NAME, username && *username ? username : "mediaproxy@default");
	add_string(attrs, &n, RADIUS_ACCT_SESSION_ID, text(root, "call_id"));
	add(attrs, &n, RADIUS_ACCT_SESSION_TIME, RADIUS_INTEGER, clamp32(number(json_object_get(root, "duration"))));
	add_octets(attrs, &n, RADIUS_ACCT_INPUT_OCTETS, RADIUS_ACCT_INPUT_GIGAWORDS, caller_bytes);
	add_octets(attrs, &n, RADIUS_ACCT_OUTPUT_OCTETS, RADIUS_ACCT_OUTPUT_GIGAWORDS, callee_bytes);
	add_string(attrs, &n, RADIUS_SIP_FROM_TAG, text(root, "from_tag"));
	add_string(attrs, &n, RADIUS_SIP_TO_TAG, text(root, "to_tag"));
	add(attrs, &n, RADIUS_NAS_IP_ADDRESS, RADIUS_IPADDR, ntohl(nas_ip.s_addr));

	a = add(attrs, &n, RADIUS_SIP_USER_AGENTS, RADIUS_STRING, 0);
	append(a->string, text(root, "caller_ua"));
	append(a->string, "+");
	append(a->string, text(root, "callee_ua"));
	applications(streams, add(attrs, &n, RADIUS_SIP_APPLICATIONS, RADIUS_STRING, 0)->string);
	a = add(attrs, &n, RADIUS_MEDIA_CODECS, RADIUS_STRING, 0);
	json_array_foreach(streams, i, s) {
		append(a->string, i ? ", " : "");
		append(a->string, text(s, "caller_codec"));
	}
	add_string(attrs, &n, RADIUS_MEDIA_INFO,
		   json_is_true(json_object_get(root, "all_streams_ice")) ? "ICE session"
		   : json_is_true(json_object_get(root, "timed_out"))   ? "timeout"
									: "");
	json_array_foreach(streams, i, s) {
		json_t *pdd = json_object_get(s, "post_dial_delay");

		if (json_is_number(pdd)) {
			add(attrs, &n, RADIUS_ACCT_DELAY_TIME, RADIUS_INTEGER, clamp32(number(pdd)));
			break;
		}
	}
	for (i = 0; i < (size_t)n; i++)
		if (attrs[i].type == RADIUS_STRING)
			cut_partial_character(attrs[i].string);
	json_decref(root);
	return n;
fail:
	json_decref(root);
	return -1;
}

/* ---- the backend -------------------------------------------------------------- */

/* Every attribute a record may hold: radcli sends only what its dictionaries
 * define, with the type they give.
 */
static const struct {
	enum radius_attr_id id;
	int type; /* radcli's PW_TYPE_* */
	const char *name;
} sent[] = {
	{ RADIUS_ACCT_STATUS_TYPE, PW_TYPE_INTEGER, "Acct-Status-Type" },
	{ RADIUS_USER_NAME, PW_TYPE_STRING, "User-Name" },
	{ RADIUS_ACCT_SESSION_ID, PW_TYPE_STRING, "Acct-Session-Id" },
	{ RADIUS_ACCT_SESSION_TIME, PW_TYPE_INTEGER, "Acct-Session-Time" },
	{ RADIUS_ACCT_INPUT_OCTETS, PW_TYPE_INTEGER, "Acct-Input-Octets" },
	{ RADIUS_ACCT_INPUT_GIGAWORDS, PW_TYPE_INTEGER, "Acct-Input-Gigawords" },
	{ RADIUS_ACCT_OUTPUT_OCTETS, PW_TYPE_INTEGER, "Acct-Output-Octets" },
	{ RADIUS_ACCT_OUTPUT_GIGAWORDS, PW_TYPE_INTEGER, "Acct-Output-Gigawords" },
	{ RADIUS_SIP_FROM_TAG, PW_TYPE_STRING, "Sip-From-Tag" },
	{ RADIUS_SIP_TO_TAG, PW_TYPE_STRING, "Sip-To-Tag" },
	{ RADIUS_NAS_IP_ADDRESS, PW_TYPE_IPADDR, "NAS-IP-Address" },
	{ RADIUS_SIP_USER_AGENTS, PW_TYPE_STRING, "Sip-User-Agents" },
	{ RADIUS_SIP_APPLICATIONS, PW_TYPE_STRING, "Sip-Applications" },
	{ RADIUS_MEDIA_CODECS, PW_TYPE_STRING, "Media-Codecs" },
	{ RADIUS_MEDIA_INFO, PW_TYPE_STRING, "Media-Info" },
	{ RADIUS_ACCT_DELAY_TIME, PW_TYPE_INTEGER, "Acct-Delay-Time" },
};

struct radius {
	rc_handle *rh;
	char config_file[PATH_MAX];
	bool defined[256]; /* by attribute number: in a dictionary, with the type we send */
};

/* A file named by a relative path is the local directory's, else the system
 * directory's (doc/config.md §1); false when neither has it, with the places
 * looked at in `tried`.
 */
static bool find_file(const struct mp_config *cfg, const char *name, char *path, char *tried, size_t len)
{
	const char *dirs[] = { cfg->local_dir, MP_SYSTEM_CONFIG_DIR };

	snprintf(path, len, "%s", name);
	snprintf(tried, len, "%s", name);
	if (name[0] == '/')
		return access(path, F_OK) == 0;
	tried[0] = '\0';
	for (size_t i = 0; i < 2; i++) {
		if (!*dirs[i])
			continue;
		snprintf(path, len, "%s/%s", dirs[i], name);
		if (access(path, F_OK) == 0)
			return true;
		snprintf(tried + strlen(tried), len - strlen(tried), "%s%s", *tried ? " and " : "", path);
	}
	return false;
}

/* Checks the servers of an acctserver or authserver line as radcli will
 * read them: split at commas and blanks, each "host[:port[:secret]]" or
 * "[IPv6][:port[:secret]]".  radcli takes the port with atoi() (so
 * "host:radius" would be port 0) and keeps at most SERVER_MAX servers per
 * option, over all its lines: it writes past its arrays for more.
 * `count` adds up the servers of the option's lines.  0, or -1 with why.
 */
static int check_servers(const char *value, int *count, char *why, size_t why_len)
{
	char copy[1024], *save, *server;

	snprintf(copy, sizeof(copy), "%s", value);
	for (server = strtok_r(copy, ", \t", &save); server; server = strtok_r(NULL, ", \t", &save)) {
		const char *port = strchr(server, '[') ? strchr(server, ']') : strchr(server, ':');
		size_t len;

		if (strchr(server, '[') && !port)
			return snprintf(why, why_len, "'%s' has no ']'", server), -1;
		if (++*count > SERVER_MAX)
			return snprintf(why, why_len, "more than %d servers", SERVER_MAX), -1;
		if (!port)
			continue; /* radcli's default port */
		port += port[0] == ']' && port[1] == ':' ? 2 : 1;
		len = strcspn(port, ":");
		if (len && (len > 5 || strspn(port, "0123456789") < len || !atoi(port) || atoi(port) > 65535))
			return snprintf(why, why_len, "the port of '%s' is not a number from 1 to 65535", server), -1;
	}
	return 0;
}

/* What radcli would misread in a value, before it gets it: servers
 * (check_servers) and an auth_order without a word (radcli takes the first
 * word of its value without looking: "," crashes it).  `servers` counts
 * the acctserver and authserver servers.  0, or -1 with why.
 */
static int check_value(const char *name, const char *value, int servers[2], char *why, size_t why_len)
{
	if (!strcmp(name, "acctserver") || !strcmp(name, "authserver"))
		return check_servers(value, &servers[!strcmp(name, "authserver")], why, why_len);
	if (!strcmp(name, "auth_order") && !value[strspn(value, ", \t")])
		return snprintf(why, why_len, "no word in '%s'", value), -1;
	return 0;
}

/* The radiusclient file, line by line into a new handle.  radcli's own
 * reader (rc_read_config) refuses a file without `authserver`, which a
 * file made for accounting lacks, and any key it does not know.  So each
 * "name value" line goes to rc_add_config (a key radcli does not know is
 * logged and skipped), and what radcli requires but accounting does not
 * use gets a default: authserver = the acctserver (never asked),
 * radius_timeout 10, radius_retries 3 (radiusclient's sample values),
 * dictionary radcli's own.  A value radcli would misread refuses the file.
 */
static rc_handle *read_client_conf(const char *path)
{
	static const struct {
		const char *name, *value;
	} defaults[] = {
		{ "authserver", NULL }, /* NULL: the acctserver's value */
		{ "radius_timeout", "10" },
		{ "radius_retries", "3" },
		{ "dictionary", "/etc/radcli/dictionary" },
	};
	bool given[sizeof(defaults) / sizeof(defaults[0])] = { false }, bad = false;
	char line[1024], acctserver[1024] = "", why[256];
	FILE *f = fopen(path, "r");
	rc_handle *rh;
	int number = 0, servers[2] = { 0, 0 }; /* acctserver, authserver */

	if (!f) {
		log_err("accounting: cannot read the [Radius] config_file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (!(rh = rc_new()) || !rc_config_init(rh)) { /* rc_config_init frees rh when it fails */
		fclose(f);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		char *save, *name = strtok_r(line, " \t\r\n", &save), *value = strtok_r(NULL, "\r\n", &save);
		size_t len;

		number++;
		if (!name || *name == '#' || !value || !*(value += strspn(value, " \t")))
			continue; /* a comment, or a key without a value (radcli's sample has `default_realm`) */
		for (len = strlen(value); len && strchr(" \t", value[len - 1]); len--)
			value[len - 1] = '\0';
		if (check_value(name, value, servers, why, sizeof(why))) {
			log_err("accounting: %s:%d: %s: %s", path, number, name, why);
			bad = true;
			break;
		}
		if (rc_add_config(rh, name, value, path, number)) {
			log_warn("accounting: %s:%d: %s: not an option radcli knows, or a bad value; ignored", path, number,
				 name);
			continue;
		}
		if (!strcmp(name, "acctserver"))
			snprintf(acctserver, sizeof(acctserver), "%s", value);
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			given[i] |= !strcmp(name, defaults[i].name);
	}
	fclose(f);
	if (bad)
		goto fail;
	if (!*acctserver) {
		log_err("accounting: %s names no acctserver", path);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		if (given[i])
			continue;
		if (!defaults[i].value)
			rc_add_config(rh, defaults[i].name, acctserver, "defaults", 0);
		else if (rc_add_config(rh, defaults[i].name, defaults[i].value, "defaults", 0) == 0)
			log_info("accounting: %s has no %s; taking %s", path, defaults[i].name, defaults[i].value);
	}
	if (rc_test_config(rh, path) || !rc_conf_srv(rh, "acctserver")->max) {
		log_err("accounting: radcli refuses %s (e.g. a timeout or retries not above 0, or a bad bindaddr)", path);
		goto fail;
	}
	return rh;
fail:
	rc_destroy(rh);
	return NULL;
}

/* Which attributes the dictionaries define as we send them; those they do
 * not are logged once and left out of the records.
 */
static void check_dictionary(struct radius *r)
{
	char missing[512] = "";

	for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
		DICT_ATTR *a = rc_dict_getattr(r->rh, (int)sent[i].id);

		r->defined[sent[i].id] = a && (int)a->type == sent[i].type;
		if (!r->defined[sent[i].id])
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s (%d)",
				 *missing ? ", " : "", sent[i].name, (int)sent[i].id);
	}
	if (*missing)
		log_warn("accounting: no RADIUS dictionary defines %s as MediaProxy sends them; the records go "
			 "without (see [Radius] additional_dictionary)",
			 missing);
}

static void *radius_open(const struct mp_config *cfg, bool *fatal)
{
	struct radius *r = calloc(1, sizeof(*r));
	char path[PATH_MAX], tried[PATH_MAX];
	const char *dictionary;

	*fatal = true;
	if (!r)
		return NULL;
	if (!find_file(cfg, cfg->radius.config_file, r->config_file, tried, sizeof(r->config_file))) {
		log_err("accounting: the [Radius] config_file %s does not exist (looked for %s)", cfg->radius.config_file,
			tried);
		goto fail;
	}
	if (!(r->rh = read_client_conf(r->config_file)))
		goto fail;
	dictionary = rc_conf_str(r->rh, "dictionary");
	if (rc_read_dictionary(r->rh, dictionary)) {
		log_err("accounting: cannot read the RADIUS dictionary %s named in %s", dictionary, r->config_file);
		goto fail;
	}
	if (!find_file(cfg, cfg->radius.additional_dictionary, path, tried, sizeof(path)))
		log_warn("accounting: the [Radius] additional_dictionary %s does not exist (looked for %s); going on "
			 "without it",
			 cfg->radius.additional_dictionary, tried);
	else if (rc_read_dictionary(r->rh, path))
		log_err("accounting: cannot read the RADIUS dictionary %s ([Radius] additional_dictionary); going on "
			"without what it did not define",
			path);
	check_dictionary(r);
	log_info("accounting: sessions go to RADIUS server %s:%u (%s)", rc_conf_srv(r->rh, "acctserver")->name[0],
		 (unsigned)rc_conf_srv(r->rh, "acctserver")->port[0], r->config_file);
	*fatal = false;
	return r;
fail:
	if (r->rh)
		rc_destroy(r->rh);
	free(r);
	return NULL;
}

/* Sends one request to each acctserver in turn until one answers. */
static int send_request(struct radius *r, VALUE_PAIR **pairs)
{
	SERVER *servers = rc_conf_srv(r->rh, "acctserver");
	int result = TIMEOUT_RC;

	for (int i = 0; i < servers->max && result == TIMEOUT_RC; i++) {
		SEND_DATA data = { .send_pairs = *pairs };

		rc_buildreq(r->rh, &data, PW_ACCOUNTING_REQUEST, servers->name[i], servers->port[i], servers->secret[i],
			    rc_conf_int(r->rh, "radius_timeout"), rc_conf_int(r->rh, "radius_retries"));
		result = rc_send_server(r->rh, &data, NULL, ACCT);
		*pairs = data.send_pairs; /* radcli may have added NAS-IP-Address or NAS-Identifier */
		rc_avpair_free(data.receive_pairs);
	}
	return result;
}

/* rc_acct would add an Acct-Delay-Time of its own and a NAS-Port, so the
 * request is built here and sent with rc_send_server.
 */
static enum acct_result radius_write(void *backend, const struct acct_record *record, bool quiet)
{
	struct radius *r = backend;
	struct radius_attr attrs[RADIUS_RECORD_MAX];
	VALUE_PAIR *pairs = NULL;
	char why[256];
	int n = radius_record(record->info, attrs, why, sizeof(why)), result;

	if (n < 0) {
		log_err("accounting: the record of %s cannot be sent to RADIUS: %s; dropped", record->call_id, why);
		return ACCT_REJECTED;
	}
	for (int i = 0; i < n; i++) {
		const void *value = attrs[i].type == RADIUS_STRING ? (const void *)attrs[i].string : &attrs[i].number;

		if (r->defined[attrs[i].id] && !rc_avpair_add(r->rh, &pairs, (int)attrs[i].id, value, -1, 0)) {
			log_err("accounting: radcli did not take attribute %d of the record of %s", (int)attrs[i].id,
				record->call_id);
			rc_avpair_free(pairs);
			return ACCT_RETRY;
		}
	}
	result = send_request(r, &pairs);
	rc_avpair_free(pairs);
	if (result == OK_RC)
		return ACCT_WRITTEN;
	if (!quiet && result == TIMEOUT_RC)
		log_err("accounting: no RADIUS server of %s answered for %s", r->config_file, record->call_id);
	else if (!quiet)
		log_err("accounting: sending the record of %s to RADIUS failed (radcli error %d: no secret for the "
			"server in the servers file, or a reply with a bad authenticator; radcli logs which to syslog)",
			record->call_id, result);
	return ACCT_RETRY;
}

static void radius_close(void *backend)
{
	struct radius *r = backend;

	rc_destroy(r->rh);
	free(r);
}

const struct acct_backend acct_radius = {
	.name = "radius",
	.open = radius_open,
	.write = radius_write,
	.close = radius_close,
};
