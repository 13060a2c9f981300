#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "log.h"

#define FIELD(s, f) offsetof(struct mp_config, s.f)
#define SIZE(s, f) ((long)sizeof(((struct mp_config *)0)->s.f))
#define STR(s, f) mp_parse_string, FIELD(s, f), SIZE(s, f)
#define PATH(s, f) mp_parse_path, FIELD(s, f), SIZE(s, f)
#define NAME(s, f) mp_parse_identifier, FIELD(s, f), SIZE(s, f)
#define UINT(s, f, min) mp_parse_uint, FIELD(s, f), min
#define OF(parser, s, f, arg) parser, FIELD(s, f), arg

struct mp_section {
	const char *name;
	unsigned readers; /* enum mp_program bits */
	bool unsupported; /* accepted and ignored with a warning */
};

static const struct mp_section sections[] = {
	{ "Dispatcher", MP_DISPATCHER },
	{ "TLS", MP_DISPATCHER | MP_RELAY },
	{ "Database", MP_DISPATCHER },
	{ "Radius", MP_DISPATCHER },
	{ "OpenSIPS", MP_DISPATCHER },
	{ "Kamailio", MP_DISPATCHER },
	{ "Relay", MP_RELAY },
	{ "ThorNetwork", MP_RELAY, .unsupported = true },
};

struct mp_option {
	const char *section;
	const char *name;
	mp_value_parser parse;
	size_t offset;
	long arg;
	const char *default_value;
};

