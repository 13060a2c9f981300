/* The radiusclient file of [Radius] config_file (dispatcher/acct_radius.c,
 * doc/accounting.md §4): the input is the file, read line by line into
 * radcli as the dispatcher does at start.  Checked besides memory: a file
 * that is taken names at least one acctserver, every one with a port.
 *
 * radcli logs to syslog, may resolve bindaddr and connects for serv-type
 * tls: here it logs nowhere, resolves numeric addresses only and every
 * connect() fails, so that fuzzing never leaves the machine.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include "fuzz.h"
#include "acct_radius.c"

void __syslog_chk(int priority, int flag, const char *format, ...);
void __syslog_chk(int priority, int flag, const char *format, ...)
{
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*libc_getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct addrinfo numeric = hints ? *hints : (struct addrinfo){ .ai_family = AF_UNSPEC };

	if (!libc_getaddrinfo)
		libc_getaddrinfo = (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))
			dlsym(RTLD_NEXT, "getaddrinfo");
	numeric.ai_flags |= AI_NUMERICHOST;
	return libc_getaddrinfo(node, service, &numeric, res);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	errno = ENETUNREACH;
	return -1;
}

/* radcli 1.2 frees only the first name and secret of a server list
 * (rc_config_free): its leak, not ours.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libradcli.so\n";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-radius_conf");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];
	rc_handle *rh;

	fuzz_write_file("client.conf", (struct fuzz_bytes){ data, size }, path, sizeof(path));
	rh = read_client_conf(path);
	if (rh) {
		SERVER *servers = rc_conf_srv(rh, "acctserver");

		FUZZ_CHECK(servers && servers->max >= 1 && servers->max <= SERVER_MAX);
		for (int i = 0; i < servers->max; i++)
			FUZZ_CHECK(servers->name[i] && servers->port[i]);
		rc_destroy(rh);
	}
	return 0;
}
