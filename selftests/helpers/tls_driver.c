/* A TLS server or client on loopback built on userspace/tls.h and libevent's
 * bufferevent_openssl, the way the daemons use them; selftests/test_tls.sh
 * drives it and reads what it prints on stdout (one event a line).
 *
 *   tls_driver find CERTS_PATH ROLE [DIR...]
 *	prints the four files mp_tls_find_files picks, searching DIR... in order
 *   tls_driver server CERTS_PATH ROLE PORT [OPTIONS]
 *	listens on 127.0.0.1:PORT (0: any; "listening on 127.0.0.1:N" says which)
 *   tls_driver client CERTS_PATH ROLE PORT [OPTIONS]
 *	connects to 127.0.0.1:PORT
 * OPTIONS:
 *   --passport TEXT  the passport the peer's certificate must match
 *   --reverify SECS  every SECS seconds reload crl.pem and re-verify the peer(s)
 *   --hold SECS      client: stay connected SECS seconds after the server's hello
 *
 * After the handshake and the passport check each side sends "hello <the
 * peer's subject>".  The client exits 0 when it received the server's hello
 * (and held the connection), 1 when it did not, 3 when the connection ended
 * while holding it.  The server runs until killed.  An error at start exits 2.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include "config_types.h"
#include "log.h"
#include "tls.h"

#define MAX_CONNS 64

struct conn {
	struct bufferevent *bev;
	SSL *ssl;
	int connected; /* handshake and passport passed */
};

static struct event_base *base;
static struct mp_tls *tls;
static struct mp_passport passport;
static int is_server, exit_code = 1, hold_seconds, got_hello;
static struct conn conns[MAX_CONNS];

static void usage(void)
{
	fprintf(stderr, "usage: tls_driver find CERTS_PATH ROLE [DIR...]\n"
			"       tls_driver server|client CERTS_PATH ROLE PORT [--passport TEXT] [--reverify SECS] "
			"[--hold SECS]\n");
	exit(2);
}

static void conn_close(struct conn *c, int notify)
{
	if (notify)
		mp_tls_close_notify(c->ssl);
	bufferevent_free(c->bev);
	memset(c, 0, sizeof(*c));
}

static void client_done(int code)
{
	exit_code = code;
	event_base_loopbreak(base);
}

static void hold_over(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	printf("hold over\n");
	conn_close(c, 1);
	client_done(0);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	char *line;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), NULL, EVBUFFER_EOL_LF))) {
		printf("received: %s\n", line);
		free(line);
		if (!is_server && !got_hello) {
			got_hello = 1;
			if (!hold_seconds) {
				conn_close(c, 1);
				client_done(0);
				return;
			}
			event_base_once(base, -1, EV_TIMEOUT, hold_over, c, &(struct timeval){ hold_seconds, 0 });
		}
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char subject[512], why[512];

	if (what & BEV_EVENT_CONNECTED) {
		mp_tls_peer_subject(c->ssl, subject, sizeof(subject));
		if (mp_tls_check_passport(c->ssl, &passport, why, sizeof(why))) {
			printf("refused due to wrong passport: %s\n", why);
			conn_close(c, 1);
			if (!is_server)
				client_done(1);
			return;
		}
		printf("%s: %s\n", is_server ? "accepted" : "connected", subject);
		c->connected = 1;
		evbuffer_add_printf(bufferevent_get_output(bev), "hello %s\n", subject);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		unsigned long err = (what & BEV_EVENT_ERROR) ? bufferevent_get_openssl_error(bev) : 0;

		mp_tls_error_reason(c->ssl, err, why, sizeof(why));
		if (what & BEV_EVENT_EOF)
			snprintf(why, sizeof(why), "closed by the peer");
		printf("%s: %s\n", c->connected ? "connection ended" : "handshake failed", why);
		conn_close(c, 0);
		if (!is_server)
			client_done(got_hello ? 3 : 1);
	}
}

static struct conn *conn_new(evutil_socket_t fd)
{
	struct conn *c = NULL;
	SSL *ssl;

