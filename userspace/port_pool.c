/* The FIFO of port pairs with quarantine and bad list (port_pool.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "port_pool.h"

struct free_pair {
	unsigned rtp_port;
	uint64_t ready_ns; /* may be taken from this time on */
};

struct port_pool {
	struct port_binder binder;
	uint64_t quarantine_ns;
	unsigned total;       /* pairs in the range: no list ever holds more */
	struct free_pair *ring; /* the FIFO, `free_count` entries from `head` */
	unsigned head, free_count;
	unsigned *bad;        /* pairs whose bind failed */
	unsigned bad_count;
};

struct port_pool *port_pool_new(const struct mp_port_range *range, uint64_t quarantine_ns,
				      const struct port_binder *binder)
{
	struct port_pool *pool = calloc(1, sizeof(*pool));
	/* RTP ports are even, RTCP is RTP + 1, and `end` itself is never used. */
	unsigned first = range->start + range->start % 2;
	unsigned end = range->end > 65536 ? 65536 : range->end;

	if (!pool)
		return NULL;
	pool->total = end > first ? (end - first) / 2 : 0;
	pool->ring = calloc(pool->total, sizeof(*pool->ring));
	pool->bad = calloc(pool->total, sizeof(*pool->bad));
	if (!pool->total || !pool->ring || !pool->bad) {
		port_pool_free(pool);
		return NULL;
	}
	if (binder)
		pool->binder = *binder;
	pool->quarantine_ns = quarantine_ns;
	for (unsigned i = 0; i < pool->total; i++)
		pool->ring[i] = (struct free_pair){ first + 2 * i, 0 };
	pool->free_count = pool->total;
	return pool;
}

void port_pool_free(struct port_pool *pool)
{
	if (!pool)
		return;
	free(pool->ring);
	free(pool->bad);
	free(pool);
}

static void push_back(struct port_pool *pool, unsigned rtp_port, uint64_t ready_ns)
{
	pool->ring[(pool->head + pool->free_count) % pool->total] = (struct free_pair){ rtp_port, ready_ns };
	pool->free_count++;
}

static void push_front(struct port_pool *pool, unsigned rtp_port)
{
	pool->head = (pool->head + pool->total - 1) % pool->total;
	pool->ring[pool->head] = (struct free_pair){ rtp_port, 0 };
	pool->free_count++;
}

static unsigned pop_front(struct port_pool *pool)
{
	unsigned rtp_port = pool->ring[pool->head].rtp_port;

	pool->head = (pool->head + 1) % pool->total;
	pool->free_count--;
	return rtp_port;
}

static int bind_pair(struct port_pool *pool, struct in_addr local_ip, unsigned rtp_port)
{
	return pool->binder.bind ? pool->binder.bind(pool->binder.ctx, local_ip, rtp_port) : 0;
}

static void unbind_pair(struct port_pool *pool, struct in_addr local_ip, unsigned rtp_port)
{
	if (pool->binder.unbind)
		pool->binder.unbind(pool->binder.ctx, local_ip, rtp_port);
}

/* A bind that failed with this says nothing about the pair: the process or
 * the system ran out of descriptors or memory, and every pair would fail
 * alike (marking them bad would empty the pool in one request).
 */
static bool relay_out_of_resources(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == ENOSPC; /* epoll's watches */
}

/* Whatever held the bad ports may have let go of them by now: retry them,
 * after every pair already waiting, and not before a quarantine (which also
 * keeps the take loop below from spinning on them).
 */
static void retry_bad_pairs(struct port_pool *pool, uint64_t now_ns)
{
	log_info("port pool: %u pairs that failed to bind go back to the pool", pool->bad_count);
	for (unsigned i = 0; i < pool->bad_count; i++)
		push_back(pool, pool->bad[i], now_ns + pool->quarantine_ns);
	pool->bad_count = 0;
}

int port_pool_take(struct port_pool *pool, unsigned count, const struct in_addr *local_ips,
		      uint64_t now_ns, unsigned *rtp_ports)
{
	unsigned taken = 0, attempts = 0;

	while (taken < count) {
		unsigned rtp_port;

		/* The FIFO is in release order, so a quarantined front means all are. */
		if (!pool->free_count || pool->ring[pool->head].ready_ns > now_ns)
			goto exhausted;
		/* Bounded: with no quarantine, a range that fails to bind entirely would cycle. */
		if (attempts++ == pool->total)
			goto exhausted;
		rtp_port = pop_front(pool);
		if (bind_pair(pool, local_ips[taken], rtp_port) < 0) {
			if (relay_out_of_resources(errno)) {
				log_err("port pool: cannot open sockets for ports %u/%u: %s", rtp_port, rtp_port + 1,
					strerror(errno));
				push_front(pool, rtp_port);
				goto undo;
			}
			log_warn("port pool: cannot bind ports %u/%u, trying the next pair", rtp_port, rtp_port + 1);
			pool->bad[pool->bad_count++] = rtp_port;
			if (pool->bad_count > pool->free_count)
				retry_bad_pairs(pool, now_ns);
			continue;
		}
		rtp_ports[taken++] = rtp_port;
	}
	return 0;

exhausted:
	log_err("port pool: all allocated ports are being used (%u pairs wanted, %u free, %u bad)", count,
		pool->free_count, pool->bad_count);
undo:
	while (taken) {
		taken--;
		unbind_pair(pool, local_ips[taken], rtp_ports[taken]);
		push_front(pool, rtp_ports[taken]);
	}
	return -1;
}

int port_pool_claim(struct port_pool *pool, struct in_addr local_ip, unsigned rtp_port)
{
	for (unsigned i = 0; i < pool->free_count; i++) {
		unsigned at = (pool->head + i) % pool->total;

		if (pool->ring[at].rtp_port != rtp_port)
			continue;
		if (bind_pair(pool, local_ip, rtp_port))
			return -1;
		/* close the gap: everything behind it moves one place forward */
		for (unsigned j = i + 1; j < pool->free_count; j++)
			pool->ring[(pool->head + j - 1) % pool->total] = pool->ring[(pool->head + j) % pool->total];
		pool->free_count--;
		return 0;
	}
	return -1;
}

void port_pool_release(struct port_pool *pool, struct in_addr local_ip, unsigned rtp_port,
			  uint64_t now_ns)
{
	unbind_pair(pool, local_ip, rtp_port);
	push_back(pool, rtp_port, now_ns + pool->quarantine_ns);
}

unsigned port_pool_free_count(const struct port_pool *pool)
{
	return pool->free_count;
}

unsigned port_pool_bad_count(const struct port_pool *pool)
{
	return pool->bad_count;
}

/* Released pairs go to the back with the latest ready times: the
 * quarantined ones are the FIFO's tail.
 */
unsigned port_pool_quarantined_count(const struct port_pool *pool, uint64_t now_ns)
{
	unsigned count = 0;

	while (count < pool->free_count &&
	       pool->ring[(pool->head + pool->free_count - 1 - count) % pool->total].ready_ns > now_ns)
		count++;
	return count;
}

unsigned port_pool_total(const struct port_pool *pool)
{
	return pool->total;
}
