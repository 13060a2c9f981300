/* Unit tests of the port pool (userspace/port_pool.c): pairs from the range
 * (doc/relay-sessions.md §2, doc/config.md §8), FIFO order, quarantine
 * (doc/fast-path.md §10.8), all-or-nothing takes and the bad
 * list of pairs that failed to bind.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "log.h"
#include "port_pool.h"

#define SEC 1000000000ULL

/* A binder that refuses the ports listed in `busy` and records what is bound. */
struct fake_binder {
	bool busy[65536];
	bool bound[65536];
	bool limited;              /* out of descriptors once descriptors_left binds succeeded */
	unsigned descriptors_left;
	struct in_addr bound_ip[65536];
	unsigned binds, unbinds, failures;
};

static struct fake_binder fb;

static int fake_bind(void *ctx, struct in_addr local_ip, unsigned rtp_port)
{
	struct fake_binder *b = ctx;

	b->binds++;
	assert_true(rtp_port % 2 == 0);
	assert_false(b->bound[rtp_port]);
	if (b->limited && !b->descriptors_left) {
		errno = EMFILE;
		return -1;
	}
	if (b->limited)
		b->descriptors_left--;
	if (b->busy[rtp_port] || b->busy[rtp_port + 1]) {
		b->failures++;
		errno = EADDRINUSE;
		return -1;
	}
	b->bound[rtp_port] = true;
	b->bound_ip[rtp_port] = local_ip;
	return 0;
}

static void fake_unbind(void *ctx, struct in_addr local_ip, unsigned rtp_port)
{
	struct fake_binder *b = ctx;

	b->unbinds++;
	assert_true(b->bound[rtp_port]);
	assert_int_equal(b->bound_ip[rtp_port].s_addr, local_ip.s_addr);
	b->bound[rtp_port] = false;
}

static const struct port_binder binder = { fake_bind, fake_unbind, &fb };

static struct in_addr ips[64];

static int setup(void **state)
{
	memset(&fb, 0, sizeof(fb));
	for (unsigned i = 0; i < 64; i++)
		inet_pton(AF_INET, i % 2 ? "198.18.0.51" : "198.18.0.50", &ips[i]);
	return 0;
}

static struct port_pool *pool_of(unsigned start, unsigned end, uint64_t quarantine, bool with_binder)
{
	struct mp_port_range range = { start, end };

	return port_pool_new(&range, quarantine, with_binder ? &binder : NULL);
}

static unsigned take1(struct port_pool *pool, uint64_t now)
{
	unsigned port = 0;

	if (port_pool_take(pool, 1, ips, now, &port) < 0)
		return 0;
	return port;
}

/* Every pair of the range, in order, then nothing. */
static void test_pairs_from_range(void **state)
{
	struct port_pool *pool = pool_of(40000, 40010, PORT_POOL_QUARANTINE_NS, true);
	unsigned ports[8];

	assert_non_null(pool);
	assert_int_equal(port_pool_free_count(pool), 5);
	assert_int_equal(port_pool_bad_count(pool), 0);
	assert_int_equal(port_pool_take(pool, 5, ips, 0, ports), 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(ports[i], 40000 + 2 * i);
		assert_true(fb.bound[ports[i]]);
		assert_int_equal(fb.bound_ip[ports[i]].s_addr, ips[i].s_addr);
	}
	assert_int_equal(port_pool_free_count(pool), 0);
	assert_int_equal(take1(pool, 100 * SEC), 0);
	port_pool_free(pool);
}

/* The default range: 10 000 pairs, the last one 59998/59999. */
static void test_default_range(void **state)
{
	struct port_pool *pool = pool_of(40000, 60000, PORT_POOL_QUARANTINE_NS, NULL);
	unsigned last = 0;

	assert_non_null(pool);
	assert_int_equal(port_pool_free_count(pool), 10000);
	for (unsigned i = 0; i < 10000; i++) {
		last = take1(pool, 0);
		assert_int_equal(last, 40000 + 2 * i);
	}
	assert_int_equal(last, 59998);
	assert_int_equal(take1(pool, 0), 0);
	port_pool_free(pool);

	/* the top of the port space: end 65536 gives 65534/65535 */
	pool = pool_of(65530, 65536, 0, NULL);
	assert_non_null(pool);
	assert_int_equal(port_pool_free_count(pool), 3);
	assert_int_equal(take1(pool, 0), 65530);
	assert_int_equal(take1(pool, 0), 65532);
	assert_int_equal(take1(pool, 0), 65534);
	assert_int_equal(take1(pool, 0), 0);
	port_pool_free(pool);
}

