/* SPDX-License-Identifier: GPL-2.0 */
/* Per-leg RTP reception statistics (doc/fast-path.md §11): one
 * implementation, compiled into the BPF programs and into the agent, so
 * that a stream's figures continue unchanged when it moves between the
 * agent's sockets and the kernel.  RFC 3550 appendix A.1 (sequence numbers,
 * probation), A.3 (expected and lost) and section 6.4.1 / A.8 (interarrival
 * jitter), plus duplicates and late packets from a 64-packet window.
 * Plain C: no loops, no calls, no division but by a constant.
 */
#ifndef MP_RTP_H
#define MP_RTP_H

#include <linux/types.h>

#ifdef __bpf__
#define MP_RTP_INLINE static __always_inline
#else
#define MP_RTP_INLINE static inline
#endif

#define MP_RTP_MIN_SEQUENTIAL	2	/* RFC 3550 A.1: packets in sequence that validate a source */
#define MP_RTP_MAX_DROPOUT	3000	/* a forward jump still taken as loss */
#define MP_RTP_MAX_MISORDER	100	/* a backward step still taken as a late packet */
#define MP_RTP_SEQ_MOD		(1U << 16)
#define MP_RTP_JITTER_MAX	0x0fffffffU	/* one transit difference counts at most this (clock units) */
#define MP_RTP_JITTER_GAP_NS	(60ULL * 1000000000)	/* a longer silence starts the transit anew */

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MP_RTP_BE16(x)	__builtin_bswap16(x)
#define MP_RTP_BE32(x)	__builtin_bswap32(x)
#else
#define MP_RTP_BE16(x)	(x)
#define MP_RTP_BE32(x)	(x)
#endif

/* The fixed part of an RTP header (RFC 3550 section 5.1), at the UDP payload. */
struct mp_rtp_hdr {
	__u8 vpxcc;		/* version 2 bits, padding, extension, CSRC count */
	__u8 mpt;		/* marker bit, payload type 7 bits */
	__be16 seq;
	__be32 ts;
	__be32 ssrc;
};

/* One leg's statistics, inside its mp_fwd entry.  The agent fills it while
 * it relays the leg itself, writes it into the entry at installation (with
 * clock_rate and pt), and takes it back at removal; the programs update it
 * in between.  A leg's packets arrive on one receive queue (one 5-tuple,
 * one RSS hash), hence one CPU at a time: plain writes, no atomics.
 */
struct mp_rtp_leg {
	__u32 clock_rate;	/* agent: RTP clock of payload type pt, Hz; 0: unknown, no jitter */
	__u8 pt;		/* agent: the payload type jitter is measured on (other types: not) */
	__u8 probation;		/* RFC 3550 A.1: sequential packets still needed */
	__u16 max_seq;		/* highest sequence number seen */
	__u32 ssrc;		/* as sent (network byte order) */
	__u32 cycles;		/* sequence number wraps, shifted left 16 */
	__u32 base_seq;		/* first sequence number of the validated source */
	__u32 bad_seq;		/* A.1: the sequence number after a large jump */
	__u32 received;		/* packets of the validated source, duplicates excluded */
	__u32 lost_prior;	/* lost packets of earlier SSRCs of this leg */
	__u32 jitter;		/* A.8: interarrival jitter in clock_rate units, times 16 */
	__u32 last_ts;		/* RTP timestamp of the last packet of type pt */
	__u64 last_arrival_ns;	/* its arrival, CLOCK_MONOTONIC; 0: none yet */
	__u64 seen;		/* bit i: sequence number max_seq - i arrived */
	__u32 out_of_order;	/* late packets: behind max_seq, not seen before */
	__u32 duplicates;	/* packets whose sequence number was in the window already */
	__u32 sources;		/* SSRCs the leg had: the first, then one per change */
	__u32 not_rtp;		/* STUN, DTLS, RTCP, other, or shorter than an RTP header */
};

_Static_assert(sizeof(struct mp_rtp_hdr) == 12, "an RTP header is 12 bytes");
_Static_assert(sizeof(struct mp_rtp_leg) == 72, "a leg's RTP statistics are 72 bytes");

/* RFC 3550 A.1 init_seq(). */
MP_RTP_INLINE void mp_rtp_init_seq(struct mp_rtp_leg *s, __u16 seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = MP_RTP_SEQ_MOD + 1;	/* no sequence number equals it */
	s->cycles = 0;
	s->received = 0;
	s->seen = 1;
}

/* Expected packets of the current source, RFC 3550 A.3. */
MP_RTP_INLINE __u32 mp_rtp_expected(const struct mp_rtp_leg *s)
{
	if (s->probation || !s->sources)
		return 0;
	return s->cycles + s->max_seq - s->base_seq + 1;
}

/* Lost packets of the leg, every SSRC it had; negative is clamped, as RFC
 * 3550 A.3 allows it only through duplicates, which are not received here.
 */
MP_RTP_INLINE __u32 mp_rtp_lost(const struct mp_rtp_leg *s)
{
	__u32 expected = mp_rtp_expected(s);

	return s->lost_prior + (expected > s->received ? expected - s->received : 0);
}

