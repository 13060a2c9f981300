/* What both daemons share around their main loop: the command line,
 * configuration loading, the runtime directory, the pid file, daemonising
 * and signals (doc/config.md §10).
 */
#ifndef MP_DAEMON_H
#define MP_DAEMON_H

#include <event2/event.h>
#include <limits.h>
#include <stdbool.h>
#include "config.h"

#define MP_RUNTIME_DIR "/run/mediaproxy"

struct mp_daemon {
	const char *name;         /* "media-dispatcher" or "media-relay" */
	enum mp_program program;
	bool no_fork, systemd, debug;
	char config_dir[PATH_MAX];  /* local config directory, "" for none */
	char runtime_dir[PATH_MAX];
	char pidfile[PATH_MAX + 32];
	struct mp_config config;
	int configured_level;       /* log level from config.ini, for SIGUSR1 */
	struct event_base *base;
	struct event *signals[5];
	int stop_signal;            /* the signal that ended the main loop */
};

/* Parses the command line, loads config.ini, opens the log.  Returns false
 * when the program must stop now, with its exit status in `status`
 * (--help, --version: 0; bad arguments or configuration: non-zero).
 */
bool mp_daemon_init(struct mp_daemon *d, int argc, char **argv, int *status);

/* Creates the runtime directory, daemonises unless told not to, writes the
 * pid file and installs the signal handlers on a new event base.
 */
int mp_daemon_start(struct mp_daemon *d);

/* Runs the event loop until SIGTERM, SIGINT or SIGHUP. */
void mp_daemon_run(struct mp_daemon *d);

void mp_daemon_cleanup(struct mp_daemon *d);

#endif
