/* What the fuzz targets share (selftests/fuzz/README.md): the libFuzzer
 * entry points, checks of what the sanitizers cannot see, cutting an input
 * into parts, a client on a socketpair, and files for the parsers that
 * read one.
 */
#ifndef MP_FUZZ_H
#define MP_FUZZ_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <sanitizer/common_interface_defs.h>
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A promise of the code under test that no sanitizer checks: its failure
 * is a finding like a crash (libFuzzer saves the input).  The message goes
 * where the sanitizers report, which stays open when the runner closes
 * stderr.
 */
#define FUZZ_CHECK(cond)                                                                              \
	do {                                                                                          \
		if (!(cond))                                                                          \
			fuzz_check_failed(__FILE__, __LINE__, #cond);                                 \
	} while (0)

static inline void fuzz_check_failed(const char *file, int line, const char *cond)
{
	char summary[512];

	snprintf(summary, sizeof(summary), "fuzz check failed at %s:%d: %s", file, line, cond);
	__sanitizer_report_error_summary(summary);
	abort();
}

/* Every log line is formatted, as in the daemons, so that a bad format
 * argument shows; the runner closes stderr (-close_fd_mask=2), and a single
 * input replayed by hand shows them.
 */
static inline void fuzz_log_init(const char *name)
{
	mp_log_open(name, MP_LOG_JOURNAL);
	mp_log_set_level(LOG_DEBUG);
}

/* A byte range of the input. */
struct fuzz_bytes {
	const uint8_t *p;
	size_t len;
};

/* Cuts the next part off `in`, up to the first `sep_len` bytes `sep` (left
 * out); the last part is what remains.  false when `in` is used up.
 */
static inline bool fuzz_next_part(struct fuzz_bytes *in, const void *sep, size_t sep_len, struct fuzz_bytes *part)
{
	const uint8_t *stop;

	if (!in->p)
		return false;
	stop = memmem(in->p, in->len, sep, sep_len);
	if (!stop) {
		*part = *in;
		in->p = NULL;
		in->len = 0;
		return true;
	}
	*part = (struct fuzz_bytes){ in->p, (size_t)(stop - in->p) };
	in->len -= part->len + sep_len;
	in->p = stop + sep_len;
	return true;
}

/* A NUL-terminated copy (it may hold other NUL bytes). */
static inline char *fuzz_string(struct fuzz_bytes b)
{
	char *s = malloc(b.len + 1);

	if (!s)
		abort();
	memcpy(s, b.p, b.len);
	s[b.len] = '\0';
	return s;
}

/* The client end of a connection to the daemon's code: it writes `out`,
 * then shuts its sending side, and keeps what comes back in `got`.
 */
struct fuzz_peer {
	int fd;
	struct fuzz_bytes out;
	size_t written;
	bool shut;
	struct evbuffer *got;
};

/* A socketpair: returns the daemon's end, to hand to its accept callback. */
static inline int fuzz_peer_open(struct fuzz_peer *peer, struct fuzz_bytes out)
{
	int sv[2];

	*peer = (struct fuzz_peer){ .out = out, .got = evbuffer_new() };
	if (!peer->got || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv)) {
		perror("fuzz: socketpair");
		abort();
	}
	peer->fd = sv[1];
	return sv[0];
}

/* One step: writes what the socket takes, turns the event loop once and
 * reads the answers.  true once the daemon closed its end.
 */
static inline bool fuzz_peer_turn(struct fuzz_peer *peer, struct event_base *base)
{
	char buf[4096];
	ssize_t n;

	if (peer->written < peer->out.len) {
		n = send(peer->fd, peer->out.p + peer->written, peer->out.len - peer->written, MSG_NOSIGNAL);
		/* EPIPE: it closed before reading everything (a line too long) */
		FUZZ_CHECK(n > 0 || errno == EAGAIN || errno == EPIPE);
		peer->written = n < 0 && errno == EPIPE ? peer->out.len : peer->written + (n > 0 ? (size_t)n : 0);
	}
	if (peer->written == peer->out.len && !peer->shut)
		peer->shut = !shutdown(peer->fd, SHUT_WR);
	event_base_loop(base, EVLOOP_NONBLOCK);
	while ((n = read(peer->fd, buf, sizeof(buf))) > 0)
		evbuffer_add(peer->got, buf, (size_t)n);
	/* ECONNRESET: it closed with bytes of ours unread */
	FUZZ_CHECK(n == 0 || errno == EAGAIN || errno == ECONNRESET);
	return n == 0 || errno == ECONNRESET;
}

static inline void fuzz_peer_close(struct fuzz_peer *peer)
{
	close(peer->fd);
	evbuffer_free(peer->got);
}

/* A directory of this process for the files a parser reads, removed at
 * exit: under $TMPDIR (the runner gives build/fuzz/tmp), else /tmp.
 */
static char fuzz_dir_path[PATH_MAX];

/* The targets write plain files only. */
static inline void fuzz_dir_remove(void)
{
	DIR *dir = opendir(fuzz_dir_path);
	struct dirent *e;

	while (dir && (e = readdir(dir)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(dir), e->d_name, 0);
	if (dir)
		closedir(dir);
	rmdir(fuzz_dir_path);
}

static inline const char *fuzz_dir(void)
{
	if (!fuzz_dir_path[0]) {
		const char *tmp = getenv("TMPDIR");

		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "%s/mp-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(fuzz_dir_path)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(fuzz_dir_remove);
	}
	return fuzz_dir_path;
}

/* Writes `b` to `name` in fuzz_dir(); the path goes to `path`. */
static inline void fuzz_write_file(const char *name, struct fuzz_bytes b, char *path, size_t path_len)
{
	FILE *f;

	snprintf(path, path_len, "%s/%s", fuzz_dir(), name);
	f = fopen(path, "w");
	if (!f || fwrite(b.p, 1, b.len, f) != b.len || fclose(f)) {
		perror(path);
		abort();
	}
}

#endif