/* RFC 3550 A.1 update_seq(), with the window: 1 when the packet counts
 * (jitter included), 0 while on probation, for a large jump, or a duplicate.
 */
MP_RTP_INLINE int mp_rtp_update_seq(struct mp_rtp_leg *s, __u16 seq)
{
	__u16 udelta = seq - s->max_seq;
	__u16 back = s->max_seq - seq;

	if (s->probation) {
		if (seq == (__u16)(s->max_seq + 1)) {
			s->probation--;
			s->max_seq = seq;
			if (s->probation == 0) {
				mp_rtp_init_seq(s, seq);
				s->received++;
				return 1;
			}
		} else {
			s->probation = MP_RTP_MIN_SEQUENTIAL - 1;
			s->max_seq = seq;
		}
		return 0;
	}
	if (udelta == 0) {
		s->duplicates++;
		return 0;
	}
	if (udelta < MP_RTP_MAX_DROPOUT) {
		if (seq < s->max_seq)
			s->cycles += MP_RTP_SEQ_MOD;
		s->seen = udelta < 64 ? s->seen << udelta | 1 : 1;
		s->max_seq = seq;
	} else if (udelta <= MP_RTP_SEQ_MOD - MP_RTP_MAX_MISORDER) {
		if (seq != s->bad_seq) {
			s->bad_seq = (seq + 1) & (MP_RTP_SEQ_MOD - 1);
			return 0;
		}
		/* two sequential packets after a jump: the sender restarted;
		 * what its sequence lost so far stays counted
		 */
		s->lost_prior = mp_rtp_lost(s);
		mp_rtp_init_seq(s, seq);
	} else {
		/* late: behind max_seq by at most MAX_MISORDER */
		if (back < 64) {
			if (s->seen & (1ULL << back)) {
				s->duplicates++;
				return 0;
			}
			s->seen |= 1ULL << back;
		}
		s->out_of_order++;
	}
	s->received++;
	return 1;
}

/* Whether a UDP payload starting with the bytes b0, b1 is RTP: version 2,
 * and not RTCP multiplexed on the port (RFC 5761 section 4: packet types 192-223
 * in the second byte).  STUN (first byte 0-3) and DTLS (20-63) are not
 * version 2 (RFC 7983 section 7).
 */
MP_RTP_INLINE int mp_rtp_is_rtp(__u8 b0, __u8 b1)
{
	return (b0 >> 6) == 2 && (b1 < 192 || b1 > 223);
}

/* One datagram of the leg, `h` its first 12 bytes, or NULL when it is
 * shorter than an RTP header.  Returns 1 when its arrival time goes into
 * the jitter: the caller reads the clock only then, and calls
 * mp_rtp_update_jitter().
 */
MP_RTP_INLINE int mp_rtp_count(struct mp_rtp_leg *s, const struct mp_rtp_hdr *h)
{
	__u32 ssrc;
	__u16 seq;

	if (!h || !mp_rtp_is_rtp(h->vpxcc, h->mpt)) {
		s->not_rtp++;
		return 0;
	}
	ssrc = h->ssrc;	/* compared only: byte order does not matter */
	seq = MP_RTP_BE16(h->seq);
	if (!s->sources || ssrc != s->ssrc) {
		/* a new source: RFC 3550 A.1 puts it on probation */
		s->lost_prior = mp_rtp_lost(s);
		s->sources++;
		s->ssrc = ssrc;
		mp_rtp_init_seq(s, seq);
		s->max_seq = seq - 1;
		s->probation = MP_RTP_MIN_SEQUENTIAL;
		s->last_arrival_ns = 0;
		s->jitter = 0;
	}
	return mp_rtp_update_seq(s, seq) && s->clock_rate && (h->mpt & 0x7f) == s->pt;
}

/* RFC 3550 section 6.4.1 and A.8: D is the change in transit time between this
 * packet and the last one of type pt, in RTP clock units; now_ns is its
 * arrival, CLOCK_MONOTONIC.
 */
MP_RTP_INLINE void mp_rtp_update_jitter(struct mp_rtp_leg *s, const struct mp_rtp_hdr *h, __u64 now_ns)
{
	__u32 ts = MP_RTP_BE32(h->ts);
	__u64 arrival_delta, d;
	__s64 transit_delta;

	if (s->last_arrival_ns && now_ns > s->last_arrival_ns && now_ns - s->last_arrival_ns < MP_RTP_JITTER_GAP_NS) {
		/* ns x rate / 10^9 without a division: 2^50 / 10^9 = 1125899.9 (error 10^-7);
		 * below MP_RTP_JITTER_GAP_NS and 192 kHz nothing overflows
		 */
		arrival_delta = (((now_ns - s->last_arrival_ns) * s->clock_rate >> 10) * 1125900 + (1ULL << 39)) >> 40;
		transit_delta = (__s64)arrival_delta - (__s32)(ts - s->last_ts);
		d = transit_delta < 0 ? -transit_delta : transit_delta;
		if (d > MP_RTP_JITTER_MAX)
			d = MP_RTP_JITTER_MAX;
		s->jitter += (__u32)d - ((s->jitter + 8) >> 4);
	}
	s->last_arrival_ns = now_ns;
	s->last_ts = ts;
}

#endif
