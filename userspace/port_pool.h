/* The relay's pool of port pairs (doc/relay-sessions.md §2 and
 * doc/fast-path.md §10.8).
 *
 * Pairs are (p, p+1) with p even, from [Relay] port_range; RTP takes p, RTCP
 * p+1.  The pool is a FIFO: a pair is taken from the front and released to
 * the back, and a released pair also waits a quarantine before it can be
 * taken again, so that a small range still keeps late packets of an ended
 * call away from the next one.  Times are CLOCK_MONOTONIC nanoseconds given
 * by the caller.
 */
#ifndef MP_PORT_POOL_H
#define MP_PORT_POOL_H

#include <stdint.h>
#include <netinet/in.h>
#include "config_types.h"

#define PORT_POOL_QUARANTINE_NS (10ULL * 1000000000ULL)

/* Opens and closes the sockets of a pair; the pool tries the next pair when
 * bind() fails.  The agent binds real sockets here, the tests simulate
 * EADDRINUSE.
 */
struct port_binder {
	/* Binds RTP `rtp_port` and RTCP `rtp_port + 1` on `local_ip`: 0, or -1
	 * with errno set (EADDRINUSE: either is in use; EMFILE, ENFILE, ENOBUFS,
	 * ENOMEM or ENOSPC: the relay, not the pair, is out of something).
	 */
	int (*bind)(void *ctx, struct in_addr local_ip, unsigned rtp_port);
	/* Closes what bind() opened. */
	void (*unbind)(void *ctx, struct in_addr local_ip, unsigned rtp_port);
	void *ctx;
};

struct port_pool;

/* A pool of every pair of `range`.  `binder` may be NULL (nothing to bind:
 * every pair is usable); it is copied.  NULL when out of memory or when the
 * range holds no pair.
 */
struct port_pool *port_pool_new(const struct mp_port_range *range, uint64_t quarantine_ns,
				      const struct port_binder *binder);
void port_pool_free(struct port_pool *pool);

/* Takes `count` pairs, pair i bound on `local_ips[i]`, writing their RTP
 * ports to `rtp_ports`;
 * 0, or -1 when not enough pairs are free (and out of quarantine) at
 * `now_ns`.  All or nothing: on failure the pairs taken so far are unbound
 * and put back at the front, in their order.  Pairs that failed to bind stay
 * on the bad list either way, since they really are unusable now; a bind
 * that failed for want of descriptors or memory fails the take at once and
 * leaves its pair in the pool.
 */
int port_pool_take(struct port_pool *pool, unsigned count, const struct in_addr *local_ips,
		      uint64_t now_ns, unsigned *rtp_ports);

/* Takes one given pair out of the pool and binds it: a restarted relay
 * re-adopting the ports of its calls.  0, or -1 when the pair is not free
 * or does not bind.
 */
int port_pool_claim(struct port_pool *pool, struct in_addr local_ip, unsigned rtp_port);

/* Unbinds a pair taken earlier and puts it at the back, quarantined from `now_ns`. */
void port_pool_release(struct port_pool *pool, struct in_addr local_ip, unsigned rtp_port,
			  uint64_t now_ns);

/* Pairs waiting in the FIFO (quarantined ones included), and on the bad list. */
unsigned port_pool_free_count(const struct port_pool *pool);
unsigned port_pool_bad_count(const struct port_pool *pool);
/* Pairs of the FIFO still in quarantine at `now_ns`; every pair of the range. */
unsigned port_pool_quarantined_count(const struct port_pool *pool, uint64_t now_ns);
unsigned port_pool_total(const struct port_pool *pool);

#endif
