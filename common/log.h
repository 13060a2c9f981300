/* Logging for both daemons: syslog, the terminal, or the systemd journal. */
#ifndef MP_LOG_H
#define MP_LOG_H

#include <syslog.h>
#include <time.h>

enum mp_log_target {
	MP_LOG_TERMINAL, /* stderr with a timestamp (--no-fork, start-up errors) */
	MP_LOG_JOURNAL,  /* stderr with <N> priority prefixes (--systemd) */
	MP_LOG_SYSLOG,   /* syslog(3), the daemon default */
};

/* Levels are syslog priorities: LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
void mp_log_open(const char *ident, enum mp_log_target target);
void mp_log_set_level(int level);
int mp_log_get_level(void);
const char *mp_log_level_name(int level);
void mp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line that may repeat many times a second (an accept error, a flood of
 * bad packets) is written at most once every MP_LOG_LIMIT_INTERVAL
 * seconds; the next one written says how many were left out.
 */
#define MP_LOG_LIMIT_INTERVAL 10
struct mp_log_limit {
	time_t last;
	unsigned left_out;
};
void mp_log_limited(struct mp_log_limit *limit, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_crit(...)  mp_log(LOG_CRIT, __VA_ARGS__)
#define log_err(...)   mp_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  mp_log(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  mp_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) mp_log(LOG_DEBUG, __VA_ARGS__)

#endif
