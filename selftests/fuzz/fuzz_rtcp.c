/* The RTCP the relay reads (userspace/rtcp.c, doc/fast-path.md §12) on
 * datagrams from anywhere: a party picks every byte of its RTCP and when it
 * sends it, on either side.  Checks, besides memory safety: what the parser
 * keeps is within its bounds; a round trip is never negative; a datagram
 * the parser refuses changes nothing but the malformed count; and what a
 * stream reports from it (userspace/rtp_stats.c, the E-model) is a MOS
 * between 1 and 4.5, a fraction lost between 0 and 1.
 *
 * Input: datagrams separated by "\r\n--\r\n"; the first byte of each is the
 * time since the previous one in milliseconds, its low bit the side that
 * sent it, the rest the UDP payload.
 */
#include "fuzz.h"
#include "rtp_stats.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-rtcp");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_bytes in = { data, size }, part;
	struct rtcp_side side[2] = { 0 };
	struct mp_rtp_leg leg = { .sources = 1, .pt = 18, .clock_rate = 8000, .base_seq = 7, .max_seq = 100,
				  .received = 90, .ssrc = 0x01000000 };
	uint64_t now_ns = 1000000000ULL;

	while (fuzz_next_part(&in, "\r\n--\r\n", 6, &part)) {
		struct rtcp_side before;
		struct rtp_quality q;
		uint8_t *copy;
		int s;

		if (!part.len)
			continue;
		now_ns += part.p[0] * 1000000ULL;
		s = part.p[0] & 1;
		/* a copy of its own, so that the sanitizer sees a read past the end */
		copy = malloc(part.len - 1 ? part.len - 1 : 1);
		FUZZ_CHECK(copy);
		memcpy(copy, part.p + 1, part.len - 1);
		before = side[s];
		if (rtcp_side_packet(&side[s], &side[!s], leg.ssrc, copy, part.len - 1, now_ns)) {
			before.malformed++;
			FUZZ_CHECK(!memcmp(&before, &side[s], sizeof(before)));
		}
		free(copy);
		FUZZ_CHECK(side[s].sr_next < RTCP_SR_HISTORY);
		FUZZ_CHECK(!side[s].rtt_count || rtcp_side_rtt_ms(&side[s]) >= 0);
		q = rtp_stats_quality(&leg, &side[!s], &side[s]);
		FUZZ_CHECK(!q.has_mos || (q.mos >= 1 && q.mos <= 4.5));
		FUZZ_CHECK(q.report_fraction_lost >= 0 && q.report_fraction_lost < 1);
	}
	return 0;
}
