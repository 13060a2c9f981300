/* config.ini (common/config.c, config_types.c, doc/config.md): the input is
 * the system file, then a NUL byte and the local file that overrides it;
 * both daemons load them.  Checked besides memory: a refusal names the file
 * and line ("path:line: ..."), and what is accepted is within its bounds.
 */
#include <sys/stat.h>
#include "config.h"
#include "fuzz.h"

static char system_dir[PATH_MAX], local_dir[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-config");
	snprintf(system_dir, sizeof(system_dir), "%s/system", fuzz_dir());
	snprintf(local_dir, sizeof(local_dir), "%s/local", fuzz_dir());
	if (mkdir(system_dir, 0700) || mkdir(local_dir, 0700))
		return -1;
	return 0;
}

static bool terminated(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}

static void check_accepted(const struct mp_config *cfg)
{
	FUZZ_CHECK(terminated(cfg->dispatcher.socket_path, sizeof(cfg->dispatcher.socket_path)));
	FUZZ_CHECK(terminated(cfg->dispatcher.socket_owner, sizeof(cfg->dispatcher.socket_owner)));
	FUZZ_CHECK(terminated(cfg->dispatcher.socket_group, sizeof(cfg->dispatcher.socket_group)));
	FUZZ_CHECK(terminated(cfg->tls.certs_path, sizeof(cfg->tls.certs_path)));
	FUZZ_CHECK(terminated(cfg->database.dburi, sizeof(cfg->database.dburi)));
	FUZZ_CHECK(terminated(cfg->database.sessions_table, sizeof(cfg->database.sessions_table)));
	FUZZ_CHECK(terminated(cfg->radius.config_file, sizeof(cfg->radius.config_file)));
	FUZZ_CHECK(terminated(cfg->kamailio.socket_path, sizeof(cfg->kamailio.socket_path)));
	FUZZ_CHECK(cfg->relay.port_range.start < cfg->relay.port_range.end);
	FUZZ_CHECK(cfg->relay.port_range.start % 2 == 0 && cfg->relay.port_range.end <= 65536);
	FUZZ_CHECK(cfg->dispatcher.relay_timeout > 0 && cfg->relay.stream_timeout > 0);
	FUZZ_CHECK(cfg->relay.dispatchers.count <= MP_MAX_ENDPOINTS && cfg->relay.routable_private_ranges.count <= MP_MAX_CIDRS);
	FUZZ_CHECK(cfg->dispatcher.passport.count <= MP_MAX_PASSPORT_ITEMS && cfg->relay.passport.count <= MP_MAX_PASSPORT_ITEMS);
}

static bool names_line(const char *err, const char *file)
{
	size_t len = strlen(file);

	return !strncmp(err, file, len) && err[len] == ':' && err[len + 1] >= '0' && err[len + 1] <= '9';
}

static void load(enum mp_program program, const char *system_file, const char *local_file)
{
	static struct mp_config cfg;
	char err[1024] = "";

	if (!mp_config_load(&cfg, program, system_dir, local_dir, err, sizeof(err))) {
		check_accepted(&cfg);
		return;
	}
	/* "file:line: what" */
	FUZZ_CHECK(names_line(err, system_file) || names_line(err, local_file));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_bytes in = { data, size }, system = { 0 }, local = { 0 };
	char system_file[PATH_MAX + 16], local_file[PATH_MAX + 16];

	fuzz_next_part(&in, "", 1, &system);
	if (!fuzz_next_part(&in, "", 1, &local))
		local = (struct fuzz_bytes){ (const uint8_t *)"", 0 };
	fuzz_write_file("system/" MP_CONFIG_FILE, system, system_file, sizeof(system_file));
	fuzz_write_file("local/" MP_CONFIG_FILE, local, local_file, sizeof(local_file));
	load(MP_DISPATCHER, system_file, local_file);
	load(MP_RELAY, system_file, local_file);
	return 0;
}
