#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "daemon.h"
#include "log.h"

static void usage(const struct mp_daemon *d, FILE *out)
{
	fprintf(out,
		"Usage: %s [options]\n"
		"\n"
		"%s\n"
		"\n"
		"Options:\n"
		"  --no-fork          stay in the foreground and log to the terminal\n"
		"  --systemd          stay in the foreground and log to the systemd journal;\n"
		"                     with Type=notify, tell systemd when it is ready\n"
		"  --config-dir PATH  local configuration directory, read over %s/%s\n"
		"                     (default: the directory holding this program, unless it\n"
		"                     is a system directory such as /usr/bin)\n"
		"  --runtime-dir PATH directory for the pid file and sockets (default %s)\n"
		"  --debug            log at DEBUG level whatever config.ini says\n"
		"  --version          print the version and exit\n"
		"  --help             print this help and exit\n"
		"\n"
		"Signals: SIGTERM, SIGINT and SIGHUP stop the program; SIGUSR1 toggles DEBUG logging.\n"
		"%s",
		d->name,
		d->program == MP_DISPATCHER ?
			"Takes media requests from a SIP proxy's mediaproxy module and hands them to media relays." :
			"Relays RTP and RTCP between SIP endpoints for the media-dispatchers it connects to.",
		MP_SYSTEM_CONFIG_DIR, MP_CONFIG_FILE, MP_RUNTIME_DIR,
		d->program == MP_DISPATCHER ?
			"SIGQUIT stops it too.\n" :
			"SIGHUP stops taking new sessions and stops when the last one ended; SIGTERM\n"
			"ends every session at once and reports it expired.  SIGQUIT stops for a restart:\n"
			"the calls' state stays in the runtime directory, established media keeps\n"
			"flowing in the kernel, and the next start takes the calls over.  SIGUSR2 does\n"
			"both at once, in the same process: it saves the calls, runs the program file\n"
			"again (a new version, after an upgrade) and takes them over (systemctl reload).\n");
}

