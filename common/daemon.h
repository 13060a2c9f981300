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
	struct event *signals[6];
	int stop_signal;            /* the signal that ended the main loop */
	bool ready;                 /* systemd was told READY=1 */
	char **argv;                /* for mp_daemon_exec_again */
	char exe[PATH_MAX];         /* the program file, for mp_daemon_exec_again */
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

/* Runs the event loop until a signal stops it (d->stop_signal); the first
 * run tells systemd READY=1.
 */
void mp_daemon_run(struct mp_daemon *d);

void mp_daemon_cleanup(struct mp_daemon *d);

/* Tells systemd STATE (sd_notify(3): "READY=1", "STOPPING=1",
 * "RELOADING=1") when it started the daemon with Type=notify; does nothing
 * otherwise.
 */
void mp_daemon_notify(const char *state);

/* Runs the program file again in this process, with the same arguments
 * (the relay's restart in place, SIGUSR2); returns only when it cannot.
 */
void mp_daemon_exec_again(struct mp_daemon *d);

#endif
