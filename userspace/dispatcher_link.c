#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include "dispatcher_link.h"
#include "log.h"
#include "request_parse.h"

#define MISSED_PINGS_MAX 3     /* doc/relay-protocol.md §6.5 */
#define EXPIRED_QUEUE_MAX 10000 /* notifications kept for an absent dispatcher */
#define STABLE_LINK_S 5         /* doc/relay-protocol.md §7: a link up this long was not flapping */

struct queued {
	struct queued *next;
	char *line; /* with CRLF */
};

/* One dispatcher: its connection, when there is one, lives here too. */
struct dispatcher {
	struct dispatcher_link *link;
	char name[300];            /* host:port, for the logs */
	struct mp_endpoint at;
	struct sockaddr_in addr;   /* where it was last found */
	struct bufferevent *bev;   /* NULL while disconnected */
	SSL *ssl;
	bool up;                   /* handshake and passport passed */
	struct request_block block;     /* a request being read */
	unsigned missed_pings;
	time_t up_since;
	bool lost_before;          /* the previous connection was lost too */
	struct event *ping, *retry;
	struct queued *queue, **queue_tail;
	unsigned queued;
};

struct dispatcher_link {
	struct event_base *base;
	const struct mp_config *cfg;
	struct mp_tls *tls;
	request_handler handle;
	void *owner;
	struct event *reverify, *dns;
	unsigned count;
	struct dispatcher *dispatchers;
	bool closing;              /* no more requests: the relay is stopping */
};

static void connect_to(struct dispatcher *d);

static void schedule_retry(struct dispatcher *d, unsigned seconds)
{
	struct timeval after = { .tv_sec = seconds };

	evtimer_add(d->retry, &after);
}

/* doc/relay-protocol.md §7: a stable link that breaks is retried after 1 s, a flapping one or a
 * failed attempt after reconnect_delay.
 */
static void disconnect(struct dispatcher *d, const char *why, bool certificate_error)
{
	const struct mp_config *cfg = d->link->cfg;
	bool was_up = d->up, stable = was_up && time(NULL) - d->up_since >= STABLE_LINK_S;
	unsigned delay = cfg->relay.reconnect_delay;

	if (was_up && !certificate_error && (stable || !d->lost_before))
		delay = 1;
	d->lost_before = was_up;
	log_info("dispatcher %s: %s; reconnecting in %u s", d->name, why, delay);
	evtimer_del(d->ping);
	request_block_clear(&d->block);
	if (d->bev)
		bufferevent_free(d->bev);
	d->bev = NULL;
	d->ssl = NULL;
	d->up = false;
	schedule_retry(d, delay);
}

static void send_line(struct dispatcher *d, const char *line, size_t len)
{
	bufferevent_write(d->bev, line, len);
}

static void flush_queue(struct dispatcher *d)
{
	while (d->queue) {
		struct queued *q = d->queue;

		d->queue = q->next;
		send_line(d, q->line, strlen(q->line));
		free(q->line);
		free(q);
	}
	d->queue_tail = &d->queue;
	d->queued = 0;
}

static void enqueue(struct dispatcher *d, const char *line)
{
	struct queued *q = calloc(1, sizeof(*q));

	if (!q || !(q->line = strdup(line))) {
		free(q);
		return;
	}
	if (d->queued == EXPIRED_QUEUE_MAX) { /* the oldest goes */
		struct queued *old = d->queue;

		d->queue = old->next;
		if (!d->queue)
			d->queue_tail = &d->queue;
		free(old->line);
		free(old);
		d->queued--;
		log_warn("dispatcher %s: too many expired reports queued; the oldest is lost", d->name);
	}
	*d->queue_tail = q;
	d->queue_tail = &q->next;
	d->queued++;
}

void dispatcher_link_expired(struct dispatcher_link *link, void *origin, const char *json)
{
	size_t len = strlen(json) + 11;
	char *line = malloc(len);

	if (!line)
		return;
	snprintf(line, len, "expired %s\r\n", json);
	for (unsigned i = 0; i < link->count; i++) {
		struct dispatcher *d = &link->dispatchers[i];

		if (origin && origin != d)
			continue;
		if (d->up)
			send_line(d, line, len - 1);
		else
			enqueue(d, line);
	}
	free(line);
}

static void keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct dispatcher *d = arg;

	if (d->missed_pings >= MISSED_PINGS_MAX) {
		disconnect(d, "missed 3 keepalive answers", false);
		return;
	}
	d->missed_pings++;
	send_line(d, "ping\r\n", 6);
}