	for (int i = 0; i < MAX_CONNS && !c; i++)
		if (!conns[i].bev)
			c = &conns[i];
	if (!c || !(ssl = mp_tls_new_ssl(tls))) {
		printf("cannot take another connection\n");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c->ssl = ssl;
	c->bev = bufferevent_openssl_socket_new(base, fd, ssl,
						is_server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		SSL_free(ssl);
		memset(c, 0, sizeof(*c));
		return NULL;
	}
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	conn_new(fd);
}

static void reverify(evutil_socket_t fd, short what, void *arg)
{
	char why[512];

	if (mp_tls_reload_crl(tls) == 1)
		printf("crl reloaded\n");
	for (int i = 0; i < MAX_CONNS; i++) {
		if (!conns[i].bev || !conns[i].connected)
			continue;
		if (mp_tls_reverify(tls, conns[i].ssl, why, sizeof(why))) {
			printf("reverify failed: %s; closing\n", why);
			conn_close(&conns[i], 1);
			if (!is_server)
				client_done(3);
		} else {
			printf("reverify ok\n");
		}
	}
}

static int find(int argc, char **argv)
{
	struct mp_tls_files files;
	char err[1024];

	if (argc < 4)
		usage();
	if (mp_tls_find_files(argv[2], (const char *const *)argv + 4, argc - 4, argv[3], &files, err, sizeof(err))) {
		printf("error: %s\n", err);
		return 1;
	}
	printf("dir %s\nca %s\ncrl %s\ncert %s\nkey %s\n", files.dir, files.ca, files.crl, files.cert, files.key);
	return 0;
}

int main(int argc, char **argv)
{
	struct mp_tls_files files;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *cwd[] = { "." };
	char err[1024];
	unsigned reverify_seconds = 0;
	struct event *timer = NULL;
	struct evconnlistener *listener = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	mp_log_open("tls_driver", MP_LOG_TERMINAL);
	if (argc >= 2 && !strcmp(argv[1], "find"))
		return find(argc, argv);
	if (argc < 5 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
		usage();
	is_server = !strcmp(argv[1], "server");
	for (int i = 5; i < argc; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--passport")) {
			if (mp_parse_passport(argv[i + 1], &passport, 0, err, sizeof(err))) {
				fprintf(stderr, "tls_driver: bad passport: %s\n", err);
				return 2;
			}
		} else if (!strcmp(argv[i], "--reverify")) {
			reverify_seconds = (unsigned)atoi(argv[i + 1]);
		} else if (!strcmp(argv[i], "--hold")) {
			hold_seconds = atoi(argv[i + 1]);
		} else {
			usage();
		}
	}
	if (mp_tls_find_files(argv[2], cwd, 1, argv[3], &files, err, sizeof(err)) ||
	    !(tls = mp_tls_new(&files, is_server ? MP_TLS_SERVER : MP_TLS_CLIENT, err, sizeof(err)))) {
		log_err("%s; not starting", err);
		printf("start failed: %s\n", err);
		return 2;
	}
	base = event_base_new();
	sin.sin_port = htons((uint16_t)atoi(argv[4]));
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (reverify_seconds) {
		timer = event_new(base, -1, EV_PERSIST, reverify, NULL);
		event_add(timer, &(struct timeval){ reverify_seconds, 0 });
	}
	if (is_server) {
		socklen_t len = sizeof(sin);

		listener = evconnlistener_new_bind(base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
						   (struct sockaddr *)&sin, sizeof(sin));
		if (!listener) {
			printf("start failed: cannot listen on 127.0.0.1:%s\n", argv[4]);
			return 2;
		}
		getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&sin, &len);
		printf("listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
	} else {
		struct conn *c = conn_new(-1);

		if (!c || bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin))) {
			printf("handshake failed: cannot connect\n");
			return 1;
		}
	}
	event_base_dispatch(base);
	if (listener)
		evconnlistener_free(listener);
	if (timer)
		event_free(timer);
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].bev)
			conn_close(&conns[i], 0);
	event_base_free(base);
	mp_tls_free(tls);
	return is_server ? 0 : exit_code;
}