static const struct mp_option options[] = {
	{ "Dispatcher", "socket_path", PATH(dispatcher, socket_path), "dispatcher.sock" },
	{ "Dispatcher", "socket_owner", STR(dispatcher, socket_owner), "" },
	{ "Dispatcher", "socket_group", STR(dispatcher, socket_group), "" },
	{ "Dispatcher", "socket_mode", OF(mp_parse_mode, dispatcher, socket_mode, 0), "0666" },
	{ "Dispatcher", "listen", OF(mp_parse_endpoint, dispatcher, listen, 25060), "0.0.0.0:25060" },
	{ "Dispatcher", "listen_management", OF(mp_parse_endpoint, dispatcher, listen_management, 25061),
	  "0.0.0.0:25061" },
	{ "Dispatcher", "management_use_tls", OF(mp_parse_bool, dispatcher, management_use_tls, 0), "yes" },
	{ "Dispatcher", "passport", OF(mp_parse_passport, dispatcher, passport, 0), "None" },
	{ "Dispatcher", "management_passport", OF(mp_parse_passport, dispatcher, management_passport, 0), "None" },
	/* ours: the HTTP interface (doc/management.md §8) */
	{ "Dispatcher", "listen_http", OF(mp_parse_endpoint_or_none, dispatcher, listen_http, 25080), "127.0.0.1:25080" },
	{ "Dispatcher", "http_use_tls", OF(mp_parse_tls_mode, dispatcher, http_use_tls, 0), "auto" },
	{ "Dispatcher", "http_passport", OF(mp_parse_passport, dispatcher, http_passport, 0), "None" },
	{ "Dispatcher", "http_max_connections", UINT(dispatcher, http_max_connections, 1), "32" },
	{ "Dispatcher", "log_level", OF(mp_parse_log_level, dispatcher, log_level, 0), "INFO" },
	{ "Dispatcher", "relay_timeout", UINT(dispatcher, relay_timeout, 1), "5" },
	{ "Dispatcher", "accounting", OF(mp_parse_accounting, dispatcher, accounting, 0), "" },
	{ "Dispatcher", "relay_recover_interval", UINT(dispatcher, relay_recover_interval, 1), "60" },
	{ "Dispatcher", "cleanup_dead_relays_after", UINT(dispatcher, cleanup_dead_relays_after, 0), "43200" },
	{ "Dispatcher", "cleanup_expired_sessions_after", UINT(dispatcher, cleanup_expired_sessions_after, 0),
	  "86400" },

	{ "TLS", "certs_path", PATH(tls, certs_path), "tls" },
	{ "TLS", "verify_interval", UINT(tls, verify_interval, 1), "300" },

	{ "Database", "dburi", OF(mp_parse_dburi, database, dburi, SIZE(database, dburi)), "" },
	{ "Database", "sessions_table", NAME(database, sessions_table), "media_sessions" },
	{ "Database", "callid_column", NAME(database, callid_column), "call_id" },
	{ "Database", "fromtag_column", NAME(database, fromtag_column), "from_tag" },
	{ "Database", "totag_column", NAME(database, totag_column), "to_tag" },
	{ "Database", "info_column", NAME(database, info_column), "info" },
	/* ours: the seed's start_time column (doc/accounting.md §3.1) */
	{ "Database", "starttime_column", NAME(database, starttime_column), "start_time" },

	{ "Radius", "config_file", PATH(radius, config_file), "/etc/opensips/radius/client.conf" },
	{ "Radius", "additional_dictionary", PATH(radius, additional_dictionary), "radius/dictionary" },

	{ "OpenSIPS", "socket_path", PATH(opensips, socket_path), "/run/opensips/socket" },
	{ "OpenSIPS", "location_table", NAME(opensips, location_table), "location" },
	/* ours: Kamailio's jsonrpcs datagram socket, for dlg.end_dlg */
	{ "Kamailio", "socket_path", PATH(kamailio, socket_path), "/run/kamailio/kamailio_rpc.sock" },

	{ "Relay", "dispatchers", OF(mp_parse_endpoint_list, relay, dispatchers, 25060), "" },
	{ "Relay", "passport", OF(mp_parse_passport, relay, passport, 0), "None" },
	{ "Relay", "relay_ip", OF(mp_parse_ipv4_optional, relay, relay_ip, 0), "" },
	{ "Relay", "advertised_ip", OF(mp_parse_ipv4_optional, relay, advertised_ip, 0), "" },
	{ "Relay", "auto_detect_interfaces", OF(mp_parse_bool, relay, auto_detect_interfaces, 0), "no" },
	{ "Relay", "port_range", OF(mp_parse_port_range, relay, port_range, 0), "40000:60000" },
	{ "Relay", "log_level", OF(mp_parse_log_level, relay, log_level, 0), "INFO" },
	{ "Relay", "stream_timeout", UINT(relay, stream_timeout, 1), "90" },
	{ "Relay", "on_hold_timeout", UINT(relay, on_hold_timeout, 1), "7200" },
	{ "Relay", "dns_check_interval", UINT(relay, dns_check_interval, 1), "60" },
	{ "Relay", "keepalive_interval", UINT(relay, keepalive_interval, 1), "10" },
	{ "Relay", "reconnect_delay", UINT(relay, reconnect_delay, 1), "10" },
	{ "Relay", "traffic_sampling_period", UINT(relay, traffic_sampling_period, 0), "15" },
	{ "Relay", "userspace_transmit_every", UINT(relay, userspace_transmit_every, 1), "1" },
	{ "Relay", "routable_private_ranges", OF(mp_parse_cidr_list, relay, routable_private_ranges, 0), "" },
	/* ours, not the original's */
	{ "Relay", "forwarding", OF(mp_parse_forwarding, relay, forwarding, 0), "auto" },
	{ "Relay", "stream_idle_timeout", UINT(relay, stream_idle_timeout, 1), "120" },
	{ "Relay", "listen_http", OF(mp_parse_endpoint_or_none, relay, listen_http, 25081), "127.0.0.1:25081" },
	{ "Relay", "http_max_connections", UINT(relay, http_max_connections, 1), "32" },
	{ "Relay", "rtp_stats", OF(mp_parse_bool, relay, rtp_stats, 0), "yes" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))
#define MAX_VALUE 4096
#define MAX_SEEN 256

struct origin {
	const char *file; /* NULL: built-in default */
	int line;
};

