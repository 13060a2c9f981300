/* The local control socket (control.h).  Each client's bytes go through
 * the protocol's framing (request_parse.h); each complete block is parsed
 * and handed to the owner's handler, and its reply is queued at once, so a
 * client's replies keep the order of its requests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include "control.h"
#include "listener.h"
#include "log.h"
#include "request_parse.h"

/* Replies a client has not read yet beyond which its requests are no longer
 * read, so that a client that only writes cannot make us buffer without end.
 */
#define REPLY_BACKLOG_MAX (1024 * 1024)

struct control_client {
	LIST_ENTRY(control_client) link;
	struct control *control;
	unsigned id;               /* names the client in log lines */
	struct bufferevent *bev;
	struct request_block block;
	bool paused;               /* not reading: too many unread replies */
	bool closing;              /* the client stopped sending: leave once replies are out */
};

struct control {
	struct event_base *base;
	struct mp_listener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	request_handler handle;
	void *owner;
	unsigned next_client_id;
	LIST_HEAD(, control_client) clients;
};

static void client_free(struct control_client *client)
{
	LIST_REMOVE(client, link);
	bufferevent_free(client->bev);
	request_block_free(&client->block);
	free(client);
}

/* Parses the client's complete block, runs it and queues the reply. */
static int answer_block(struct control_client *client)
{
	struct control *control = client->control;
	struct evbuffer *out = bufferevent_get_output(client->bev);
	char who[32];

	snprintf(who, sizeof(who), "control client %u", client->id);
	if (request_answer(control->handle, control->owner, NULL, &client->block, out, who)) {
		log_err("%s: out of memory; disconnecting", who);
		return -1;
	}
	return 0;
}

/* Frames and answers what the client sent, until its input holds no
 * complete block or too many of its replies are unread.
 */
static void client_read(struct bufferevent *bev, void *arg)
{
	struct control_client *client = arg;
	struct evbuffer *input = bufferevent_get_input(bev);
	enum mp_frame_status status;
	size_t len;
	char *line;

	while (evbuffer_get_length(bufferevent_get_output(bev)) < REPLY_BACKLOG_MAX) {
		status = mp_line_take(input, REQUEST_LINE_MAX, &line, &len);
		if (status == MP_FRAME_PARTIAL)
			return;
		if (status == MP_FRAME_READY) {
			status = request_block_add_line(&client->block, line, len);
			free(line);
		}
		if (status == MP_FRAME_TOO_LONG || status == MP_FRAME_NO_MEMORY) {
			log_warn("control client %u: %s; disconnecting", client->id,
				 status == MP_FRAME_NO_MEMORY ? "out of memory" :
				 "a line longer than 64 KiB");
			client_free(client);
			return;
		}
		if (status == MP_FRAME_READY) {
			if (answer_block(client)) {
				client_free(client);
				return;
			}
			request_block_clear(&client->block);
		}
	}
	client->paused = true;
	bufferevent_disable(bev, EV_READ);
}

/* Called when the client has read all its replies. */
static void client_drained(struct bufferevent *bev, void *arg)
{
	struct control_client *client = arg;

	if (client->closing) {
		client_free(client);
	} else if (client->paused) {
		client->paused = false;
		bufferevent_enable(bev, EV_READ);
		client_read(bev, client); /* blocks already buffered trigger no read event */
	}
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *client = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* the client only half-closed: let it have its last replies */
		client->closing = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		log_info("control client %u: %s; disconnecting", client->id, strerror(errno));
	client_free(client);
}

static void client_accept(void *arg, evutil_socket_t fd, struct sockaddr *addr, int addr_len)
{
	struct control *control = arg;
	struct control_client *client = calloc(1, sizeof(*client));

	if (client)
		client->bev = bufferevent_socket_new(control->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!client || !client->bev) {
		log_err("control: out of memory for a new client; refusing it");
		free(client);
		close(fd);
		return;
	}
	client->control = control;
	client->id = ++control->next_client_id;
	request_block_init(&client->block);
	LIST_INSERT_HEAD(&control->clients, client, link);
	bufferevent_setcb(client->bev, client_read, client_drained, client_event, client);
	bufferevent_enable(client->bev, EV_READ);
	log_debug("control client %u: connected", client->id);
}

/* Binds `fd` to `path` with mode 0600, replacing a stale socket.  The pid
 * file lock already ensures no other instance serves this directory.
 */
static int bind_socket(int fd, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_umask;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_err("control socket path %s is longer than %zu bytes", path, sizeof(addr.sun_path) - 1);
		return -1;
	}
	strcpy(addr.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("control socket path %s exists and is not a socket; not touching it", path);
			return -1;
		}
		if (unlink(path)) {
			log_err("cannot remove the old control socket %s: %s", path, strerror(errno));
			return -1;
		}
	}
	/* the umask keeps the socket private from the moment it exists */
	old_umask = umask(0177);
	ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (ret)
		log_err("cannot bind the control socket %s: %s", path, strerror(errno));
	return ret;
}

struct control *control_open(struct event_base *base, const char *path,
				   request_handler handle, void *owner)
{
	struct control *control = calloc(1, sizeof(*control));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	static const struct mp_listener_opts listen_opts = { .name = "the control socket" };
	struct evconnlistener *evl;

	if (!control || fd < 0) {
		log_err("cannot create the control socket %s: %s", path, control ? strerror(errno) : "out of memory");
		goto fail;
	}
	if (bind_socket(fd, path))
		goto fail;
	evl = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (evl)
		fd = -1; /* the listener's now, closed with it */
	if (!evl || !(control->listener = mp_listener_new(evl, &listen_opts, client_accept, control))) {
		log_err("cannot listen on the control socket %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	control->base = base;
	strcpy(control->path, path);
	control->handle = handle;
	control->owner = owner;
	LIST_INIT(&control->clients);
	log_info("control socket listening on %s", path);
	return control;

fail:
	if (fd >= 0)
		close(fd);
	free(control);
	return NULL;
}

void control_close(struct control *control)
{
	while (!LIST_EMPTY(&control->clients))
		client_free(LIST_FIRST(&control->clients));
	mp_listener_free(control->listener);
	unlink(control->path);
	free(control);
}
