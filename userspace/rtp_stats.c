#include <string.h>
#include "rtp_stats.h"

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

struct rtp_quality rtp_stats_quality(const struct mp_rtp_leg *s)
{
	return (struct rtp_quality){
		.enabled = true,
		.measured = true,
		.has_jitter = s->clock_rate != 0,
		.lost = mp_rtp_lost(s),
		.out_of_order = s->out_of_order,
		.duplicates = s->duplicates,
		.ssrc_changes = s->sources ? s->sources - 1 : 0,
		.jitter_ms = s->clock_rate ? s->jitter / 16.0 * 1000.0 / s->clock_rate : 0,
	};
}