/* A line from the dispatcher: pong, ping, or part of a request block. */
static int dispatcher_line(struct dispatcher *d, const char *line, size_t len)
{
	struct dispatcher_link *link = d->link;
	enum mp_frame_status status;

	if (d->block.len == 0 && len == 4 && !memcmp(line, "pong", 4)) {
		if (d->missed_pings)
			d->missed_pings--;
		return 0;
	}
	if (d->block.len == 0 && len == 4 && !memcmp(line, "ping", 4)) {
		send_line(d, "pong\r\n", 6);
		return 0;
	}
	status = request_block_add_line(&d->block, line, len);
	if (status == MP_FRAME_READY) {
		int err = request_answer(link->handle, link->owner, d, &d->block, bufferevent_get_output(d->bev),
					    d->name);

		request_block_clear(&d->block);
		return err;
	}
	return status == MP_FRAME_PARTIAL ? 0 : -1;
}

static void readable(struct bufferevent *bev, void *arg)
{
	struct dispatcher *d = arg;
	enum mp_frame_status status;
	size_t len;
	char *line;

	if (d->link->closing)
		return;
	while ((status = mp_line_take(bufferevent_get_input(bev), REQUEST_LINE_MAX, &line, &len)) == MP_FRAME_READY) {
		int err = dispatcher_line(d, line, len);

		free(line);
		if (err) {
			disconnect(d, "a request too long or out of memory", false);
			return;
		}
	}
	if (status != MP_FRAME_PARTIAL)
		disconnect(d, "a line longer than the limit", false);
}

static void event(struct bufferevent *bev, short what, void *arg)
{
	struct dispatcher *d = arg;
	const struct mp_config *cfg = d->link->cfg;
	struct timeval every = { .tv_sec = cfg->relay.keepalive_interval };
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (mp_tls_check_passport(d->ssl, &cfg->relay.passport, why, sizeof(why))) {
			log_warn("dispatcher %s refused due to wrong passport: %s", d->name, why);
			mp_tls_close_notify(d->ssl);
			disconnect(d, "wrong passport", false);
			return;
		}
		d->up = true;
		d->up_since = time(NULL);
		d->missed_pings = 0;
		evtimer_add(d->ping, &every);
		log_info("dispatcher %s: connected", d->name);
		flush_queue(d); /* before anything is answered (doc/relay-protocol.md §6.6) */
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long err = bufferevent_get_openssl_error(bev);

		mp_tls_error_reason(d->ssl, err, why, sizeof(why));
		disconnect(d, why, err != 0);
	} else if (what & BEV_EVENT_EOF) {
		disconnect(d, "closed by the dispatcher", false);
	}
}

/* The first target of the SRV record _sip._udp.<host> that is not "."
 * (the dispatcher lives beside the SIP proxy, so the proxy's record is
 * reused; priorities and the SRV port are ignored, as the original does).
 */
static bool srv_target(const char *host, char *target, size_t len)
{
	unsigned char answer[4096];
	char name[300];
	ns_msg msg;
	ns_rr rr;
	int n;

	snprintf(name, sizeof(name), "_sip._udp.%s", host);
	n = res_query(name, ns_c_in, ns_t_srv, answer, sizeof(answer));
	if (n < 0 || ns_initparse(answer, n, &msg))
		return false;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		/* rdata: priority, weight, port (2 bytes each), then the target name */
		if (ns_parserr(&msg, ns_s_an, i, &rr) || ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7 ||
		    dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 6, target, (int)len) < 0)
			continue;
		if (target[0] && strcmp(target, "."))
			return true;
	}
	return false;
}

/* doc/relay-protocol.md §2: an IPv4 literal as it is; a name by its SRV record, else its A record.
 * The configured port in every case.
 */
static int resolve(struct dispatcher *d, struct sockaddr_in *addr)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	char target[NS_MAXDNAME];
	const char *name = d->at.host;

	*addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(d->at.port) };
	if (inet_pton(AF_INET, name, &addr->sin_addr) == 1)
		return 0;
	if (srv_target(name, target, sizeof(target)))
		name = target;
	if (getaddrinfo(name, NULL, &hints, &res)) {
		log_warn("dispatcher %s: could resolve neither SRV nor A record", d->name);
		return -1;
	}
	addr->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	if (addr->sin_addr.s_addr != d->addr.sin_addr.s_addr) {
		char ip[INET_ADDRSTRLEN];

		log_info("dispatcher %s is %s%s%s", d->name, inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof(ip)),
			 name == target ? " by SRV record, target " : "", name == target ? target : "");
	}
	return 0;
}

