// SPDX-License-Identifier: GPL-2.0
/* cpload: plays a SIP proxy's mediaproxy module against the dispatcher's
 * UNIX socket with many calls: each call is an update for the INVITE's
 * offer, an update for the 200 OK's answer and, HOLD seconds later, a
 * remove.  Like the module's workers, each connection has at most one
 * request outstanding.  With -g it plays a proxy's rtpengine module
 * instead: ng offer, answer and delete (bencoded, over UDP), to compare.
 *
 *   cpload -s SOCKET | -g IP:PORT [-c CONNECTIONS] [-r CALLS_PER_S] [-d SECONDS] [-h HOLD] [-n CALLS] [-k]
 *          [-e EVENTS] [-R]
 *
 * Without -r every connection starts its next call as soon as the last one
 * ended (saturation).  With -r calls start at that rate, whichever
 * connection is free.  After SECONDS, or CALLS calls, no call starts; the
 * calls still held are removed when their HOLD is up, or with -k stay up.
 * Prints one JSON line: calls completed (per second: within SECONDS),
 * failures, the calls held at the end, and the latency percentiles (ms) of
 * update and remove.
 *
 * A request that fails ends its call.  -e writes a line per request into
 * EVENTS as its outcome is known, tab-separated: the time (CLOCK_MONOTONIC,
 * in seconds), the call's number (its Call-ID is cpload-N), offer, answer or remove, the
 * outcome, the answer up to its first line break and the request's latency
 * (ms).  The outcome is ok,
 * error (the answer was error), lost (the connection closed first, or with
 * -g an ICMP error came back), unreachable (no connection could be made)
 * or timeout (no answer within REPLY_TIMEOUT).  Without -R cpload stops at
 * the first request that got no answer; with -R (a dispatcher that
 * restarts) the call fails and its connection is made again for the next
 * request.  -R goes with -s only: ng over UDP has no connection to make
 * again, and cpload refuses -g with -R.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REPLY_TIMEOUT 10.0 /* seconds */

enum step { IDLE, OFFER, ANSWER, REMOVE };
static const char *const step_names[] = { [OFFER] = "offer", [ANSWER] = "answer", [REMOVE] = "remove" };

struct conn {
	int fd;
	enum step step;
	unsigned call;
	double sent_at;
	char in[4096];
	size_t in_len;
};

static bool ng; /* rtpengine's ng protocol instead of the mediaproxy module's */

struct samples {
	double *v;
	size_t n, cap;
};

static unsigned next_call, completed, failed;
static double last_start;
static unsigned *due_calls;	/* calls to remove, in the order they were answered */
static double *due_at;
static size_t due_head, due_tail;
static struct samples update_ms, remove_ms;
static struct sockaddr_un addr = { .sun_family = AF_UNIX };
static struct sockaddr_in ng_to = { .sin_family = AF_INET };
static int ep;
static FILE *events;
static bool reconnect;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		if (!(s->v = realloc(s->v, s->cap * sizeof(*s->v)))) {
			perror("cpload");
			exit(1);
		}
	}
	s->v[s->n++] = v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void print_percentiles(const char *name, struct samples *s)
{
	static const double ps[] = { 50, 99, 99.9 };

	qsort(s->v, s->n, sizeof(*s->v), cmp);
	printf("\"%s\": {\"count\": %zu", name, s->n);
	for (int i = 0; i < 3 && s->n; i++)
		printf(", \"p%g\": %.3f", ps[i], s->v[(size_t)ceil(ps[i] / 100 * s->n) - 1]);
	printf("}");
}

/* An ng request (bencoded, keys in order) for call i: offer, answer or
 * delete.  rtpengine answers a cookie it saw recently with that request's
 * cached reply, whatever the command: the cookie names the run (pid), the
 * call and the step, so that no request is mistaken for another.
 */
static int ng_request(char *buf, size_t size, unsigned i, enum step step, unsigned port)
{
	char sdp[256], call[32], from[32], to[32];
	int len = 0;

	snprintf(call, sizeof(call), "cpload-%u", i);
	snprintf(from, sizeof(from), "f%u", i);
	snprintf(to, sizeof(to), "t%u", i);
	if (step != REMOVE)
		snprintf(sdp, sizeof(sdp),
			 "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %u RTP/AVP 0\r\n"
			 "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
			 step == OFFER ? "198.18.1.7" : "198.18.2.9", step == OFFER ? "198.18.1.7" : "198.18.2.9", port);
	len = snprintf(buf, size, "%d_%u_%d d7:call-id%zu:%s7:command%zu:%s8:from-tag%zu:%s", (int)getpid(), i,
		       (int)step, strlen(call), call,
		       strlen(step == OFFER ? "offer" : step == ANSWER ? "answer" : "delete"),
		       step == OFFER ? "offer" : step == ANSWER ? "answer" : "delete", strlen(from), from);
	if (step != REMOVE)
		len += snprintf(buf + len, size - len, "3:sdp%zu:%s", strlen(sdp), sdp);
	if (step == ANSWER)
		len += snprintf(buf + len, size - len, "6:to-tag%zu:%s", strlen(to), to);
	return len + snprintf(buf + len, size - len, "e");
}

