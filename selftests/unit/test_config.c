/* Unit tests of the config.ini loader: defaults, file order, syntax, and
 * every kind of bad value.  Each test gets empty system and local dirs.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "config.h"
#include "log.h"
#include "log_capture.h"

static char system_dir[64], local_dir[64];
static char err[1024];
static struct mp_config cfg;

static void write_file(const char *dir, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(enum mp_program program)
{
	err[0] = '\0';
	return mp_config_load(&cfg, program, system_dir, local_dir, err, sizeof(err));
}

/* Runs a load with stderr captured; returns what the log printed. */
static const char *load_capturing_log(enum mp_program program, int *ret)
{
	struct log_capture capture;

	log_capture_start(&capture);
	*ret = load(program);
	return log_capture_end(&capture);
}

static int make_dirs(void **state)
{
	strcpy(system_dir, "/tmp/mp-unit-sys.XXXXXX");
	strcpy(local_dir, "/tmp/mp-unit-local.XXXXXX");
	if (!mkdtemp(system_dir) || !mkdtemp(local_dir))
		return -1;
	return 0;
}

static int remove_dirs(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", system_dir, local_dir);
	return system(cmd);
}

static void expect_error(const char *dir, int line, const char *text)
{
	char where[160];

	snprintf(where, sizeof(where), "%s/config.ini:%d: ", dir, line);
	if (strncmp(err, where, strlen(where)) || !strstr(err, text))
		fail_msg("error '%s' does not start with '%s' and hold '%s'", err, where, text);
}

static const char *addr(struct in_addr a)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

static void test_dispatcher_defaults(void **state)
{
	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_string_equal(cfg.dispatcher.socket_path, "dispatcher.sock");
	assert_string_equal(cfg.dispatcher.listen.host, "0.0.0.0");
	assert_int_equal(cfg.dispatcher.listen.port, 25060);
	assert_string_equal(cfg.dispatcher.listen_management.host, "0.0.0.0");
	assert_int_equal(cfg.dispatcher.listen_management.port, 25061);
	assert_true(cfg.dispatcher.management_use_tls);
	assert_int_equal(cfg.dispatcher.passport.count, 0);
	assert_int_equal(cfg.dispatcher.management_passport.count, 0);
	assert_int_equal(cfg.dispatcher.log_level, LOG_INFO);
	assert_int_equal(cfg.dispatcher.relay_timeout, 5);
	assert_int_equal(cfg.dispatcher.socket_mode, 0666);
	assert_string_equal(cfg.dispatcher.socket_owner, "");
	assert_int_equal(cfg.dispatcher.accounting, 0);
	assert_int_equal(cfg.dispatcher.relay_recover_interval, 60);
	assert_int_equal(cfg.dispatcher.cleanup_dead_relays_after, 43200);
	assert_int_equal(cfg.dispatcher.cleanup_expired_sessions_after, 86400);
	assert_string_equal(cfg.dispatcher.listen_http.host, "127.0.0.1");
	assert_int_equal(cfg.dispatcher.listen_http.port, 25080);
	assert_int_equal(cfg.dispatcher.http_use_tls, MP_TLS_AUTO);
	assert_int_equal(cfg.dispatcher.http_passport.count, 0);
	assert_int_equal(cfg.dispatcher.http_max_connections, 32);
	assert_string_equal(cfg.tls.certs_path, "tls");
	assert_int_equal(cfg.tls.verify_interval, 300);
	assert_string_equal(cfg.database.dburi, "");
	assert_string_equal(cfg.database.sessions_table, "media_sessions");
	assert_string_equal(cfg.database.callid_column, "call_id");
	assert_string_equal(cfg.database.fromtag_column, "from_tag");
	assert_string_equal(cfg.database.totag_column, "to_tag");
	assert_string_equal(cfg.database.info_column, "info");
	assert_string_equal(cfg.database.starttime_column, "start_time");
	assert_string_equal(cfg.radius.config_file, "/etc/opensips/radius/client.conf");
	assert_string_equal(cfg.radius.additional_dictionary, "radius/dictionary");
	assert_string_equal(cfg.opensips.socket_path, "/run/opensips/socket");
	assert_string_equal(cfg.opensips.location_table, "location");
}

