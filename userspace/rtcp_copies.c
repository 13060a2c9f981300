#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "rtcp_copies.h"

#define PAGES_PER_CPU 8 /* 32 KiB: some 200 copies of a typical 150-byte frame */

struct rtcp_copies {
	struct perf_buffer *pb;
	struct event *readable;
	rtcp_copies_deliver deliver;
	void *ctx;
	uint64_t lost;
};

static void sample(void *arg, int cpu, void *data, __u32 size)
{
	struct rtcp_copies *rc = arg;
	struct mp_rtcp_copy copy;

	if (size < sizeof(copy)) {
		rc->lost++;
		return;
	}
	memcpy(&copy, data, sizeof(copy)); /* a perf record is only 4-byte aligned */
	/* the sample may be padded behind the bytes, never shorter */
	if ((size_t)copy.payload_off + copy.payload_len > size - sizeof(copy)) {
		rc->lost++;
		return;
	}
	rc->deliver(rc->ctx, &copy, (const unsigned char *)data + sizeof(copy) + copy.payload_off);
}

static void lost(void *arg, int cpu, __u64 count)
{
	struct rtcp_copies *rc = arg;

	rc->lost += count;
}

static void readable(evutil_socket_t fd, short what, void *arg)
{
	struct rtcp_copies *rc = arg;

	perf_buffer__consume(rc->pb);
}

struct rtcp_copies *rtcp_copies_open(struct event_base *base, int map_fd, rtcp_copies_deliver deliver, void *ctx)
{
	struct rtcp_copies *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->deliver = deliver;
	rc->ctx = ctx;
	rc->pb = perf_buffer__new(map_fd, PAGES_PER_CPU, sample, lost, rc, NULL);
	if (!rc->pb) {
		log_err("fast path: cannot open the RTCP copies' perf buffers: %s", strerror(errno));
		free(rc);
		return NULL;
	}
	rc->readable = event_new(base, perf_buffer__epoll_fd(rc->pb), EV_READ | EV_PERSIST, readable, rc);
	if (!rc->readable || event_add(rc->readable, NULL)) {
		log_err("fast path: cannot watch the RTCP copies");
		rtcp_copies_close(rc);
		return NULL;
	}
	return rc;
}

void rtcp_copies_close(struct rtcp_copies *rc)
{
	if (!rc)
		return;
	if (rc->readable)
		event_free(rc->readable);
	perf_buffer__free(rc->pb);
	free(rc);
}

uint64_t rtcp_copies_lost(const struct rtcp_copies *rc)
{
	return rc ? rc->lost : 0;
}