/* One option as written, committed once its continuation lines are read. */
struct written_option {
	char section[64];
	char name[64];
	char value[MAX_VALUE];
	int line;
};

struct loader {
	struct mp_config *cfg;
	enum mp_program program;
	char *err;
	size_t err_len;
	bool failed;

	/* the file being read */
	const char *file;
	FILE *fp;
	int line;
	char raw[INI_MAX_LINE];
	bool have_pending;
	struct written_option pending;
	char seen[MAX_SEEN][130]; /* "section" and "section/option" keys of this file */
	int seen_line[MAX_SEEN];
	int n_seen;

	struct origin origin[N_OPTIONS];
	struct written_option defaults[N_OPTIONS]; /* [DEFAULT] values, by option name */
	const char *default_file[N_OPTIONS];
	int n_defaults;
	bool thor_warned;
};

static void fail(struct loader *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->failed)
		return; /* the first error is the one to fix */
	ld->failed = true;
	n = snprintf(ld->err, ld->err_len, "%s:%d: ", ld->file, line);
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->err_len - (size_t)n, fmt, ap);
	va_end(ap);
}

static const struct mp_section *find_section(const char *name)
{
	for (size_t i = 0; i < N_SECTIONS; i++)
		if (!strcmp(sections[i].name, name))
			return &sections[i];
	return NULL;
}

static int find_option(const char *section, const char *name)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (!strcmp(options[i].section, section) && !strcmp(options[i].name, name))
			return (int)i;
	return -1;
}

/* Records a key for this file; false (and an error) when it was seen before. */
static bool first_time(struct loader *ld, const char *key, const char *what, int line)
{
	for (int i = 0; i < ld->n_seen; i++)
		if (!strcmp(ld->seen[i], key)) {
			fail(ld, line, "%s appears twice in one file (first at line %d)", what, ld->seen_line[i]);
			return false;
		}
	if (ld->n_seen == MAX_SEEN) {
		fail(ld, line, "more than %d sections and options in one file", MAX_SEEN);
		return false;
	}
	snprintf(ld->seen[ld->n_seen], sizeof(ld->seen[0]), "%s", key);
	ld->seen_line[ld->n_seen++] = line;
	return true;
}

/* ConfigParser interpolation: "%%" is a literal '%', any other '%' an error. */
static int unescape_percent(struct loader *ld, const struct written_option *opt, char *out)
{
	const char *in = opt->value;

	for (; *in; in++) {
		if (*in == '%') {
			if (in[1] != '%') {
				fail(ld, opt->line, "[%s] %s: a lone '%%' in the value (write '%%%%' for a literal '%%')",
				     opt->section, opt->name);
				return -1;
			}
			in++;
		}
		*out++ = *in;
	}
	*out = '\0';
	return 0;
}

static int apply(struct loader *ld, int index, const char *file, const struct written_option *opt)
{
	const struct mp_option *o = &options[index];
	char value[MAX_VALUE], why[256];

	if (unescape_percent(ld, opt, value))
		return -1;
	if (o->parse(value, (char *)ld->cfg + o->offset, o->arg, why, sizeof(why))) {
		const char *current = ld->file;

		ld->file = file;
		fail(ld, opt->line, "[%s] %s = %s: %s", o->section, o->name, value, why);
		ld->file = current;
		return -1;
	}
	ld->origin[index] = (struct origin){ file, opt->line };
	return 0;
}

static void remember_default(struct loader *ld, const struct written_option *opt)
{
	int i;

	for (i = 0; i < ld->n_defaults; i++)
		if (!strcmp(ld->defaults[i].name, opt->name))
			break;
	if (i == (int)N_OPTIONS)
		return; /* more distinct names than options: none of the rest can apply */
	ld->defaults[i] = *opt;
	ld->default_file[i] = ld->file;
	if (i == ld->n_defaults)
		ld->n_defaults++;
}