/* `end` is never used; a range without a whole pair is no pool. */
static void test_range_end_exclusive(void **state)
{
	struct port_pool *pool = pool_of(40000, 40002, 0, NULL);

	assert_non_null(pool);
	assert_int_equal(port_pool_free_count(pool), 1);
	assert_int_equal(take1(pool, 0), 40000);
	assert_int_equal(take1(pool, 0), 0);
	port_pool_free(pool);

	assert_null(pool_of(40000, 40000, 0, NULL));
	assert_null(pool_of(40000, 40001, 0, NULL));
	assert_null(pool_of(40002, 40000, 0, NULL));
}

/* Odd edges (config.c refuses them, the pool must still hand out only even
 * RTP ports with RTCP = RTP + 1 inside [start, end)).
 */
static void test_range_odd_edges(void **state)
{
	struct port_pool *pool = pool_of(40001, 40007, 0, NULL);

	assert_non_null(pool);
	assert_int_equal(port_pool_free_count(pool), 2);
	assert_int_equal(take1(pool, 0), 40002);
	assert_int_equal(take1(pool, 0), 40004);
	assert_int_equal(take1(pool, 0), 0);
	port_pool_free(pool);

	pool = pool_of(40000, 40005, 0, NULL);
	assert_non_null(pool);
	assert_int_equal(port_pool_free_count(pool), 2);
	assert_int_equal(take1(pool, 0), 40000);
	assert_int_equal(take1(pool, 0), 40002);
	assert_int_equal(take1(pool, 0), 0);
	port_pool_free(pool);

	/* no even port p with p+1 < end */
	assert_null(pool_of(40001, 40003, 0, NULL));
	assert_null(pool_of(40001, 40002, 0, NULL));
}

/* Taken from the front, released to the back. */
static void test_fifo_order(void **state)
{
	struct port_pool *pool = pool_of(40000, 40008, 0, true);
	unsigned a = take1(pool, 0), b = take1(pool, 0);

	assert_int_equal(a, 40000);
	assert_int_equal(b, 40002);
	port_pool_release(pool, ips[0], b, 1);
	port_pool_release(pool, ips[0], a, 2);
	assert_false(fb.bound[a]);
	assert_false(fb.bound[b]);
	assert_int_equal(port_pool_free_count(pool), 4);
	assert_int_equal(take1(pool, 3), 40004);
	assert_int_equal(take1(pool, 3), 40006);
	assert_int_equal(take1(pool, 3), b);
	assert_int_equal(take1(pool, 3), a);
	assert_int_equal(take1(pool, 3), 0);
	port_pool_free(pool);
}

/* A released pair waits out the quarantine, even when nothing else is free. */
static void test_quarantine(void **state)
{
	struct port_pool *pool = pool_of(40000, 40004, PORT_POOL_QUARANTINE_NS, true);
	unsigned ports[2];

	assert_int_equal(port_pool_take(pool, 2, ips, 0, ports), 0);
	port_pool_release(pool, ips[0], ports[0], 100 * SEC);
	assert_int_equal(port_pool_free_count(pool), 1); /* waiting, quarantined */
	assert_int_equal(take1(pool, 100 * SEC), 0);
	assert_int_equal(take1(pool, 109 * SEC), 0);
	assert_int_equal(take1(pool, 110 * SEC - 1), 0);
	assert_int_equal(port_pool_free_count(pool), 1);
	assert_int_equal(take1(pool, 110 * SEC), 40000);

	/* A second release later: the first is ready, the second not yet. */
	port_pool_release(pool, ips[0], 40000, 200 * SEC);
	port_pool_release(pool, ips[1], ports[1], 205 * SEC);
	assert_int_equal(take1(pool, 212 * SEC), 40000);
	assert_int_equal(take1(pool, 212 * SEC), 0);
	assert_int_equal(take1(pool, 215 * SEC), ports[1]);
	port_pool_free(pool);
}

/* With a large range the FIFO keeps a released pair unused until every
 * other pair had its turn, whatever the time.
 */
static void test_large_range_reuse_distance(void **state)
{
	struct port_pool *pool = pool_of(40000, 42000, PORT_POOL_QUARANTINE_NS, NULL);
	unsigned first = take1(pool, 0);
	uint64_t now = 0;

	port_pool_release(pool, ips[0], first, now);
	for (unsigned i = 1; i < 1000; i++) {
		unsigned port;

		now += 60 * SEC; /* quarantine long over */
		port = take1(pool, now);
		assert_int_not_equal(port, 0);
		assert_int_not_equal(port, first);
		port_pool_release(pool, ips[0], port, now);
	}
	assert_int_equal(take1(pool, now + 60 * SEC), first);
	port_pool_free(pool);
}