static void test_relay_defaults(void **state)
{
	assert_int_equal(load(MP_RELAY), 0);
	assert_int_equal(cfg.relay.dispatchers.count, 0);
	assert_int_equal(cfg.relay.passport.count, 0);
	assert_int_equal(cfg.relay.relay_ip.s_addr, 0);
	assert_int_equal(cfg.relay.advertised_ip.s_addr, 0);
	assert_false(cfg.relay.auto_detect_interfaces);
	assert_int_equal(cfg.relay.port_range.start, 40000);
	assert_int_equal(cfg.relay.port_range.end, 60000);
	assert_int_equal(cfg.relay.log_level, LOG_INFO);
	assert_int_equal(cfg.relay.stream_timeout, 90);
	assert_int_equal(cfg.relay.on_hold_timeout, 7200);
	assert_int_equal(cfg.relay.dns_check_interval, 60);
	assert_int_equal(cfg.relay.keepalive_interval, 10);
	assert_int_equal(cfg.relay.reconnect_delay, 10);
	assert_int_equal(cfg.relay.traffic_sampling_period, 15);
	assert_int_equal(cfg.relay.userspace_transmit_every, 1);
	assert_int_equal(cfg.relay.routable_private_ranges.count, 0);
	assert_int_equal(cfg.relay.forwarding, MP_FORWARDING_AUTO);
	assert_int_equal(cfg.relay.stream_idle_timeout, 120);
	assert_string_equal(cfg.relay.listen_http.host, "127.0.0.1");
	assert_int_equal(cfg.relay.listen_http.port, 25081);
	assert_int_equal(cfg.relay.http_max_connections, 32);
	assert_string_equal(cfg.tls.certs_path, "tls");
}

static void test_local_overrides_system_per_option(void **state)
{
	write_file(system_dir, "[Dispatcher]\nrelay_timeout = 7\nlog_level = DEBUG\n[TLS]\nverify_interval = 30\n");
	write_file(local_dir, "[Dispatcher]\nrelay_timeout = 9\n");
	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_int_equal(cfg.dispatcher.relay_timeout, 9);      /* local wins */
	assert_int_equal(cfg.dispatcher.log_level, LOG_DEBUG);  /* system only */
	assert_int_equal(cfg.tls.verify_interval, 30);          /* system only */
	assert_int_equal(cfg.dispatcher.relay_recover_interval, 60); /* default */
}

