#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "log.h"
#include "route_watch.h"

#define NEIGH_BUCKETS 1024
#define RECV_BUFFER (4 << 20) /* a burst of events, e.g. a whole neighbour table flushed */
/* The states in which the kernel hands a route lookup the neighbour's MAC
 * (its NUD_VALID, which the UAPI headers lack).
 */
#define NEIGH_USABLE (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)

/* What the watch knows of one IPv4 neighbour. */
struct neigh {
	struct neigh *next;
	int ifindex;
	uint32_t ip;
	uint8_t mac[6];
	bool usable; /* a MAC the kernel would give a route lookup */
};

struct route_watch {
	int fd;
	struct event *readable;
	void (*changed)(void *ctx, const char *what);
	void *ctx;
	struct neigh *neigh[NEIGH_BUCKETS];
};

static struct neigh **neigh_slot(struct route_watch *w, int ifindex, uint32_t ip)
{
	struct neigh **n = &w->neigh[(ip * 2654435761u ^ (uint32_t)ifindex) % NEIGH_BUCKETS];

	while (*n && ((*n)->ifindex != ifindex || (*n)->ip != ip))
		n = &(*n)->next;
	return n;
}

/* The neighbours known before this message decide whether it is a change:
 * one that appears cannot be behind a cached next hop yet (a route lookup
 * only succeeds with a usable neighbour, which the dump or an earlier
 * event showed), one whose usable MAC changes or goes is.
 */
static bool neigh_changed(struct route_watch *w, const struct nlmsghdr *h)
{
	const struct ndmsg *nd = NLMSG_DATA(h);
	int len = (int)NLMSG_PAYLOAD(h, sizeof(*nd));
	const uint8_t *mac = NULL;
	uint32_t ip = 0;
	bool has_ip = false, usable, was_usable, changed;
	struct neigh **slot, *n;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)) || nd->ndm_family != AF_INET)
		return false;
	for (const struct rtattr *a = (const void *)((const char *)nd + NLMSG_ALIGN(sizeof(*nd))); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4) {
			memcpy(&ip, RTA_DATA(a), 4);
			has_ip = true;
		} else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
			mac = RTA_DATA(a);
		}
	}
	if (!has_ip)
		return false;
	slot = neigh_slot(w, nd->ndm_ifindex, ip);
	n = *slot;
	usable = h->nlmsg_type == RTM_NEWNEIGH && (nd->ndm_state & NEIGH_USABLE) && mac;
	was_usable = n && n->usable;
	changed = was_usable && (!usable || memcmp(n->mac, mac, 6));
	if (h->nlmsg_type == RTM_DELNEIGH) {
		if (n) {
			*slot = n->next;
			free(n);
		}
		return changed;
	}
	if (!n && (n = calloc(1, sizeof(*n)))) {
		n->ifindex = nd->ndm_ifindex;
		n->ip = ip;
		*slot = n;
	}
	if (n && usable)
		memcpy(n->mac, mac, 6);
	if (n)
		n->usable = usable;
	return changed;
}

/* What a message changed, or NULL when nothing a next hop depends on. */
static const char *change_of(struct route_watch *w, const struct nlmsghdr *h)
{
	const struct rtmsg *rt = NLMSG_DATA(h);

	switch (h->nlmsg_type) {
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)) || rt->rtm_family != AF_INET || (rt->rtm_flags & RTM_F_CLONED))
			return NULL;
		return "a route";
	case RTM_NEWRULE:
	case RTM_DELRULE: /* struct fib_rule_hdr starts with the family, as rtmsg does */
		return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*rt)) && rt->rtm_family == AF_INET ? "a rule" : NULL;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return "a link";
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		return neigh_changed(w, h) ? "a neighbour" : NULL;
	default:
		return NULL;
	}
}

/* The IPv4 neighbours as they are now; the replies come in as events do. */
static int request_neighbours(struct route_watch *w)
{
	struct {
		struct nlmsghdr h;
		struct ndmsg nd;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETNEIGH, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.nd = { .ndm_family = AF_INET },
	};

	return send(w->fd, &req, sizeof(req), 0) == (ssize_t)sizeof(req) ? 0 : -1;
}

static void readable(evutil_socket_t fd, short what, void *arg)
{
	struct route_watch *w = arg;
	char buf[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
	const char *change = NULL;
	struct sockaddr_nl from;
	socklen_t from_len = sizeof(from);
	ssize_t len;

	while ((len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &from_len)) != 0) {
		if (len < 0 && errno == ENOBUFS) {
			/* events were lost: anything may have changed; learn the neighbours anew */
			change = "events lost";
			if (request_neighbours(w))
				log_warn("next hops: cannot dump the neighbours: %s", strerror(errno));
			continue;
		}
		if (len < 0)
			break; /* EAGAIN: all read */
		if (from.nl_pid != 0)
			continue; /* not the kernel's */
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			const char *c = change_of(w, h);

			change = change ? change : c;
		}
	}
	if (change) {
		log_debug("next hops: %s changed; every leg looks its route up again", change);
		w->changed(w->ctx, change);
	}
}

struct route_watch *route_watch_open(struct event_base *base, void (*changed)(void *ctx, const char *what), void *ctx)
{
	struct sockaddr_nl addr = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE,
	};
	struct route_watch *w = calloc(1, sizeof(*w));
	int size = RECV_BUFFER;

	if (!w)
		return NULL;
	w->changed = changed;
	w->ctx = ctx;
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		log_err("next hops: cannot listen to rtnetlink: %s", strerror(errno));
		goto fail;
	}
	/* beyond rmem_max with CAP_NET_ADMIN, else as far as it goes */
	if (setsockopt(w->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	w->readable = event_new(base, w->fd, EV_READ | EV_PERSIST, readable, w);
	if (!w->readable || event_add(w->readable, NULL) || request_neighbours(w)) {
		log_err("next hops: cannot watch rtnetlink: %s", strerror(errno));
		goto fail;
	}
	return w;
fail:
	route_watch_close(w);
	return NULL;
}

void route_watch_close(struct route_watch *w)
{
	if (!w)
		return;
	if (w->readable)
		event_free(w->readable);
	if (w->fd >= 0)
		close(w->fd);
	for (unsigned i = 0; i < NEIGH_BUCKETS; i++)
		while (w->neigh[i]) {
			struct neigh *n = w->neigh[i];

			w->neigh[i] = n->next;
			free(n);
		}
	free(w);
}