/* The answer up to its first line break: an ng answer carries the SDP. */
static void event(const struct conn *c, const char *outcome, const char *reply)
{
	if (events)
		fprintf(events, "%.6f\t%u\t%s\t%s\t%.*s\t%.3f\n", now_s(), c->call, step_names[c->step], outcome,
			(int)strcspn(reply, "\t\r\n"), reply, (now_s() - c->sent_at) * 1000);
}

/* ng: one UDP socket a connection, connected to rtpengine */
static int connect_conn(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if ((c->fd = socket(ng ? AF_INET : AF_UNIX, (ng ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if ((ng ? connect(c->fd, (struct sockaddr *)&ng_to, sizeof(ng_to))
		: connect(c->fd, (struct sockaddr *)&addr, sizeof(addr))) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev)) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

/* The connection closed, or cannot be made: with -R it is made again for
 * the next request, without it cpload stops (-1).
 */
static int drop(struct conn *c)
{
	if (!reconnect)
		return -1;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return 0;
}

/* c's request got no answer (OUTCOME): its call fails. */
static int unanswered(struct conn *c, const char *outcome)
{
	event(c, outcome, "");
	failed++;
	c->step = IDLE;
	return drop(c);
}

/* Caller A_IP:20000+2i, callee B_IP likewise; ports wrap: they only need to be valid. */
static int request(struct conn *c, enum step step)
{
	unsigned i = c->call, port = 20000 + 2 * (i % 20000);
	char buf[1024], to_tag[32] = "";
	int n;

	if (ng)
		n = ng_request(buf, sizeof(buf), i, step, port);
	else if (step == REMOVE)
		n = snprintf(buf, sizeof(buf), "remove\r\ncall_id: cpload-%u\r\nfrom_tag: f%u\r\nto_tag: t%u\r\n\r\n",
			     i, i, i);
	else {
		if (step == ANSWER)
			snprintf(to_tag, sizeof(to_tag), "t%u", i);
		n = snprintf(buf, sizeof(buf),
			     "update\r\ntype: %s\r\ndialog_id: %u:1\r\ncall_id: cpload-%u\r\ncseq: 1\r\n"
			     "from_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: f%u\r\n"
			     "to_tag: %s\r\nuser_agent: cpload\r\nsignaling_ip: %s\r\nmedia_relay: \r\n"
			     "media: audio:%s:%u:sendrecv:ice=no\r\n\r\n",
			     step == OFFER ? "request" : "reply", i, i, i, to_tag,
			     step == OFFER ? "198.18.1.7" : "198.18.2.9", step == OFFER ? "198.18.1.7" : "198.18.2.9",
			     port);
	}
	c->step = step;
	c->in_len = 0;
	c->sent_at = now_s();
	if (c->fd < 0 && connect_conn(c))
		return unanswered(c, "unreachable");
	/* a request is far below the socket buffer: one write takes it whole */
	return send(c->fd, buf, n, MSG_NOSIGNAL) == n ? 0 : unanswered(c, "lost");
}

/* A reply arrived on c: the next step of its call. */
static int advance(struct conn *c, const char *reply, double hold)
{
	double ms = (now_s() - c->sent_at) * 1000;
	int ok = ng ? strstr(reply, "6:result2:ok") != NULL
		    : c->step == REMOVE ? !strcmp(reply, "removed") : strcmp(reply, "error") != 0;

	add(c->step == REMOVE ? &remove_ms : &update_ms, ms);
	event(c, ok ? "ok" : "error", reply);
	if (!ok) {
		failed++;
		c->step = IDLE;
		return 0;
	}
	switch (c->step) {
	case OFFER:
		return request(c, ANSWER);
	case ANSWER:
		if (hold > 0) {	/* removed later, by whichever connection is free */
			due_calls[due_tail] = c->call;
			due_at[due_tail++] = now_s() + hold;
			c->step = IDLE;
			return 0;
		}
		return request(c, REMOVE);
	default:
		completed++;
		c->step = IDLE;
		return 0;
	}
}

int main(int argc, char **argv)
{
	const char *path = NULL, *ng_addr = NULL, *events_path = NULL;
	int conns = 8, opt;
	double rate = 0, seconds = 5, hold = 0, start, end, next_start;
	struct conn *cs;
	size_t max_calls, limit = 0;
	unsigned completed_in_time = 0;
	bool keep = false;

	while ((opt = getopt(argc, argv, "s:g:c:r:d:h:n:ke:R")) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'g': ng_addr = optarg; break;
		case 'c': conns = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'h': hold = atof(optarg); break;
		case 'n': limit = strtoul(optarg, NULL, 10); break;
		case 'k': keep = true; break;
		case 'e': events_path = optarg; break;
		case 'R': reconnect = true; break;
		default: goto usage;
		}
	}
	if (ng_addr) {
		char ip[64];
		unsigned port;

		ng = true;
		if (sscanf(ng_addr, "%63[0-9.]:%u", ip, &port) != 2 || inet_pton(AF_INET, ip, &ng_to.sin_addr) != 1)
			goto usage;
		ng_to.sin_port = htons((uint16_t)port);
	} else if (!path || strlen(path) >= sizeof(addr.sun_path)) {
		goto usage;
	} else {
		strcpy(addr.sun_path, path);
	}
	if (conns < 1 || (ng && reconnect))
		goto usage;
	if (events_path) {
		if (!(events = fopen(events_path, "w"))) {
			fprintf(stderr, "cpload: %s: %s\n", events_path, strerror(errno));
			return 1;
		}
		setvbuf(events, NULL, _IOLBF, 0);
	}
	max_calls = 100000 + (size_t)(rate * seconds * 2);
	if (limit && limit < max_calls)
		max_calls = limit;
	cs = calloc(conns, sizeof(*cs));
	due_calls = calloc(max_calls, sizeof(*due_calls));
	due_at = calloc(max_calls, sizeof(*due_at));
	if (!cs || !due_calls || !due_at || (ep = epoll_create1(0)) < 0)
		return 1;
	for (int i = 0; i < conns; i++) {
		if (connect_conn(&cs[i])) {
			fprintf(stderr, "cpload: connecting to %s: %s\n", ng ? ng_addr : path, strerror(errno));
			return 1;
		}
	}

	start = next_start = now_s();
	end = start + seconds;
	for (;;) {
		struct epoll_event evs[64];
		double t = now_s();
		int busy = 0, n, starting = t < end && next_call < max_calls;

		/* free connections: removes that are due first, then new calls */
		for (int i = 0; i < conns; i++) {
			struct conn *c = &cs[i];

			if (c->step != IDLE && t - c->sent_at > REPLY_TIMEOUT && unanswered(c, "timeout"))
				goto broken;
			if (c->step == IDLE && due_head < due_tail && due_at[due_head] <= t) {
				c->call = due_calls[due_head++];
				if (request(c, REMOVE))
					goto broken;
			} else if (c->step == IDLE && starting && next_call < max_calls && (!rate || next_start <= t)) {
				c->call = next_call++;
				next_start += rate ? 1 / rate : 0;
				last_start = t;
				if (request(c, OFFER))
					goto broken;
			}
			busy += c->step != IDLE;
		}
		if (t < end)
			completed_in_time = completed;
		if (!starting && !busy && (keep || due_head == due_tail))
			break;
		n = epoll_wait(ep, evs, 64, rate || hold ? 1 : 100);
		for (int e = 0; e < n; e++) {
			struct conn *c = evs[e].data.ptr;
			ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
			char *crlf;

			if (r <= 0) {
				if (c->step == IDLE ? drop(c) : unanswered(c, "lost"))
					goto broken;
				continue;
			}
			c->in_len += r;
			c->in[c->in_len] = 0;
			if (ng) { /* one datagram, one whole reply */
				if (advance(c, c->in, hold))
					goto broken;
			} else if ((crlf = strstr(c->in, "\r\n"))) {
				*crlf = 0;
				if (advance(c, c->in, hold))
					goto broken;
			}
		}
	}
	end = now_s();
	printf("{\"started\": %u, \"started_per_s\": %.1f, \"calls\": %u, \"failed\": %u, \"seconds\": %.3f, "
	       "\"calls_per_s\": %.1f, \"held\": %zu, ",
	       next_call, next_call / (last_start - start), completed, failed, end - start,
	       completed_in_time / fmin(seconds, end - start),
	       due_tail - due_head);
	print_percentiles("update_ms", &update_ms);
	printf(", ");
	print_percentiles("remove_ms", &remove_ms);
	printf("}\n");
	return 0;
broken:
	fprintf(stderr, "cpload: %s closed a connection, could not be reached or did not answer\n", ng ? ng_addr : path);
	return 1;
usage:
	fprintf(stderr, "usage: cpload -s SOCKET | -g IP:PORT [-c CONNECTIONS] [-r CALLS_PER_S] [-d SECONDS] [-h HOLD] "
			"[-n CALLS] [-k] [-e EVENTS] [-R]\n"
			"       (-R with -s only: ng over UDP has no connection to make again)\n");
	return 2;
}