/* Returns an exit status, or -1 to go on. */
static int parse_args(struct mp_daemon *d, int argc, char **argv)
{
	enum { OPT_NO_FORK = 256, OPT_SYSTEMD, OPT_CONFIG_DIR, OPT_RUNTIME_DIR, OPT_DEBUG, OPT_VERSION, OPT_HELP };
	static const struct option long_options[] = {
		{ "no-fork", no_argument, NULL, OPT_NO_FORK },
		{ "systemd", no_argument, NULL, OPT_SYSTEMD },
		{ "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
		{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
		{ "debug", no_argument, NULL, OPT_DEBUG },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	int opt;

	snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s", MP_RUNTIME_DIR);
	d->argv = argv;
	mp_config_local_dir(d->config_dir, sizeof(d->config_dir));
	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_NO_FORK:
			d->no_fork = true;
			break;
		case OPT_SYSTEMD:
			d->systemd = true;
			break;
		case OPT_CONFIG_DIR:
			snprintf(d->config_dir, sizeof(d->config_dir), "%s", optarg);
			break;
		case OPT_RUNTIME_DIR:
			snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s", optarg);
			break;
		case OPT_DEBUG:
			d->debug = true;
			break;
		case OPT_VERSION:
			printf("%s %s\n", d->name, MP_VERSION);
			return 0;
		case OPT_HELP:
			usage(d, stdout);
			return 0;
		default:
			usage(d, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", d->name, argv[optind]);
		return 2;
	}
	return -1;
}

bool mp_daemon_init(struct mp_daemon *d, int argc, char **argv, int *status)
{
	ssize_t exe_len = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
	char err[1024];
	struct stat st;

	d->exe[exe_len > 0 ? exe_len : 0] = '\0';
	*status = parse_args(d, argc, argv);
	if (*status >= 0)
		return false;
	*status = 1;
	/* errors before the daemon detaches go to the terminal */
	mp_log_open(d->name, d->systemd ? MP_LOG_JOURNAL : MP_LOG_TERMINAL);
	if (d->debug)
		mp_log_set_level(LOG_DEBUG);
	if (d->config_dir[0] && stat(d->config_dir, &st) < 0) {
		log_err("configuration directory %s: %s", d->config_dir, strerror(errno));
		return false;
	}
	if (mp_config_load(&d->config, d->program, MP_SYSTEM_CONFIG_DIR, d->config_dir, err, sizeof(err))) {
		log_err("%s; not starting", err);
		return false;
	}
	d->configured_level = d->program == MP_DISPATCHER ? d->config.dispatcher.log_level : d->config.relay.log_level;
	mp_log_set_level(d->debug ? LOG_DEBUG : d->configured_level);
	return true;
}

/* sd_notify(3) without libsystemd: one datagram to the socket systemd
 * names in $NOTIFY_SOCKET (a path, or "@" for the abstract namespace).
 */
void mp_daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = path ? strlen(path) : 0;
	int fd;

	if (len < 2 || len >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@'))
		return;
	memcpy(addr.sun_path, path, len);
	if (addr.sun_path[0] == '@')
		addr.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warn("cannot tell systemd %s (NOTIFY_SOCKET=%s): %s", state, path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* mkdir -p */
static int make_dir(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* The pid file stays locked while the daemon runs, so a second instance on
 * the same runtime directory is refused instead of taking over its sockets.
 */
static int lock_pidfile(struct mp_daemon *d)
{
	int fd;

	snprintf(d->pidfile, sizeof(d->pidfile), "%s/%s.pid", d->runtime_dir, d->name);
	fd = open(d->pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_err("cannot open pid file %s: %s", d->pidfile, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("another %s is running with runtime directory %s (%s is locked)", d->name, d->runtime_dir,
			d->pidfile);
		close(fd);
		d->pidfile[0] = '\0'; /* not ours to remove */
		return -1;
	}
	return fd;
}

static int write_pid(int fd, const char *path)
{
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		log_err("cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0; /* fd stays open: it holds the lock */
}

static int daemonize(void)
{
	pid_t pid = fork();
	int null;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0 || chdir("/") < 0)
		return -1;
	null = open("/dev/null", O_RDWR);
	if (null < 0)
		return -1;
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	if (null > STDERR_FILENO)
		close(null);
	return 0;
}

static void on_signal(evutil_socket_t signo, short what, void *arg)
{
	struct mp_daemon *d = arg;

	if (signo == SIGUSR1) {
		int level = mp_log_get_level() == LOG_DEBUG ? d->configured_level : LOG_DEBUG;

		mp_log_set_level(level);
		mp_log(level < LOG_INFO ? level : LOG_INFO, "log level is now %s", mp_log_level_name(level));
		return;
	}
	if (signo == SIGUSR2) {
		log_info("received %s, restarting in place", strsignal((int)signo));
		mp_daemon_notify("RELOADING=1");
	} else {
		log_info("received %s, stopping", strsignal((int)signo));
		mp_daemon_notify("STOPPING=1");
	}
	d->stop_signal = (int)signo;
	event_base_loopbreak(d->base);
}

/* The dispatcher adds and drops a connection's write event at nearly every
 * reply; libevent's changelist folds that into one epoll_ctl a loop turn
 * (make bench: calls set up 4,600 -> 6,000 a second).  Not in the relay,
 * whose forked snapshot writer holds copies of its sockets: libevent warns
 * that the changelist mishandles cloned descriptors.
 */
static struct event_base *new_event_base(enum mp_program program)
{
	struct event_config *config = event_config_new();
	struct event_base *base;

	if (!config)
		return NULL;
	if (program == MP_DISPATCHER)
		event_config_set_flag(config, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(config);
	event_config_free(config);
	return base;
}

int mp_daemon_start(struct mp_daemon *d)
{
	/* SIGUSR2, the relay's restart in place, only where it means that */
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	size_t n_signals = sizeof(signals) / sizeof(signals[0]) - (d->program == MP_RELAY ? 0 : 1);
	bool foreground = d->no_fork || d->systemd;
	int pid_fd;

	if (make_dir(d->runtime_dir) < 0) {
		log_err("cannot create runtime directory %s: %s", d->runtime_dir, strerror(errno));
		return -1;
	}
	pid_fd = lock_pidfile(d);
	if (pid_fd < 0)
		return -1;
	if (!foreground) {
		if (daemonize() < 0) {
			log_err("cannot become a daemon: %s", strerror(errno));
			return -1;
		}
		mp_log_open(d->name, MP_LOG_SYSLOG);
	}
	if (write_pid(pid_fd, d->pidfile) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	d->base = new_event_base(d->program);
	if (!d->base) {
		log_err("cannot create the event loop");
		return -1;
	}
	for (size_t i = 0; i < n_signals; i++) {
		d->signals[i] = evsignal_new(d->base, signals[i], on_signal, d);
		if (!d->signals[i] || evsignal_add(d->signals[i], NULL) < 0) {
			log_err("cannot install the handler for %s", strsignal(signals[i]));
			return -1;
		}
	}
	log_info("%s %s started (pid %d, runtime directory %s)", d->name, MP_VERSION, getpid(), d->runtime_dir);
	return 0;
}

void mp_daemon_run(struct mp_daemon *d)
{
	if (!d->ready) {
		mp_daemon_notify("READY=1");
		d->ready = true;
	}
	event_base_dispatch(d->base);
}

void mp_daemon_cleanup(struct mp_daemon *d)
{
	for (size_t i = 0; i < sizeof(d->signals) / sizeof(d->signals[0]); i++)
		if (d->signals[i])
			event_free(d->signals[i]);
	if (d->base)
		event_base_free(d->base);
	if (d->pidfile[0])
		unlink(d->pidfile);
	if (d->base)
		log_info("%s stopped", d->name);
}

void mp_daemon_exec_again(struct mp_daemon *d)
{
	/* the program file as it is now (a new version after an upgrade), not
	 * /proc/self/exe, which stays the old one
	 */
	if (close_range(3, ~0U, 0) < 0 || execv(d->exe, d->argv) < 0)
		log_err("cannot run %s again: %s", d->exe, strerror(errno));
}