static void connect_to(struct dispatcher *d)
{
	struct dispatcher_link *link = d->link;
	struct sockaddr_in addr;

	if (resolve(d, &addr)) {
		schedule_retry(d, link->cfg->relay.reconnect_delay);
		return;
	}
	d->addr = addr;
	d->ssl = mp_tls_new_ssl(link->tls);
	d->bev = d->ssl ? bufferevent_openssl_socket_new(link->base, -1, d->ssl, BUFFEREVENT_SSL_CONNECTING,
							 BEV_OPT_CLOSE_ON_FREE)
			: NULL;
	if (!d->bev) {
		if (d->ssl)
			SSL_free(d->ssl);
		d->ssl = NULL;
		schedule_retry(d, link->cfg->relay.reconnect_delay);
		return;
	}
	bufferevent_setcb(d->bev, readable, NULL, event, d);
	bufferevent_enable(d->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(d->bev, (struct sockaddr *)&addr, sizeof(addr))) {
		disconnect(d, strerror(errno), false);
		return;
	}
	/* requests and replies are small lines: Nagle would hold one back until
	 * the peer's delayed ACK of the one before */
	setsockopt(bufferevent_getfd(d->bev), IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
}

static void retry(evutil_socket_t fd, short what, void *arg)
{
	connect_to(arg);
}

/* doc/relay-protocol.md §2: names are looked up again every dns_check_interval; a dispatcher
 * that moved is reconnected to at its new address.
 */
static void dns_check(evutil_socket_t fd, short what, void *arg)
{
	struct dispatcher_link *link = arg;
	struct sockaddr_in addr;

	for (unsigned i = 0; i < link->count; i++) {
		struct dispatcher *d = &link->dispatchers[i];

		if (d->up && !resolve(d, &addr) && addr.sin_addr.s_addr != d->addr.sin_addr.s_addr)
			disconnect(d, "its address changed", false);
	}
}

/* doc/relay-protocol.md §3.3 on the relay's side. */
static void reverify_all(evutil_socket_t fd, short what, void *arg)
{
	struct dispatcher_link *link = arg;
	char why[256];

	mp_tls_reload_crl(link->tls);
	for (unsigned i = 0; i < link->count; i++) {
		struct dispatcher *d = &link->dispatchers[i];

		if (d->up && mp_tls_reverify(link->tls, d->ssl, why, sizeof(why)))
			disconnect(d, why, true);
	}
}

struct dispatcher_link *dispatcher_link_new(struct event_base *base, const struct mp_config *cfg, struct mp_tls *tls,
					    request_handler handle, void *owner)
{
	struct dispatcher_link *link = calloc(1, sizeof(*link));
	const struct mp_endpoint_list *list = &cfg->relay.dispatchers;
	struct timeval every = { .tv_sec = cfg->tls.verify_interval }, dns_every = { .tv_sec = cfg->relay.dns_check_interval };

	if (!link)
		return NULL;
	*link = (struct dispatcher_link){ .base = base, .cfg = cfg, .tls = tls, .handle = handle, .owner = owner };
	link->dispatchers = calloc(list->count ? list->count : 1, sizeof(*link->dispatchers));
	link->reverify = event_new(base, -1, EV_PERSIST, reverify_all, link);
	link->dns = event_new(base, -1, EV_PERSIST, dns_check, link);
	if (!link->dispatchers || !link->reverify || event_add(link->reverify, &every) || !link->dns ||
	    event_add(link->dns, &dns_every)) {
		dispatcher_link_free(link);
		return NULL;
	}
	if (!list->count)
		log_err("[Relay] dispatchers is empty: no dispatcher will send sessions");
	for (unsigned i = 0; i < list->count; i++) {
		struct dispatcher *d = &link->dispatchers[i];

		d->link = link;
		d->at = list->item[i];
		snprintf(d->name, sizeof(d->name), "%s:%u", d->at.host, d->at.port);
		request_block_init(&d->block);
		d->queue_tail = &d->queue;
		d->ping = event_new(base, -1, EV_PERSIST, keepalive, d);
		d->retry = evtimer_new(base, retry, d);
		link->count++;
		if (!d->ping || !d->retry) {
			dispatcher_link_free(link);
			return NULL;
		}
		connect_to(d);
	}
	return link;
}

void dispatcher_link_close_requests(struct dispatcher_link *link)
{
	link->closing = true;
}

void dispatcher_link_free(struct dispatcher_link *link)
{
	if (!link)
		return;
	for (unsigned i = 0; i < link->count; i++) {
		struct dispatcher *d = &link->dispatchers[i];

		if (d->bev) {
			if (d->up)
				mp_tls_close_notify(d->ssl);
			bufferevent_free(d->bev);
		}
		request_block_free(&d->block);
		if (d->ping)
			event_free(d->ping);
		if (d->retry)
			event_free(d->retry);
		while (d->queue) {
			struct queued *q = d->queue;

			d->queue = q->next;
			free(q->line);
			free(q);
		}
	}
	if (link->reverify)
		event_free(link->reverify);
	if (link->dns)
		event_free(link->dns);
	free(link->dispatchers);
	free(link);
}

const char *dispatcher_link_origin_name(void *origin)
{
	return ((struct dispatcher *)origin)->name;
}

void *dispatcher_link_origin(void *ctx, const char *name)
{
	struct dispatcher_link *link = ctx;

	for (unsigned i = 0; i < link->count; i++)
		if (!strcmp(link->dispatchers[i].name, name))
			return &link->dispatchers[i];
	return NULL; /* no longer configured: reported to every dispatcher */
}
