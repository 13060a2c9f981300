#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include "lines.h"
#include "listener.h"
#include "log.h"
#include "proxy_socket.h"

struct proxy_client {
	LIST_ENTRY(proxy_client) link;
	struct proxy_socket *ps;
	struct bufferevent *bev;
	struct proxy_request req;      /* being read */
	struct dispatch_job *job;      /* being answered: reading waits meanwhile */
	bool dispatching;              /* inside dispatch_request(), which may answer at once */
	bool eof;                      /* the module shut its sending side: close once answered */
	unsigned long last_read;       /* when it last sent something, in reads of the socket */
};

struct proxy_socket {
	struct mp_listener *listener;
	unsigned long reads;           /* the clock of last_read */
	struct event_base *base;
	struct dispatch *d;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	LIST_HEAD(, proxy_client) clients;
};

static void client_free(struct proxy_client *c)
{
	if (c->job)
		dispatch_cancel(c->job);
	LIST_REMOVE(c, link);
	proxy_request_free(&c->req);
	bufferevent_free(c->bev);
	free(c);
}

/* A connection the module half-closed is closed once everything it sent
 * is answered and the answers are written.  Returns true when it closed.
 */
static bool client_done(struct proxy_client *c)
{
	if (!c->eof || c->job || c->dispatching || evbuffer_get_length(bufferevent_get_output(c->bev)))
		return false;
	client_free(c);
	return true;
}

static void client_read(struct bufferevent *bev, void *arg);

static void answered(void *ctx, const char *reply)
{
	struct proxy_client *c = ctx;
	struct evbuffer *out = evbuffer_new();

	c->job = NULL;
	/* one write per reply: the module reads until it sees CRLF */
	if (!out || evbuffer_add_printf(out, "%s\r\n", reply) < 0 || bufferevent_write_buffer(c->bev, out))
		log_err("proxy socket: cannot queue a reply");
	if (out)
		evbuffer_free(out);
	if (!c->eof)
		bufferevent_enable(c->bev, EV_READ);
	/* a request that arrived meanwhile (the modules never pipeline, but FIFO anyway) */
	if (!c->dispatching)
		client_read(c->bev, c);
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct proxy_client *c = arg;
	enum mp_frame_status status = MP_FRAME_PARTIAL;
	size_t len;
	char *line;

	c->last_read = ++c->ps->reads;
	while (!c->job && (status = mp_line_take(bufferevent_get_input(bev), PROXY_LINE_MAX, &line, &len)) ==
				  MP_FRAME_READY) {
		int done = proxy_request_add_line(&c->req, line, len);

		free(line);
		if (done < 0) {
			status = MP_FRAME_NO_MEMORY;
			break;
		}
		if (done) {
			struct dispatch_job *job;

			bufferevent_disable(bev, EV_READ);
			c->dispatching = true;
			job = dispatch_request(c->ps->d, &c->req, answered, c);
			c->dispatching = false;
			c->job = job; /* NULL: already answered */
		}
	}
	if (status == MP_FRAME_TOO_LONG)
		log_warn("proxy socket: a line longer than %d bytes; closing the connection", PROXY_LINE_MAX);
	else if (status == MP_FRAME_NO_MEMORY)
		log_err("proxy socket: out of memory; closing the connection");
	if (status == MP_FRAME_TOO_LONG || status == MP_FRAME_NO_MEMORY)
		client_free(c);
	else
		client_done(c);
}

static void client_written(struct bufferevent *bev, void *arg)
{
	client_done(arg);
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_client *c = arg;

	if (what & BEV_EVENT_ERROR) {
		client_free(c);
	} else if (what & BEV_EVENT_EOF) {
		c->eof = true;
		client_read(bev, c); /* requests still buffered are answered first */
	}
}

/* Out of descriptors: the client that has been silent longest, with no
 * answer owed, makes room (a module reconnects when it needs to).
 */
static bool close_idlest_client(void *arg)
{
	struct proxy_socket *ps = arg;
	struct proxy_client *c, *idlest = NULL;

	LIST_FOREACH(c, &ps->clients, link)
		if (!c->job && !c->dispatching && (!idlest || c->last_read < idlest->last_read))
			idlest = c;
	if (idlest)
		client_free(idlest);
	return idlest != NULL;
}

static void client_accept(void *arg, evutil_socket_t fd, struct sockaddr *addr, int len)
{
	struct proxy_socket *ps = arg;
	struct proxy_client *c = calloc(1, sizeof(*c));

	if (!c || !(c->bev = bufferevent_socket_new(ps->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->ps = ps;
	c->last_read = ++ps->reads;
	proxy_request_init(&c->req);
	bufferevent_setcb(c->bev, client_read, client_written, client_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&ps->clients, c, link);
}

/* Who may connect: [Dispatcher] socket_owner, socket_group, socket_mode. */
static int set_access(const char *path, const struct mp_config *cfg)
{
	const char *owner = cfg->dispatcher.socket_owner, *group = cfg->dispatcher.socket_group;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct passwd *pw;
	struct group *gr;

	if (owner[0]) {
		if (!(pw = getpwnam(owner)))
			return log_err("[Dispatcher] socket_owner: no user '%s'", owner), -1;
		uid = pw->pw_uid;
	}
	if (group[0]) {
		if (!(gr = getgrnam(group)))
			return log_err("[Dispatcher] socket_group: no group '%s'", group), -1;
		gid = gr->gr_gid;
	}
	if ((owner[0] || group[0]) && chown(path, uid, gid) < 0)
		return log_err("cannot give %s to %s:%s: %s", path, owner, group, strerror(errno)), -1;
	if (chmod(path, cfg->dispatcher.socket_mode) < 0)
		return log_err("cannot set the mode of %s: %s", path, strerror(errno)), -1;
	return 0;
}

struct proxy_socket *proxy_socket_open(struct event_base *base, const char *path, const struct mp_config *cfg,
				       struct dispatch *d)
{
	struct proxy_socket *ps = calloc(1, sizeof(*ps));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	static const struct mp_listener_opts listen_opts = { .name = "the proxy socket", .reclaim = close_idlest_client };
	struct evconnlistener *evl;

	if (!ps)
		return NULL;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_err("proxy socket path too long: %s", path);
		free(ps);
		return NULL;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	snprintf(ps->path, sizeof(ps->path), "%s", path);
	ps->base = base;
	ps->d = d;
	LIST_INIT(&ps->clients);
	unlink(path);
	evl = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, 128, (struct sockaddr *)&addr,
				      sizeof(addr));
	if (!evl || !(ps->listener = mp_listener_new(evl, &listen_opts, client_accept, ps))) {
		log_err("cannot listen on the proxy socket %s: %s", path, strerror(errno));
		proxy_socket_close(ps);
		return NULL;
	}
	if (set_access(path, cfg)) {
		proxy_socket_close(ps);
		return NULL;
	}
	log_info("listening for the SIP proxy on %s (mode %04o)", path, cfg->dispatcher.socket_mode);
	return ps;
}

void proxy_socket_close(struct proxy_socket *ps)
{
	if (!ps)
		return;
	while (!LIST_EMPTY(&ps->clients))
		client_free(LIST_FIRST(&ps->clients));
	if (ps->listener) {
		mp_listener_free(ps->listener);
		unlink(ps->path);
	}
	free(ps);
}
