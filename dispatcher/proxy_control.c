#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "log.h"
#include "opensips_did.h"
#include "proxy_control.h"

#define REPLY_TIMEOUT 3 /* seconds (doc/accounting.md §5.3) */
#define REPLY_MAX 8192

/* How a request names the dialog: its result is logged with it. */
enum dialog_form {
	FORM_KAMAILIO,    /* "h_entry:h_id", sent to Kamailio as two integers */
	FORM_DID,         /* OpenSIPS's decimal id turned into its did */
	FORM_AS_RECEIVED, /* an OpenSIPS id that is no number, sent as it came */
	FORM_CALL_ID,     /* the fallback after a 404 from OpenSIPS */
};

static const char *const form_names[] = {
	[FORM_KAMAILIO] = "h_entry:h_id",
	[FORM_DID] = "did",
	[FORM_AS_RECEIVED] = "dialog id",
	[FORM_CALL_ID] = "Call-ID",
};

struct pending {
	struct pending *next;
	struct proxy_control *pc;
	char id[9];
	char *call_id;
	char *dialog; /* the dialog as the request named it */
	enum dialog_form form;
	struct event *timer;
};

struct proxy_control {
	const struct mp_config *cfg;
	struct event_base *base;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct event *readable;
	struct pending *pending;
	bool failing; /* the last send failed: log the next failure only after a success */
	struct proxy_control_counters counters;
};

const struct proxy_control_counters *proxy_control_counters(const struct proxy_control *pc)
{
	return &pc->counters;
}

static void ask(struct proxy_control *pc, const char *call_id, enum dialog_form form, const char *dialog);

static void pending_free(struct pending *p)
{
	struct proxy_control *pc = p->pc;

	for (struct pending **q = &pc->pending; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	if (p->timer)
		event_free(p->timer);
	free(p->call_id);
	free(p->dialog);
	free(p);
}

static void reply_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	log_warn("proxy control: no answer about the dialog of %s in %d s", p->call_id, REPLY_TIMEOUT);
	p->pc->counters.no_answer++;
	pending_free(p);
}

/* OpenSIPS looks up anything that is not a did as a Call-ID (doc/accounting.md §5.2): a
 * dialog it did not find by its id may still be found by the record's.
 */
static bool retry_with_call_id(const struct pending *p, json_int_t code)
{
	return code == 404 && (p->form == FORM_DID || p->form == FORM_AS_RECEIVED) && strcmp(p->dialog, p->call_id);
}

static void report(struct pending *p, const json_t *reply, const char *text)
{
	json_t *error = json_object_get(reply, "error");
	json_int_t code = json_integer_value(json_object_get(error, "code"));

	if (reply && !error) {
		p->pc->counters.answered++;
		log_info("proxy control: the dialog of %s was ended, found by its %s %s", p->call_id,
			 form_names[p->form], p->dialog);
	} else if (error && retry_with_call_id(p, code)) {
		p->pc->counters.refused++;
		log_info("proxy control: no dialog with %s %s, asking again by the Call-ID %s", form_names[p->form],
			 p->dialog, p->call_id);
		ask(p->pc, p->call_id, FORM_CALL_ID, p->call_id);
	} else if (error) {
		p->pc->counters.refused++;
		log_warn("proxy control: the proxy could not end the dialog of %s (by its %s %s): %lld %s", p->call_id,
			 form_names[p->form], p->dialog, (long long)code,
			 json_string_value(json_object_get(error, "message")) ?: "");
	} else {
		p->pc->counters.refused++; /* an answer that does not confirm */
		log_warn("proxy control: about the dialog of %s the proxy said: %s", p->call_id, text);
	}
	pending_free(p);
}

