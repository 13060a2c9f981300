/* What a unit test's code under test logs: stderr goes to a temporary file
 * between log_capture_start() and log_capture_end(), which returns it.
 */
#ifndef MP_LOG_CAPTURE_H
#define MP_LOG_CAPTURE_H

#include <stdio.h>
#include <unistd.h>

struct log_capture {
	FILE *tmp;
	int saved;
};

static inline void log_capture_start(struct log_capture *c)
{
	c->tmp = tmpfile();
	c->saved = dup(STDERR_FILENO);
	assert_non_null(c->tmp);
	fflush(stderr);
	dup2(fileno(c->tmp), STDERR_FILENO);
}

/* The text logged since log_capture_start(), up to 4 KiB; valid until the next call. */
static inline const char *log_capture_end(struct log_capture *c)
{
	static char out[4096];
	size_t n;

	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	rewind(c->tmp);
	n = fread(out, 1, sizeof(out) - 1, c->tmp);
	out[n] = '\0';
	fclose(c->tmp);
	return out;
}

#endif