/* Not enough pairs: none taken, none bound, the order kept. */
static void test_take_all_or_nothing(void **state)
{
	struct port_pool *pool = pool_of(40000, 40006, 0, true);
	unsigned ports[4] = { 0 };

	assert_int_equal(port_pool_take(pool, 4, ips, 0, ports), -1);
	assert_int_equal(port_pool_free_count(pool), 3);
	assert_int_equal(fb.binds, 3);
	assert_int_equal(fb.unbinds, 3);
	for (unsigned p = 40000; p < 40006; p++)
		assert_false(fb.bound[p]);
	assert_int_equal(port_pool_take(pool, 3, ips, 0, ports), 0);
	assert_int_equal(ports[0], 40000);
	assert_int_equal(ports[1], 40002);
	assert_int_equal(ports[2], 40004);
	port_pool_free(pool);
}

/* A take that runs into quarantined pairs fails as a whole. */
static void test_take_all_or_nothing_quarantine(void **state)
{
	struct port_pool *pool = pool_of(40000, 40008, 10 * SEC, true);
	unsigned ports[4];

	assert_int_equal(port_pool_take(pool, 2, ips, 0, ports), 0);
	port_pool_release(pool, ips[0], ports[0], SEC);
	port_pool_release(pool, ips[1], ports[1], SEC);
	/* 40004, 40006 ready; 40000, 40002 quarantined until 11 s */
	assert_int_equal(port_pool_take(pool, 3, ips, 5 * SEC, ports), -1);
	assert_int_equal(port_pool_free_count(pool), 4);
	assert_int_equal(port_pool_take(pool, 4, ips, 11 * SEC, ports), 0);
	assert_int_equal(ports[0], 40004);
	assert_int_equal(ports[1], 40006);
	assert_int_equal(ports[2], 40000);
	assert_int_equal(ports[3], 40002);
	port_pool_free(pool);
}

/* A pair whose bind fails (EADDRINUSE) goes to the bad list; the next is used. */
static void test_bind_failure_bad_list(void **state)
{
	struct port_pool *pool = pool_of(40000, 40020, 0, true);
	unsigned ports[3];

	fb.busy[40002] = true;  /* RTP in use */
	fb.busy[40005] = true;  /* RTCP in use */
	assert_int_equal(port_pool_take(pool, 3, ips, 0, ports), 0);
	assert_int_equal(ports[0], 40000);
	assert_int_equal(ports[1], 40006);
	assert_int_equal(ports[2], 40008);
	assert_int_equal(port_pool_bad_count(pool), 2);
	assert_int_equal(port_pool_free_count(pool), 5);
	assert_int_equal(fb.failures, 2);
	/* the bad pairs are not retried while the free list is longer */
	fb.busy[40002] = fb.busy[40005] = false;
	assert_int_equal(take1(pool, 0), 40010);
	port_pool_free(pool);
}

/* Bad pairs stay bad even when the take fails. */
static void test_bind_failure_take_fails(void **state)
{
	struct port_pool *pool = pool_of(40000, 40012, SEC, true);
	unsigned ports[6];

	fb.busy[40004] = true;
	assert_int_equal(port_pool_take(pool, 6, ips, 0, ports), -1);
	assert_int_equal(port_pool_bad_count(pool), 1);
	assert_int_equal(port_pool_free_count(pool), 5);
	for (unsigned p = 40000; p < 40012; p++)
		assert_false(fb.bound[p]);
	assert_int_equal(port_pool_take(pool, 5, ips, 0, ports), 0);
	assert_int_equal(ports[0], 40000);
	assert_int_equal(ports[1], 40002);
	assert_int_equal(ports[2], 40006);
	assert_int_equal(ports[4], 40010);
	port_pool_free(pool);
}