static void commit(struct loader *ld)
{
	struct written_option *opt = &ld->pending;
	const struct mp_section *section;
	char key[130];
	int index;

	if (!ld->have_pending)
		return;
	ld->have_pending = false;
	snprintf(key, sizeof(key), "%s/%s", opt->section, opt->name);
	if (!first_time(ld, key, "option", opt->line))
		return;
	if (!strcmp(opt->section, "DEFAULT")) {
		remember_default(ld, opt);
		return;
	}
	section = find_section(opt->section);
	if (!section || !(section->readers & ld->program) || section->unsupported)
		return; /* warned at the section header, or another program's section */
	index = find_option(opt->section, opt->name);
	if (index < 0) {
		log_warn("%s:%d: unknown option '%s' in [%s], ignored", ld->file, opt->line, opt->name,
			 opt->section);
		return;
	}
	apply(ld, index, ld->file, opt);
}

static void section_header(struct loader *ld, const char *text)
{
	const char *end = strchr(text, ']');
	const struct mp_section *section;
	char name[64];

	if (!end || end - text - 1 >= (long)sizeof(name))
		return; /* inih reports the syntax error */
	snprintf(name, sizeof(name), "%.*s", (int)(end - text - 1), text + 1);
	if (!first_time(ld, name, "section", ld->line) || !strcmp(name, "DEFAULT"))
		return;
	section = find_section(name);
	if (!section)
		log_warn("%s:%d: unknown section [%s], ignored", ld->file, ld->line, name);
	else if (section->unsupported && (section->readers & ld->program) && !ld->thor_warned) {
		log_warn("%s:%d: [%s] (SIP Thor) is not supported; its options are ignored", ld->file, ld->line,
			 name);
		ld->thor_warned = true;
	}
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* inih's reader: counts lines and keeps the raw text, so that values keep
 * everything after the separator (no inline comments) and errors name lines.
 */
static char *read_line(char *buf, int size, void *stream)
{
	struct loader *ld = stream;
	size_t len;
	char *text;

	if (ld->failed || !fgets(buf, size, ld->fp))
		return NULL;
	ld->line++;
	len = strlen(buf);
	if (len == (size_t)size - 1 && buf[len - 1] != '\n' && !feof(ld->fp)) {
		fail(ld, ld->line, "line longer than %d characters", size - 2);
		return NULL;
	}
	snprintf(ld->raw, sizeof(ld->raw), "%s", buf);
	text = trim(ld->raw);
	if (*text && *text != ' ' && ld->raw[0] != ' ' && ld->raw[0] != '\t')
		commit(ld); /* any unindented line ends the previous value */
	if (*text == '[')
		section_header(ld, text);
	return ld->failed ? NULL : buf;
}

static int on_option(void *user, const char *section, const char *name, const char *ignored_value)
{
	struct loader *ld = user;
	bool continuation = ld->raw[0] == ' ' || ld->raw[0] == '\t';
	char raw[INI_MAX_LINE], *value;

	snprintf(raw, sizeof(raw), "%s", ld->raw);
	value = trim(raw);
	if (continuation && ld->have_pending) {
		size_t used = strlen(ld->pending.value);

		if (used + 1 + strlen(value) >= MAX_VALUE) {
			fail(ld, ld->pending.line, "value longer than %d characters", MAX_VALUE - 1);
			return 0;
		}
		snprintf(ld->pending.value + used, MAX_VALUE - used, "\n%s", value);
		return 1;
	}
	if (!*section) {
		fail(ld, ld->line, "option '%s' before any [section]", name);
		return 0;
	}
	value += strcspn(value, "=:");
	value = trim(value + 1);
	ld->have_pending = true;
	ld->pending.line = ld->line;
	snprintf(ld->pending.section, sizeof(ld->pending.section), "%s", section);
	snprintf(ld->pending.name, sizeof(ld->pending.name), "%s", name);
	for (char *p = ld->pending.name; *p; p++)
		if (*p == '-')
			*p = '_';
	snprintf(ld->pending.value, MAX_VALUE, "%s", value);
	return !ld->failed;
}

static int read_file(struct loader *ld, const char *dir, char *path, size_t path_len)
{
	int ret;

	snprintf(path, path_len, "%s/%s", dir, MP_CONFIG_FILE);
	ld->fp = fopen(path, "r");
	if (!ld->fp) {
		if (errno == ENOENT)
			return 0;
		ld->file = path;
		fail(ld, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	ld->file = path;
	ld->line = 0;
	ld->n_seen = 0;
	ld->have_pending = false;
	ret = ini_parse_stream(read_line, ld, on_option, ld);
	if (!ld->failed)
		commit(ld);
	if (ferror(ld->fp))
		fail(ld, ld->line, "read error");
	fclose(ld->fp);
	if (ret > 0)
		fail(ld, ret, "syntax error: expected [Section], name = value, or a # comment");
	if (!ld->failed)
		log_debug("read %s", path);
	return ld->failed ? -1 : 0;
}

/* [DEFAULT] values fill every option of this program not set in its section. */
static int apply_defaults_section(struct loader *ld)
{
	for (int d = 0; d < ld->n_defaults; d++)
		for (size_t i = 0; i < N_OPTIONS; i++) {
			const struct mp_section *section = find_section(options[i].section);

			if (strcmp(options[i].name, ld->defaults[d].name) || ld->origin[i].file ||
			    !(section->readers & ld->program))
				continue;
			snprintf(ld->defaults[d].section, sizeof(ld->defaults[d].section), "%s", options[i].section);
			if (apply(ld, (int)i, ld->default_file[d], &ld->defaults[d]))
				return -1;
		}
	return 0;
}

static int check_consistency(struct loader *ld)
{
	int acct = find_option("Dispatcher", "accounting");
	const struct mp_config *cfg = ld->cfg;

	if ((ld->program & MP_DISPATCHER) && (cfg->dispatcher.accounting & MP_ACCOUNTING_DATABASE) &&
	    !cfg->database.dburi[0]) {
		ld->file = ld->origin[acct].file;
		fail(ld, ld->origin[acct].line, "[Dispatcher] accounting includes database but [Database] dburi is not set");
		return -1;
	}
	return 0;
}

static void load_defaults(struct mp_config *cfg)
{
	char why[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].parse(options[i].default_value, (char *)cfg + options[i].offset, options[i].arg, why,
				     sizeof(why)))
			log_crit("built-in default of [%s] %s is invalid: %s", options[i].section, options[i].name, why);
}

int mp_config_load(struct mp_config *cfg, enum mp_program program, const char *system_dir,
		   const char *local_dir, char *err, size_t err_len)
{
	static struct loader ld; /* large; one load at a time */
	static char system_path[PATH_MAX + 16], local_path[PATH_MAX + 16];

	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.program = program;
	ld.err = err;
	ld.err_len = err_len;
	load_defaults(cfg);
	snprintf(cfg->local_dir, sizeof(cfg->local_dir), "%s", local_dir ? local_dir : "");
	if (read_file(&ld, system_dir, system_path, sizeof(system_path)))
		return -1;
	if (local_dir && *local_dir && read_file(&ld, local_dir, local_path, sizeof(local_path)))
		return -1;
	if (apply_defaults_section(&ld) || check_consistency(&ld))
		return -1;
	return 0;
}

void mp_config_local_dir(char *dir, size_t len)
{
	static const char *const system_bins[] = { "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin",
						    "/usr/local/sbin" };
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	dir[0] = '\0';
	if (n <= 0)
		return;
	exe[n] = '\0';
	snprintf(dir, len, "%s", dirname(exe));
	for (size_t i = 0; i < sizeof(system_bins) / sizeof(system_bins[0]); i++)
		if (!strcmp(dir, system_bins[i]))
			dir[0] = '\0';
}

bool mp_config_auto_detect_interfaces(const struct mp_config *cfg)
{
	return cfg->relay.auto_detect_interfaces && !cfg->relay.advertised_ip.s_addr;
}