static void test_no_local_dir_reads_system_only(void **state)
{
	write_file(system_dir, "[Relay]\nstream_timeout = 33\n");
	err[0] = '\0';
	assert_int_equal(mp_config_load(&cfg, MP_RELAY, system_dir, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.relay.stream_timeout, 33);
}

static void test_syntax_variants(void **state)
{
	write_file(local_dir, "\xEF\xBB\xBF# a comment\n"
			      "; another comment\n"
			      "[Relay]\n"
			      "stream-timeout: 45\n"
			      "port_range   =   50000:50100  \n"
			      "dispatchers = 198.18.0.10,\n"
			      "    dispatcher.example.com:5000   198.18.0.11:25099\n"
			      "routable_private_ranges = 198.18.0.0/15, 10.0.0.0/8 192.168.1.7\n"
			      "passport = O:AG Projects\\, Inc, CN:*dispatcher\n"
			      "\n"
			      "[Dispatcher]\n"
			      "accounting = database, radius\n"
			      "[Database]\n"
			      "dburi = mysql://user:p%%ss;word@db.example.com/mediaproxy\n");
	assert_int_equal(load(MP_RELAY), 0);
	assert_int_equal(cfg.relay.stream_timeout, 45);
	assert_int_equal(cfg.relay.port_range.start, 50000);
	assert_int_equal(cfg.relay.port_range.end, 50100);
	assert_int_equal(cfg.relay.dispatchers.count, 3);
	assert_string_equal(cfg.relay.dispatchers.item[0].host, "198.18.0.10");
	assert_int_equal(cfg.relay.dispatchers.item[0].port, 25060);
	assert_string_equal(cfg.relay.dispatchers.item[1].host, "dispatcher.example.com");
	assert_int_equal(cfg.relay.dispatchers.item[1].port, 5000);
	assert_int_equal(cfg.relay.dispatchers.item[2].port, 25099);
	assert_int_equal(cfg.relay.routable_private_ranges.count, 3);
	assert_string_equal(addr(cfg.relay.routable_private_ranges.item[0].net), "198.18.0.0");
	assert_int_equal(cfg.relay.routable_private_ranges.item[0].prefix, 15);
	assert_int_equal(cfg.relay.routable_private_ranges.item[2].prefix, 32);
	assert_int_equal(cfg.relay.passport.count, 2);
	assert_string_equal(cfg.relay.passport.item[0].attr, "O");
	assert_string_equal(cfg.relay.passport.item[0].value, "AG Projects, Inc");
	assert_string_equal(cfg.relay.passport.item[1].attr, "CN");
	assert_string_equal(cfg.relay.passport.item[1].value, "*dispatcher");

	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_int_equal(cfg.dispatcher.accounting, MP_ACCOUNTING_DATABASE | MP_ACCOUNTING_RADIUS);
	assert_string_equal(cfg.database.dburi, "mysql://user:p%ss;word@db.example.com/mediaproxy");
}

static void test_value_forms(void **state)
{
	write_file(local_dir, "[Dispatcher]\n"
			      "listen = any\n"
			      "listen_management = default\n"
			      "management_use_tls = Off\n"
			      "log_level = 25\n"
			      "relay_timeout = +1_000\n"
			      "accounting = none\n"
			      "[TLS]\n"
			      "verify_interval = 1\n");
	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_string_equal(cfg.dispatcher.listen.host, "0.0.0.0");
	assert_int_equal(cfg.dispatcher.listen.port, 25060);
	assert_int_equal(cfg.dispatcher.listen_management.port, 25061);
	assert_false(cfg.dispatcher.management_use_tls);
	assert_int_equal(cfg.dispatcher.log_level, LOG_INFO);
	assert_int_equal(cfg.dispatcher.relay_timeout, 1000);
	assert_int_equal(cfg.dispatcher.accounting, 0);

	write_file(local_dir, "[Dispatcher]\nlisten = relays.example.com:7000\nlog_level = warning\n"
			      "management_use_tls = TRUE\n");
	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_string_equal(cfg.dispatcher.listen.host, "relays.example.com");
	assert_int_equal(cfg.dispatcher.listen.port, 7000);
	assert_int_equal(cfg.dispatcher.log_level, LOG_WARNING);
	assert_true(cfg.dispatcher.management_use_tls);

	write_file(local_dir, "[Relay]\nrelay_ip = 198.18.0.50\nadvertised_ip = 198.19.0.1\nlog_level = 5\n"
			      "forwarding = conntrack\nstream_idle_timeout = 5\n");
	assert_int_equal(load(MP_RELAY), 0);
	assert_int_equal(cfg.relay.forwarding, MP_FORWARDING_CONNTRACK);
	assert_int_equal(cfg.relay.stream_idle_timeout, 5);
	assert_string_equal(addr(cfg.relay.relay_ip), "198.18.0.50");
	assert_string_equal(addr(cfg.relay.advertised_ip), "198.19.0.1");
	assert_int_equal(cfg.relay.log_level, LOG_DEBUG);

	/* the HTTP interface: its own port by default, none when empty */
	write_file(local_dir, "[Dispatcher]\nlisten_http = 198.18.0.1\nhttp_use_tls = yes\n"
			      "http_passport = CN:ops*\nhttp_max_connections = 5\n[Relay]\nlisten_http =\n");
	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_string_equal(cfg.dispatcher.listen_http.host, "198.18.0.1");
	assert_int_equal(cfg.dispatcher.listen_http.port, 25080);
	assert_int_equal(cfg.dispatcher.http_use_tls, MP_TLS_ON);
	assert_int_equal(cfg.dispatcher.http_passport.count, 1);
	assert_int_equal(cfg.dispatcher.http_max_connections, 5);
	assert_int_equal(load(MP_RELAY), 0);
	assert_string_equal(cfg.relay.listen_http.host, "");
	write_file(local_dir, "[Dispatcher]\nlisten_http = none\nhttp_use_tls = Auto\n");
	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_string_equal(cfg.dispatcher.listen_http.host, "");
	assert_int_equal(cfg.dispatcher.http_use_tls, MP_TLS_AUTO);
}

/* config.ini.sample: auto_detect_interfaces is ignored with advertised_ip. */
static void test_auto_detect_interfaces_applies(void **state)
{
	write_file(local_dir, "[Relay]\nauto_detect_interfaces = yes\n");
	assert_int_equal(load(MP_RELAY), 0);
	assert_true(mp_config_auto_detect_interfaces(&cfg));

	write_file(local_dir, "[Relay]\nauto_detect_interfaces = yes\nadvertised_ip = 198.19.0.1\n");
	assert_int_equal(load(MP_RELAY), 0);
	assert_false(mp_config_auto_detect_interfaces(&cfg));

	write_file(local_dir, "[Relay]\nauto_detect_interfaces = no\n");
	assert_int_equal(load(MP_RELAY), 0);
	assert_false(mp_config_auto_detect_interfaces(&cfg));
}

static void test_default_section(void **state)
{
	write_file(system_dir, "[Dispatcher]\nrelay_timeout = 3\n");
	write_file(local_dir, "[DEFAULT]\nlog_level = DEBUG\nrelay_timeout = 8\n");
	assert_int_equal(load(MP_DISPATCHER), 0);
	assert_int_equal(cfg.dispatcher.log_level, LOG_DEBUG); /* from [DEFAULT] */
	assert_int_equal(cfg.dispatcher.relay_timeout, 3);     /* a section's own value wins */
	assert_int_equal(load(MP_RELAY), 0);
	assert_int_equal(cfg.relay.log_level, LOG_DEBUG);

	write_file(local_dir, "[DEFAULT]\nlog_level = NOISY\n");
	assert_int_equal(load(MP_RELAY), -1);
	expect_error(local_dir, 2, "[Relay] log_level = NOISY: not a log level");
}

static void test_bad_value_in_system_file(void **state)
{
	write_file(system_dir, "[Relay]\n\nstream_timeout = soon\n");
	write_file(local_dir, "[Relay]\nstream_timeout = 10\n");
	assert_int_equal(load(MP_RELAY), -1);
	expect_error(system_dir, 3, "[Relay] stream_timeout = soon: not an integer");
}

static void test_unknown_option_and_section_warn(void **state)
{
	int ret;
	const char *log;

	write_file(local_dir, "[Relay]\nstream_timout = 10\n[relay]\nport_range = 1:2\n[Nonsense]\nx = 1\n");
	log = load_capturing_log(MP_RELAY, &ret);
	assert_int_equal(ret, 0);
	assert_non_null(strstr(log, "config.ini:2: unknown option 'stream_timout' in [Relay], ignored"));
	assert_non_null(strstr(log, "config.ini:3: unknown section [relay], ignored")); /* case-sensitive */
	assert_non_null(strstr(log, "config.ini:5: unknown section [Nonsense], ignored"));
	assert_int_equal(cfg.relay.stream_timeout, 90);
}

static void test_other_programs_sections_are_not_read(void **state)
{
	int ret;
	const char *log;

	write_file(local_dir, "[Relay]\nport_range = bad\nwhatever = 1\n[ThorNetwork]\ndomain = x\n"
			      "[Database]\ndburi = nonsense\n");
	log = load_capturing_log(MP_DISPATCHER, &ret);
	assert_int_equal(ret, -1); /* the dispatcher reads [Database] */
	expect_error(local_dir, 7, "[Database] dburi = nonsense: not scheme://");
	assert_null(strstr(log, "Relay"));
	assert_null(strstr(log, "ThorNetwork"));

	write_file(local_dir, "[Database]\ndburi = nonsense\nextra = 1\n[OpenSIPS]\nsocket_path =\n");
	log = load_capturing_log(MP_RELAY, &ret);
	assert_int_equal(ret, 0);
	assert_string_equal(log, "");
}

static void test_thor_network_warned_once(void **state)
{
	int ret;
	const char *log, *first;

	write_file(local_dir, "[ThorNetwork]\ndomain = sipthor.example.com\nnode_ip = 198.18.0.1\n");
	log = load_capturing_log(MP_RELAY, &ret);
	assert_int_equal(ret, 0);
	first = strstr(log, "[ThorNetwork] (SIP Thor) is not supported");
	assert_non_null(first);
	assert_null(strstr(first + strlen("[ThorNetwork]"), "ThorNetwork"));
}

static void test_database_accounting_needs_dburi(void **state)
{
	write_file(local_dir, "[Dispatcher]\n\naccounting = radius,database\n");
	assert_int_equal(load(MP_DISPATCHER), -1);
	expect_error(local_dir, 3, "accounting includes database but [Database] dburi is not set");
	write_file(system_dir, "[Database]\ndburi = sqlite:///var/lib/mediaproxy/accounting.db\n");
	assert_int_equal(load(MP_DISPATCHER), 0);
}

static void test_file_that_cannot_be_read(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/config.ini", local_dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(load(MP_RELAY), -1);
	assert_non_null(strstr(err, "config.ini"));
	rmdir(path);
}

static void test_local_dir_is_program_dir(void **state)
{
	char dir[4096], exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	mp_config_local_dir(dir, sizeof(dir));
	assert_string_equal(dir, exe);
}

/* One bad file each: the expected line and the words the error must hold. */
struct bad_case {
	const char *name;
	enum mp_program program;
	const char *text;
	int line;
	const char *error;
};

static const struct bad_case bad_cases[] = {
	{ "inline comment is part of the value", MP_DISPATCHER, "[Dispatcher]\nrelay_timeout = 5 ; seconds\n", 2,
	  "relay_timeout = 5 ; seconds: not an integer" },
	{ "integer with letters", MP_RELAY, "[Relay]\nstream_timeout = 9O\n", 2, "not an integer" },
	{ "negative integer", MP_RELAY, "[Relay]\ntraffic_sampling_period = -1\n", 2, "must not be negative" },
	{ "zero where positive", MP_RELAY, "[Relay]\nkeepalive_interval = 0\n", 2, "must be a positive integer" },
	{ "integer overflow", MP_RELAY, "[Relay]\non_hold_timeout = 99999999999\n", 2, "larger than" },
	{ "empty integer", MP_RELAY, "[Relay]\nreconnect_delay =\n", 2, "not an integer" },
	{ "misplaced underscore", MP_RELAY, "[Relay]\nreconnect_delay = 1__0\n", 2, "not an integer" },
	{ "boolean", MP_RELAY, "[Relay]\nauto_detect_interfaces = maybe\n", 2, "not a boolean" },
	{ "log level", MP_DISPATCHER, "[Dispatcher]\nlog_level = verbose\n", 2, "not a log level" },
	{ "listen port", MP_DISPATCHER, "[Dispatcher]\nlisten = 0.0.0.0:70000\n", 2, "not a port number" },
	{ "listen none", MP_DISPATCHER, "[Dispatcher]\nlisten = none\n", 2, "'none' cannot be used" },
	{ "listen IPv6", MP_DISPATCHER, "[Dispatcher]\nlisten = [::1]:25060\n", 2, "IPv6" },
	{ "listen bad host", MP_DISPATCHER, "[Dispatcher]\nlisten_management = bad_host!\n", 2,
	  "not a valid IPv4 address or host name" },
	{ "dispatchers entry", MP_RELAY, "[Relay]\ndispatchers = 198.18.0.1 198.18.0.2:port\n", 2,
	  "'port' is not a port number" },
	{ "passport attribute", MP_RELAY, "[Relay]\npassport = O:AG, XX:relay\n", 2, "unknown attribute 'XX'" },
	{ "passport without colon", MP_DISPATCHER, "[Dispatcher]\nmanagement_passport = relay\n", 2,
	  "'relay' is not ATTR:value" },
	{ "passport empty", MP_DISPATCHER, "[Dispatcher]\npassport =\n", 2, "use None" },
	{ "port range odd", MP_RELAY, "[Relay]\nport_range = 40001:60000\n", 2, "both ends must be even" },
	{ "port range low", MP_RELAY, "[Relay]\nport_range = 1000:2000\n", 2, "within 1024:65536" },
	{ "port range high", MP_RELAY, "[Relay]\nport_range = 60000:65538\n", 2, "within 1024:65536" },
	{ "port range reversed", MP_RELAY, "[Relay]\nport_range = 50000:40000\n", 2, "start must be below end" },
	{ "port range form", MP_RELAY, "[Relay]\nport_range = 40000-50000\n", 2, "not start:end" },
	{ "relay_ip", MP_RELAY, "[Relay]\nrelay_ip = 198.18.0.256\n", 2, "not an IPv4 address" },
	{ "advertised_ip hostname", MP_RELAY, "[Relay]\nadvertised_ip = relay.example.com\n", 2,
	  "not an IPv4 address" },
	{ "cidr prefix", MP_RELAY, "[Relay]\nroutable_private_ranges = 10.0.0.0/33\n", 2, "bad prefix length" },
	{ "cidr host bits", MP_RELAY, "[Relay]\nroutable_private_ranges = 10.1.0.0/8\n", 2, "host bits set" },
	{ "cidr address", MP_RELAY, "[Relay]\nroutable_private_ranges = ten/8\n", 2, "not an IPv4 network" },
	{ "forwarding tier", MP_RELAY, "[Relay]\nforwarding = XDP\n", 2, "unknown forwarding tier 'XDP'" },
	{ "socket mode", MP_DISPATCHER, "[Dispatcher]\nsocket_mode = 0669\n", 2, "not an octal file mode" },
	{ "idle timeout", MP_RELAY, "[Relay]\nstream_idle_timeout = 0\n", 2, "stream_idle_timeout" },
	{ "http port", MP_DISPATCHER, "[Dispatcher]\nlisten_http = 127.0.0.1:0\n", 2,
	  "[Dispatcher] listen_http = 127.0.0.1:0: '0' is not a port number" },
	{ "http IPv6", MP_RELAY, "[Relay]\nlisten_http = [::1]:25081\n", 2, "[Relay] listen_http = [::1]:25081: IPv6" },
	{ "http tls", MP_DISPATCHER, "[Dispatcher]\nhttp_use_tls = sometimes\n", 2,
	  "[Dispatcher] http_use_tls = sometimes: use auto, or a boolean" },
	{ "http passport", MP_DISPATCHER, "[Dispatcher]\nhttp_passport = CN\n", 2, "'CN' is not ATTR:value" },
	{ "http connections", MP_RELAY, "[Relay]\nhttp_max_connections = 0\n", 2,
	  "[Relay] http_max_connections = 0: must be a positive integer" },
	{ "accounting backend", MP_DISPATCHER, "[Dispatcher]\naccounting = databse\n", 2,
	  "unknown accounting backend 'databse'" },
	{ "dburi scheme", MP_DISPATCHER, "[Database]\ndburi = firebird://u:p@h/db\n", 2,
	  "unsupported database 'firebird'" },
	{ "dburi without target", MP_DISPATCHER, "[Database]\ndburi = sqlite://\n", 2, "nothing after" },
	{ "table name", MP_DISPATCHER, "[Database]\nsessions_table = media; DROP TABLE x\n", 2,
	  "only letters, digits and '_'" },
	{ "empty path", MP_DISPATCHER, "[TLS]\ncerts_path =\n", 2, "a path is required" },
	{ "lone percent", MP_DISPATCHER, "[Database]\ndburi = mysql://u:50%@h/db\n", 2, "lone '%'" },
	{ "option twice", MP_RELAY, "[Relay]\nstream_timeout = 1\nstream-timeout = 2\n", 3,
	  "appears twice in one file (first at line 2)" },
	{ "section twice", MP_RELAY, "[Relay]\n[TLS]\n[Relay]\n", 3, "section appears twice" },
	{ "option before any section", MP_RELAY, "stream_timeout = 1\n", 1, "before any [section]" },
	{ "line without separator", MP_RELAY, "[Relay]\nstream_timeout 10\n", 2, "syntax error" },
	{ "unclosed section", MP_RELAY, "[Relay\n", 1, "syntax error" },
	{ "line too long", MP_RELAY, "[Relay]\n# "
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	  2, "line longer than" },
	{ "continuation makes a bad value", MP_RELAY, "[Relay]\nstream_timeout = 10\n  20\n", 2,
	  "stream_timeout = 10\n20: not an integer" },
};

static void test_bad_value(void **state)
{
	const struct bad_case *c = *state;

	write_file(local_dir, c->text);
	assert_int_equal(load(c->program), -1);
	expect_error(local_dir, c->line, c->error);
}

int main(void)
{
	enum { N_BAD = sizeof(bad_cases) / sizeof(bad_cases[0]) };
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_dispatcher_defaults),
		cmocka_unit_test(test_relay_defaults),
		cmocka_unit_test(test_local_overrides_system_per_option),
		cmocka_unit_test(test_no_local_dir_reads_system_only),
		cmocka_unit_test(test_syntax_variants),
		cmocka_unit_test(test_value_forms),
		cmocka_unit_test(test_auto_detect_interfaces_applies),
		cmocka_unit_test(test_default_section),
		cmocka_unit_test(test_bad_value_in_system_file),
		cmocka_unit_test(test_unknown_option_and_section_warn),
		cmocka_unit_test(test_other_programs_sections_are_not_read),
		cmocka_unit_test(test_thor_network_warned_once),
		cmocka_unit_test(test_database_accounting_needs_dburi),
		cmocka_unit_test(test_file_that_cannot_be_read),
		cmocka_unit_test(test_local_dir_is_program_dir),
	};
	enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	static struct CMUnitTest tests[N_FIXED + N_BAD];
	static char names[N_BAD][96];

	memcpy(tests, fixed, sizeof(fixed));
	for (int i = 0; i < N_BAD; i++) {
		snprintf(names[i], sizeof(names[i]), "bad value: %s", bad_cases[i].name);
		tests[N_FIXED + i] = (struct CMUnitTest){ names[i], test_bad_value, NULL, NULL,
							  (void *)&bad_cases[i] };
	}
	for (int i = 0; i < N_FIXED + N_BAD; i++) {
		tests[i].setup_func = make_dirs; /* fresh, empty directories for every test */
		tests[i].teardown_func = remove_dirs;
	}
	mp_log_open("test_config", MP_LOG_TERMINAL);
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
