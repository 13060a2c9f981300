#include <arpa/inet.h>
#include <string.h>
#include "rtcp.h"

#define RTCP_SR 200
#define RTCP_RR 201
#define HEADER_LEN 4
#define SENDER_INFO_LEN 20 /* NTP timestamp, RTP timestamp, packet and octet counts */
#define BLOCK_LEN 24
#define NS_PER_S 1000000000ULL

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void parse_block(const unsigned char *p, struct rtcp_block *b)
{
	uint32_t lost = be32(p + 4) & 0xffffff;

	b->ssrc = be32(p);
	b->fraction_lost = p[4];
	b->cumulative_lost = (int32_t)(lost ^ 0x800000) - 0x800000; /* 24-bit two's complement */
	b->highest_seq = be32(p + 8);
	b->jitter = be32(p + 12);
	b->lsr = be32(p + 16);
	b->dlsr = be32(p + 20);
}

/* The report blocks of one SR or RR, `body` behind its SSRC (and sender info). */
static int parse_blocks(const unsigned char *body, size_t body_len, unsigned count, struct rtcp_packet *out)
{
	if ((size_t)count * BLOCK_LEN > body_len)
		return -1;
	for (unsigned i = 0; i < count; i++, out->blocks_seen++)
		if (out->blocks < RTCP_MAX_BLOCKS)
			parse_block(body + (size_t)i * BLOCK_LEN, &out->block[out->blocks++]);
	return 0;
}

int rtcp_parse(const unsigned char *data, size_t len, struct rtcp_packet *out)
{
	memset(out, 0, sizeof(*out));
	if (len < HEADER_LEN)
		return -1;
	while (len) {
		unsigned count, type;
		size_t size, content;

		if (len < HEADER_LEN || data[0] >> 6 != 2)
			return -1;
		count = data[0] & 0x1f;
		type = data[1];
		size = content = ((size_t)(data[2] << 8 | data[3]) + 1) * 4;
		if (size > len)
			return -1;
		if (data[0] & 0x20) {
			/* padding: in the last packet only, its length in its last byte */
			if (size != len || data[size - 1] == 0 || data[size - 1] > size - HEADER_LEN)
				return -1;
			content -= data[size - 1];
		}
		if (type == RTCP_SR) {
			if (content < HEADER_LEN + 4 + SENDER_INFO_LEN)
				return -1;
			out->has_sr = true;
			out->sr_ssrc = be32(data + 4);
			out->sr_ntp_middle = be32(data + 10); /* low half of the seconds, high half of the fraction */
			if (parse_blocks(data + 28, content - 28, count, out))
				return -1;
		} else if (type == RTCP_RR) {
			if (content < HEADER_LEN + 4 || parse_blocks(data + 8, content - 8, count, out))
				return -1;
		}
		/* SDES, BYE, APP, feedback and types we do not know: skipped by their length */
		data += size;
		len -= size;
	}
	return 0;
}

/* The block about `ssrc` (host order) when there is one, else the first. */
static const struct rtcp_block *block_about(const struct rtcp_packet *p, uint32_t ssrc)
{
	for (unsigned i = 0; i < p->blocks; i++)
		if (p->block[i].ssrc == ssrc)
			return &p->block[i];
	return p->blocks ? &p->block[0] : NULL;
}

/* RFC 3550 section 6.4.1: the round trip is the arrival of the report, less when
 * the sender report it names passed the relay, less the receiver's delay
 * in between (DLSR, 1/65536 s).  LSR 0: no sender report received yet.
 */
static void take_rtt(struct rtcp_side *side, const struct rtcp_side *other, const struct rtcp_block *b,
		     uint64_t arrival_ns)
{
	if (!b->lsr)
		return;
	for (unsigned i = 0; i < RTCP_SR_HISTORY; i++) {
		int64_t rtt_ns;

		if (!other->sr[i].passed_ns || other->sr[i].ntp_middle != b->lsr)
			continue;
		rtt_ns = (int64_t)(arrival_ns - other->sr[i].passed_ns) -
			 (int64_t)(((uint64_t)b->dlsr * NS_PER_S) >> 16);
		/* DLSR is rounded to 15 us; a negative round trip beyond that is someone's error */
		if (rtt_ns < -100000)
			return;
		side->rtt_count++;
		side->rtt_sum_ms += rtt_ns > 0 ? (double)rtt_ns / 1e6 : 0;
		return;
	}
}

double rtcp_side_rtt_ms(const struct rtcp_side *side)
{
	return side->rtt_count ? side->rtt_sum_ms / (double)side->rtt_count : -1;
}

int rtcp_side_packet(struct rtcp_side *side, const struct rtcp_side *other, uint32_t other_ssrc,
		     const unsigned char *data, size_t len, uint64_t arrival_ns)
{
	struct rtcp_packet p;
	const struct rtcp_block *b;

	if (rtcp_parse(data, len, &p)) {
		side->malformed++;
		return -1;
	}
	side->reports++;
	if (p.has_sr) {
		side->sr[side->sr_next].ntp_middle = p.sr_ntp_middle;
		side->sr[side->sr_next].passed_ns = arrival_ns;
		side->sr_next = (side->sr_next + 1) % RTCP_SR_HISTORY;
	}
	b = block_about(&p, ntohl(other_ssrc));
	if (b) {
		side->has_block = true;
		side->block = *b;
		take_rtt(side, other, b, arrival_ns);
	}
	return 0;
}
