/* The per-leg RTP statistics (include/mp_rtp.h through userspace/rtp_stats.c,
 * doc/fast-path.md §11) on datagrams from anywhere: a hostile sender picks
 * every byte of its packets and their timing.  Checks, besides memory
 * safety: every datagram is RTP or counted in not_rtp, exactly as RFC 7983's
 * first-byte rule and the length say; the jitter stays within its bound.
 *
 * Input: datagrams separated by "\r\n--\r\n"; the first byte of each is the
 * time since the previous one in milliseconds, the rest its UDP payload.
 */
#include "fuzz.h"
#include "rtp_stats.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init("fuzz-rtp-stats");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_bytes in = { data, size }, part;
	struct mp_rtp_leg leg = { 0 };
	uint64_t now_ns = 1000000000ULL, not_rtp = 0;

	while (fuzz_next_part(&in, "\r\n--\r\n", 6, &part)) {
		uint8_t *copy;

		if (!part.len)
			continue;
		now_ns += part.p[0] * 1000000ULL;
		/* a copy of its own, so that the sanitizer sees a read past the end */
		copy = malloc(part.len - 1 ? part.len - 1 : 1);
		FUZZ_CHECK(copy);
		memcpy(copy, part.p + 1, part.len - 1);
		not_rtp += part.len - 1 < 12 || (copy[0] >> 6) != 2 || (copy[1] >= 192 && copy[1] <= 223);
		rtp_stats_packet(&leg, copy, part.len - 1, now_ns);
		free(copy);
		FUZZ_CHECK(leg.not_rtp == not_rtp);
		FUZZ_CHECK(leg.jitter <= 16ULL * MP_RTP_JITTER_MAX);
		FUZZ_CHECK(mp_rtp_lost(&leg) >= leg.lost_prior);
		FUZZ_CHECK(!leg.sources || leg.clock_rate == rtp_stats_clock_rate(leg.pt));
	}
	return 0;
}
