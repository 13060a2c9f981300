/* media-relay: relays the media streams of the sessions its dispatchers
 * hand it.  For now it loads the fast-path BPF object (so the verifier runs
 * on this kernel) and waits for a stop signal.
 */
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "daemon.h"
#include "log.h"
#include "mp_fwd.skel.h"

static int libbpf_to_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t len;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	if (len && msg[len - 1] == '\n')
		msg[len - 1] = '\0';
	mp_log(level == LIBBPF_WARN ? LOG_WARNING : LOG_INFO, "libbpf: %s", msg);
	return 0;
}

int main(int argc, char **argv)
{
	struct mp_daemon relay = { .name = "media-relay", .program = MP_RELAY };
	struct mp_fwd *fwd;
	int status;

	if (!mp_daemon_init(&relay, argc, argv, &status))
		return status;
	if (mp_daemon_start(&relay) < 0) {
		mp_daemon_cleanup(&relay);
		return 1;
	}
	libbpf_set_print(libbpf_to_log);
	fwd = mp_fwd__open_and_load();
	if (fwd)
		log_info("fast path: BPF program %s loaded", bpf_program__name(fwd->progs.mp_xdp));
	else
		log_warn("fast path: BPF program could not be loaded: %s", strerror(errno));
	log_info("relay port range %u:%u", relay.config.relay.port_range.start, relay.config.relay.port_range.end);
	mp_daemon_run(&relay);
	mp_fwd__destroy(fwd);
	mp_daemon_cleanup(&relay);
	return 0;
}