/* When the bad list outgrows the free list, the bad pairs are retried later. */
static void test_bad_pairs_retried(void **state)
{
	struct port_pool *pool = pool_of(40000, 40008, 10 * SEC, true);
	unsigned port;

	fb.busy[40000] = fb.busy[40002] = fb.busy[40004] = true;
	port = take1(pool, 0);
	assert_int_equal(port, 40006);
	/* 3 bad > 1 free at the third failure: all went back, quarantined */
	assert_int_equal(port_pool_bad_count(pool), 0);
	assert_int_equal(port_pool_free_count(pool), 3);
	assert_int_equal(take1(pool, SEC), 0);
	fb.busy[40000] = fb.busy[40002] = fb.busy[40004] = false;
	assert_int_equal(take1(pool, 10 * SEC), 40000);
	assert_int_equal(take1(pool, 10 * SEC), 40002);
	assert_int_equal(take1(pool, 10 * SEC), 40004);
	port_pool_free(pool);
}

/* Out of descriptors, a take fails at once: no pair is marked bad, the pairs
 * taken are put back in order, and they serve again once descriptors are free.
 */
static void test_out_of_descriptors(void **state)
{
	struct port_pool *pool = pool_of(40000, 40040, SEC, true);
	unsigned ports[4];

	fb.limited = true;
	fb.descriptors_left = 2;
	assert_int_equal(port_pool_take(pool, 4, ips, 0, ports), -1);
	assert_int_equal(fb.binds, 3);
	assert_int_equal(port_pool_bad_count(pool), 0);
	assert_int_equal(port_pool_free_count(pool), 20);
	for (unsigned p = 40000; p < 40040; p++)
		assert_false(fb.bound[p]);
	fb.limited = false;
	assert_int_equal(port_pool_take(pool, 4, ips, 0, ports), 0);
	assert_int_equal(ports[0], 40000);
	assert_int_equal(ports[3], 40006);
	port_pool_free(pool);
}

/* A range where nothing binds ends in failure, not in a loop. */
static void test_nothing_binds(void **state)
{
	struct port_pool *pool;
	unsigned ports[2];

	for (unsigned p = 40000; p < 40010; p++)
		fb.busy[p] = true;
	pool = pool_of(40000, 40010, 0, true);
	assert_int_equal(port_pool_take(pool, 2, ips, 0, ports), -1);
	assert_int_equal(port_pool_take(pool, 1, ips, 0, ports), -1);
	assert_true(fb.binds <= 20);
	assert_int_equal(port_pool_free_count(pool) + port_pool_bad_count(pool), 5);
	for (unsigned p = 40000; p < 40010; p++)
		fb.busy[p] = false;
	assert_int_equal(port_pool_take(pool, 2, ips, 0, ports), 0);
	port_pool_free(pool);
}

/* Without a binder every pair is usable; many cycles keep the counts right. */
static void test_churn(void **state)
{
	struct port_pool *pool = pool_of(40000, 40040, SEC, true);
	unsigned held[20], count = 0;
	unsigned seed = 7;
	uint64_t now = 0;

	for (int round = 0; round < 5000; round++) {
		now += SEC / 4;
		if (count && (rand_r(&seed) % 2 || count == 20)) {
			unsigned i = rand_r(&seed) % count;

			port_pool_release(pool, ips[0], held[i], now);
			held[i] = held[--count];
		} else {
			unsigned port = take1(pool, now);

			if (port) {
				for (unsigned i = 0; i < count; i++)
					assert_int_not_equal(held[i], port);
				held[count++] = port;
			}
		}
		assert_int_equal(port_pool_free_count(pool) + count, 20);
	}
	port_pool_free(pool);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_pairs_from_range, setup),
		cmocka_unit_test_setup(test_default_range, setup),
		cmocka_unit_test_setup(test_range_end_exclusive, setup),
		cmocka_unit_test_setup(test_range_odd_edges, setup),
		cmocka_unit_test_setup(test_fifo_order, setup),
		cmocka_unit_test_setup(test_quarantine, setup),
		cmocka_unit_test_setup(test_large_range_reuse_distance, setup),
		cmocka_unit_test_setup(test_take_all_or_nothing, setup),
		cmocka_unit_test_setup(test_take_all_or_nothing_quarantine, setup),
		cmocka_unit_test_setup(test_bind_failure_bad_list, setup),
		cmocka_unit_test_setup(test_bind_failure_take_fails, setup),
		cmocka_unit_test_setup(test_bad_pairs_retried, setup),
		cmocka_unit_test_setup(test_out_of_descriptors, setup),
		cmocka_unit_test_setup(test_nothing_binds, setup),
		cmocka_unit_test_setup(test_churn, setup),
	};

	mp_log_open("test_port_pool", MP_LOG_TERMINAL);
	mp_log_set_level(LOG_CRIT);
	return cmocka_run_group_tests_name("port_pool", tests, NULL, NULL);
}