/* A datagram on one log line: the JSON a proxy pretty-prints spans several. */
static void log_datagram(const char *what, char *datagram)
{
	for (char *c = datagram; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
	log_info("proxy control: %s %s", what, datagram);
}

/* Answers come back to our socket's address, but OpenSIPS sends them from
 * an unbound socket of its own: they are matched by their id alone.
 */
static void readable(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_control *pc = arg;
	char buf[REPLY_MAX + 1];
	ssize_t n = recv(fd, buf, REPLY_MAX, 0);
	json_t *reply;
	const char *id;

	if (n <= 0)
		return;
	buf[n] = '\0';
	reply = json_loads(buf, 0, NULL);
	id = json_string_value(json_object_get(reply, "id"));
	log_datagram("the proxy answered:", buf);
	if (!reply) {
		/* "<code> <text>": only attributable with one request out */
		if (pc->pending && !pc->pending->next)
			report(pc->pending, NULL, buf);
		else
			log_warn("proxy control: an answer nobody asked for: %.80s", buf);
		return;
	}
	for (struct pending *p = pc->pending; p; p = p->next)
		if (id && !strcmp(p->id, id)) {
			report(p, reply, NULL);
			json_decref(reply);
			return;
		}
	log_warn("proxy control: an answer with an unknown id: %.80s", buf);
	json_decref(reply);
}

static int request(const struct pending *p, char *out, size_t len)
{
	unsigned h_entry, h_id;
	char tail;
	json_t *param;
	char *quoted;
	int n;

	if (p->form == FORM_KAMAILIO) {
		if (sscanf(p->dialog, "%u:%u%c", &h_entry, &h_id, &tail) != 2)
			return -1;
		return snprintf(out, len, "{\"jsonrpc\": \"2.0\", \"id\": \"%s\", \"method\": \"dlg.end_dlg\", \"params\": [%u, %u]}",
				p->id, h_entry, h_id);
	}
	param = json_string(p->dialog);
	quoted = param ? json_dumps(param, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
	n = quoted ? snprintf(out, len, "{\"jsonrpc\": \"2.0\", \"id\": \"%s\", \"method\": \"dlg_end_dlg\", \"params\": [%s]}",
			      p->id, quoted)
		   : -1;
	free(quoted);
	json_decref(param);
	return n;
}

/* Sends one request naming the dialog of `call_id` as `dialog` and waits
 * for its answer.
 */
static void ask(struct proxy_control *pc, const char *call_id, enum dialog_form form, const char *dialog)
{
	struct sockaddr_un to = { .sun_family = AF_UNIX };
	const char *target = form == FORM_KAMAILIO ? pc->cfg->kamailio.socket_path : pc->cfg->opensips.socket_path;
	struct pending *p = calloc(1, sizeof(*p));
	char datagram[1024];
	int n;

	if (!p) {
		log_err("proxy control: out of memory: the dialog of %s is not ended", call_id);
		return;
	}
	p->pc = pc;
	p->form = form;
	if (!(p->call_id = strdup(call_id)) || !(p->dialog = strdup(dialog)) ||
	    !(p->timer = evtimer_new(pc->base, reply_timeout, p))) {
		log_err("proxy control: out of memory: the dialog of %s is not ended", call_id);
		pending_free(p);
		return;
	}
	/* 32 random bits, lowercase hex without padding (doc/accounting.md §5.2) */
	snprintf(p->id, sizeof(p->id), "%x", (unsigned)random() ^ ((unsigned)random() << 16));
	n = request(p, datagram, sizeof(datagram));
	if (n < 0 || (size_t)n >= sizeof(datagram)) {
		log_warn("proxy control: dialog id '%s' of %s is neither Kamailio's nor OpenSIPS's: not ended", dialog,
			 call_id);
		pc->counters.unsent++;
		pending_free(p);
		return;
	}
	if (strlen(target) >= sizeof(to.sun_path)) {
		log_err("proxy control: socket path too long: %s", target);
		pc->counters.unsent++;
		pending_free(p);
		return;
	}
	memcpy(to.sun_path, target, strlen(target) + 1);
	if (sendto(pc->fd, datagram, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		if (!pc->failing)
			log_err("proxy control: cannot reach %s to end the dialog of %s: %s", target, call_id,
				strerror(errno));
		pc->failing = true;
		pc->counters.unsent++;
		pending_free(p);
		return;
	}
	pc->counters.sent++;
	if (pc->failing)
		log_info("proxy control: %s reachable again", target);
	pc->failing = false;
	evtimer_add(p->timer, &(struct timeval){ .tv_sec = REPLY_TIMEOUT });
	p->next = pc->pending;
	pc->pending = p;
	log_info("proxy control: asked %s to end the dialog of %s by its %s: %s", target, call_id, form_names[form],
		 datagram);
}

void proxy_control_end_dialog(struct proxy_control *pc, const char *dialog_id, const char *call_id)
{
	char did[OPENSIPS_DID_SIZE];

	if (strchr(dialog_id, ':')) /* Kamailio (and OpenSIPS before 3.1) */
		ask(pc, call_id, FORM_KAMAILIO, dialog_id);
	else if (opensips_did(dialog_id, did) == 0) {
		log_info("proxy control: OpenSIPS dialog id %s of %s is did %s", dialog_id, call_id, did);
		ask(pc, call_id, FORM_DID, did);
	}
	else
		ask(pc, call_id, FORM_AS_RECEIVED, dialog_id);
}

struct proxy_control *proxy_control_open(struct event_base *base, const struct mp_config *cfg, const char *runtime_dir)
{
	struct proxy_control *pc = calloc(1, sizeof(*pc));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (!pc)
		return NULL;
	pc->cfg = cfg;
	pc->base = base;
	snprintf(pc->path, sizeof(pc->path), "%s/%s", runtime_dir, PROXY_CONTROL_SOCKET);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", pc->path);
	unlink(pc->path);
	pc->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pc->fd < 0 || bind(pc->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(pc->path, 0666) < 0 ||
	    !(pc->readable = event_new(base, pc->fd, EV_READ | EV_PERSIST, readable, pc)) ||
	    event_add(pc->readable, NULL)) {
		log_err("proxy control: cannot bind %s: %s", pc->path, strerror(errno));
		proxy_control_close(pc);
		return NULL;
	}
	return pc;
}

void proxy_control_close(struct proxy_control *pc)
{
	if (!pc)
		return;
	while (pc->pending)
		pending_free(pc->pending);
	if (pc->readable)
		event_free(pc->readable);
	if (pc->fd >= 0) {
		close(pc->fd);
		unlink(pc->path);
	}
	free(pc);
}
