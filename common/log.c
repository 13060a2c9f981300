#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "log.h"

static const char *log_ident = "mediaproxy";
static enum mp_log_target log_target = MP_LOG_TERMINAL;
static int log_level = LOG_INFO;

void mp_log_open(const char *ident, enum mp_log_target target)
{
	log_ident = ident;
	log_target = target;
	if (target == MP_LOG_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void mp_log_set_level(int level)
{
	log_level = level;
}

int mp_log_get_level(void)
{
	return log_level;
}

const char *mp_log_level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
		return "CRITICAL";
	case LOG_ERR:
		return "ERROR";
	case LOG_WARNING:
	case LOG_NOTICE:
		return "WARNING";
	case LOG_INFO:
		return "INFO";
	default:
		return "DEBUG";
	}
}

static void log_line(int level, const char *msg);

void mp_log(int level, const char *fmt, ...)
{
	/* a session's statistics, logged whole when it ends, take about 1.3 KB
	 * a stream: room for six (rsyslog's default limit is 8 KiB) */
	char msg[8192];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(level, msg);
}

void mp_log_limited(struct mp_log_limit *limit, int level, const char *fmt, ...)
{
	time_t now = time(NULL);
	char msg[1024];
	int n;
	va_list ap;

	if (level > log_level)
		return;
	if (limit->last && now - limit->last < MP_LOG_LIMIT_INTERVAL) {
		limit->left_out++;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (limit->left_out && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, " (and %u times more since the last report)", limit->left_out);
	limit->last = now;
	limit->left_out = 0;
	log_line(level, msg);
}

static void log_line(int level, const char *msg)
{
	switch (log_target) {
	case MP_LOG_SYSLOG:
		syslog(level, "%s", msg);
		break;
	case MP_LOG_JOURNAL:
		/* journald reads the <N> prefix of each stderr line as its priority */
		fprintf(stderr, "<%d>%s\n", level, msg);
		break;
	case MP_LOG_TERMINAL: {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		strftime(stamp, sizeof(stamp), "%F %T", localtime_r(&now, &tm));
		fprintf(stderr, "%s %s %s: %s\n", stamp, log_ident, mp_log_level_name(level), msg);
		break;
	}
	}
}
