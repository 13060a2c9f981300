/* RTCP passing through the relay (doc/fast-path.md §12): the compound
 * packet parser (RFC 3550 section 6.4: sender and receiver reports; SDES, BYE, APP
 * and unknown types skipped), and what one side's reports tell: the far
 * end's view of the other side's stream, and the side's round trip from
 * the relay, timed from the sender reports the relay saw pass the other way.
 */
#ifndef MP_RTCP_H
#define MP_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTCP_MAX_BLOCKS 8  /* report blocks kept of one compound packet; more are counted only */
#define RTCP_SR_HISTORY 4  /* sender reports remembered per side for the round trip */

/* One report block (RFC 3550 section 6.4.1), in host order. */
struct rtcp_block {
	uint32_t ssrc;          /* the source reported on */
	uint8_t fraction_lost;  /* of the last interval, in 1/256 */
	int32_t cumulative_lost; /* 24 bits, signed */
	uint32_t highest_seq;   /* extended */
	uint32_t jitter;        /* in the reported stream's RTP clock units */
	uint32_t lsr, dlsr;     /* middle 32 bits of the last SR's NTP time; delay since, 1/65536 s */
};

/* What one compound packet holds. */
struct rtcp_packet {
	bool has_sr;
	uint32_t sr_ssrc;
	uint32_t sr_ntp_middle; /* middle 32 bits of the SR's NTP timestamp */
	unsigned blocks;        /* kept in block[] */
	unsigned blocks_seen;   /* in the whole compound packet */
	struct rtcp_block block[RTCP_MAX_BLOCKS];
};

/* Parses a compound RTCP packet of `len` bytes.  0, or -1 when it is not
 * one: every packet must have version 2 and a length inside the datagram,
 * the lengths must add up to the datagram exactly (so SRTCP, whose trailer
 * follows, is refused, its encrypted reports unread), padding only in the
 * last packet, and an SR or RR must hold the report blocks it counts.
 */
int rtcp_parse(const unsigned char *data, size_t len, struct rtcp_packet *out);

/* What the relay learnt from one side's RTCP. */
struct rtcp_side {
	struct rtcp_sr_passed {
		uint32_t ntp_middle;
		uint64_t passed_ns; /* CLOCK_MONOTONIC */
	} sr[RTCP_SR_HISTORY];      /* this side's sender reports, the latest RTCP_SR_HISTORY */
	unsigned sr_next;
	uint64_t reports;           /* compound packets parsed */
	uint64_t malformed;         /* datagrams rtcp_parse refused */
	/* the latest report block of this side about the other side's stream */
	bool has_block;
	struct rtcp_block block;
	/* this side's round trip from the relay, relay -> side -> relay: the
	 * mean of those measured, a call's figure rather than its last moment's
	 */
	uint64_t rtt_count;
	double rtt_sum_ms;
};

/* The mean round trip of `side`, ms; -1 when none was measured. */
double rtcp_side_rtt_ms(const struct rtcp_side *side);

/* One datagram from `side`'s RTCP port, passed at `arrival_ns`
 * (CLOCK_MONOTONIC); `other` is the side it goes to.  `other_ssrc`, the
 * other side's RTP SSRC as sent (0 unknown), picks the block about it when
 * there are several.  Returns 0, or -1 when the datagram was not RTCP.
 */
int rtcp_side_packet(struct rtcp_side *side, const struct rtcp_side *other, uint32_t other_ssrc,
		     const unsigned char *data, size_t len, uint64_t arrival_ns);

#endif
