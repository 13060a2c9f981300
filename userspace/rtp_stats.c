#include <arpa/inet.h>
#include <string.h>
#include "emodel.h"
#include "rtp_stats.h"

/* doc/fast-path.md §13: what the mouth-to-ear delay has besides the network:
 * a packet's worth of audio (20 ms) and the receiver's jitter buffer (40 ms).
 */
#define EMODEL_LOCAL_DELAY_MS 60.0

/* RFC 3551 section 6, tables 4 and 5. */
static const unsigned static_rates[35] = {
	[0] = 8000,  [2] = 8000,  [3] = 8000,   [4] = 8000,   [5] = 8000,   [6] = 16000,  [7] = 8000,
	[8] = 8000,  [9] = 8000,  [10] = 44100, [11] = 44100, [12] = 8000,  [13] = 8000,  [14] = 90000,
	[15] = 8000, [16] = 11025, [17] = 22050, [18] = 8000, [25] = 90000, [26] = 90000, [28] = 90000,
	[31] = 90000, [32] = 90000, [33] = 90000, [34] = 90000,
};

unsigned rtp_stats_clock_rate(unsigned payload_type)
{
	return payload_type < sizeof(static_rates) / sizeof(static_rates[0]) ? static_rates[payload_type] : 0;
}

void rtp_stats_packet(struct mp_rtp_leg *s, const unsigned char *data, size_t len, uint64_t arrival_ns)
{
	struct mp_rtp_hdr hdr, *h = NULL;

	if (len >= sizeof(hdr)) {
		memcpy(&hdr, data, sizeof(hdr)); /* a datagram in a batch buffer may be unaligned */
		h = &hdr;
	}
	if (h && !s->sources && mp_rtp_is_rtp(h->vpxcc, h->mpt)) {
		s->pt = h->mpt & 0x7f;
		s->clock_rate = rtp_stats_clock_rate(s->pt);
	}
	if (mp_rtp_count(s, h))
		mp_rtp_update_jitter(s, h, arrival_ns);
}

/* The loss of the stream in percent, for the E-model: as the receiver
 * reported it, over the sequence numbers its report covers, when it reported
 * on the SSRC the relay counts; else as the relay counted it.  -1: nothing
 * was expected yet.
 */
static double loss_percent(const struct mp_rtp_leg *s, const struct rtcp_side *receiver)
{
	uint32_t expected = mp_rtp_expected(s);
	double lost = expected > s->received ? expected - s->received : 0;

	if (receiver->has_block && receiver->block.ssrc == ntohl(s->ssrc) && s->sources && !s->probation &&
	    receiver->block.highest_seq >= s->base_seq) {
		expected = receiver->block.highest_seq - s->base_seq + 1;
		lost = receiver->block.cumulative_lost > 0 ? receiver->block.cumulative_lost : 0;
	}
	if (!expected)
		return -1;
	return lost < expected ? 100 * lost / expected : 100;
}

static void add_rtcp(struct rtp_quality *q, const struct mp_rtp_leg *s, const struct rtcp_side *sender,
		     const struct rtcp_side *receiver)
{
	const struct emodel_codec *codec = s->sources ? emodel_codec(s->pt) : NULL;
	double loss = loss_percent(s, receiver), delay = EMODEL_LOCAL_DELAY_MS;

	q->has_report = receiver->has_block;
	q->report_fraction_lost = receiver->block.fraction_lost / 256.0;
	q->report_lost = receiver->block.cumulative_lost;
	q->report_has_jitter = s->clock_rate != 0;
	q->report_jitter_ms = s->clock_rate ? receiver->block.jitter * 1000.0 / s->clock_rate : 0;
	q->has_rtt = sender->rtt_count != 0;
	q->rtt_ms = q->has_rtt ? rtcp_side_rtt_ms(sender) : 0;
	/* each side's one-way share: half its round trip from the relay, when measured */
	delay += (sender->rtt_count ? rtcp_side_rtt_ms(sender) / 2 : 0) +
		 (receiver->rtt_count ? rtcp_side_rtt_ms(receiver) / 2 : 0);
	q->has_mos = codec && loss >= 0;
	q->mos = q->has_mos ? emodel_mos(codec, loss, delay) : 0;
}

struct rtp_quality rtp_stats_quality(const struct mp_rtp_leg *s, const struct rtcp_side *sender,
				     const struct rtcp_side *receiver)
{
	struct rtp_quality q = {
		.enabled = true,
		.measured = true,
		.has_jitter = s->clock_rate != 0,
		.lost = mp_rtp_lost(s),
		.out_of_order = s->out_of_order,
		.duplicates = s->duplicates,
		.ssrc_changes = s->sources ? s->sources - 1 : 0,
		.jitter_ms = s->clock_rate ? s->jitter / 16.0 * 1000.0 / s->clock_rate : 0,
	};

	add_rtcp(&q, s, sender, receiver);
	return q;
}
