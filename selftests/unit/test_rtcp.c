/* Unit tests of the RTCP the relay reads (userspace/rtcp.c,
 * doc/fast-path.md §12): compound packets parsed and refused, the round
 * trip from LSR and DLSR, and the E-model's MOS (userspace/emodel.c, doc/fast-path.md §13)
 * with what a stream reports from both (userspace/rtp_stats.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "emodel.h"
#include "rtcp.h"
#include "rtp_stats.h"

#define MS 1000000ULL

static size_t put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static size_t header(unsigned char *p, unsigned count, unsigned type, size_t len)
{
	p[0] = (unsigned char)(0x80 | count);
	p[1] = (unsigned char)type;
	p[2] = (unsigned char)((len / 4 - 1) >> 8);
	p[3] = (unsigned char)(len / 4 - 1);
	return 4;
}

static size_t block(unsigned char *p, uint32_t ssrc, unsigned fraction, int32_t lost, uint32_t jitter, uint32_t lsr,
		    uint32_t dlsr)
{
	put32(p, ssrc);
	put32(p + 4, (uint32_t)lost & 0xffffff);
	p[4] = (unsigned char)fraction;
	put32(p + 8, 0x10064);
	put32(p + 12, jitter);
	put32(p + 16, lsr);
	put32(p + 20, dlsr);
	return 24;
}

/* An SR of `ssrc` whose NTP timestamp has `middle` as its middle 32 bits, with one block, then an SDES. */
static size_t sr_sdes(unsigned char *p, uint32_t ssrc, uint32_t middle, uint32_t lsr, uint32_t dlsr)
{
	size_t n = header(p, 1, 200, 52);

	n += put32(p + n, ssrc);
	n += put32(p + n, 0xe0000000 | middle >> 16); /* NTP seconds */
	n += put32(p + n, middle << 16 | 0x1234);      /* NTP fraction */
	n += put32(p + n, 160000);                       /* RTP timestamp */
	n += put32(p + n, 1000);                         /* packets */
	n += put32(p + n, 172000);                       /* octets */
	n += block(p + n, 0xbbbb, 12, 34, 80, lsr, dlsr);
	n += header(p + n, 1, 202, 16); /* SDES: one chunk, CNAME "ab" */
	n += put32(p + n, ssrc);
	memcpy(p + n, "\x01\x02" "ab\0\0\0\0", 8);
	return n + 8;
}

static void test_sr_and_sdes(void **state)
{
	unsigned char buf[128];
	struct rtcp_packet p;
	size_t len = sr_sdes(buf, 0xaaaa, 0x56781234, 0, 0);

	assert_int_equal(rtcp_parse(buf, len, &p), 0);
	assert_true(p.has_sr);
	assert_int_equal(p.sr_ssrc, 0xaaaa);
	assert_int_equal(p.sr_ntp_middle, 0x56781234);
	assert_int_equal(p.blocks, 1);
	assert_int_equal(p.blocks_seen, 1);
	assert_int_equal(p.block[0].ssrc, 0xbbbb);
	assert_int_equal(p.block[0].fraction_lost, 12);
	assert_int_equal(p.block[0].cumulative_lost, 34);
	assert_int_equal(p.block[0].highest_seq, 0x10064);
	assert_int_equal(p.block[0].jitter, 80);
}

static void test_rr_blocks_and_negative_loss(void **state)
{
	unsigned char buf[256];
	struct rtcp_packet p;
	size_t n = header(buf, 10, 201, 8 + 10 * 24);

	n += put32(buf + n, 0xcccc);
	for (unsigned i = 0; i < 10; i++)
		n += block(buf + n, 0x100 + i, i, i == 3 ? -5 : (int32_t)i, 0, 0, 0);
	assert_int_equal(rtcp_parse(buf, n, &p), 0);
	assert_false(p.has_sr);
	assert_int_equal(p.blocks, RTCP_MAX_BLOCKS);
	assert_int_equal(p.blocks_seen, 10);
	assert_int_equal(p.block[3].cumulative_lost, -5);
	assert_int_equal(p.block[7].ssrc, 0x107);
}

static void test_refused(void **state)
{
	unsigned char buf[256], bad[256];
	struct rtcp_packet p;
	size_t len = sr_sdes(buf, 0xaaaa, 0x56781234, 0, 0);

	assert_int_equal(rtcp_parse(buf, 3, &p), -1);   /* shorter than a header */
	assert_int_equal(rtcp_parse(buf, 0, &p), -1);
	assert_int_equal(rtcp_parse(buf, 51, &p), -1);  /* the SR cut */
	assert_int_equal(rtcp_parse(buf, 56, &p), -1);  /* the SDES header only */
	memcpy(bad, buf, len);
	memset(bad + len, 0, 14); /* an SRTCP trailer: index and tag */
	assert_int_equal(rtcp_parse(bad, len + 14, &p), -1);
	bad[0] = 0x41; /* version 1 */
	assert_int_equal(rtcp_parse(bad, len, &p), -1);
	memcpy(bad, buf, len);
	bad[0] = 0x82; /* two blocks in a length that holds one */
	assert_int_equal(rtcp_parse(bad, len, &p), -1);
	memcpy(bad, buf, len);
	bad[0] |= 0x20; /* padding in the first packet of two */
	assert_int_equal(rtcp_parse(bad, len, &p), -1);
	memcpy(bad, buf, len);
	bad[52] |= 0x20; /* padding in the last: 8 bytes "\0\0ab..." end in 0: refused */
	assert_int_equal(rtcp_parse(bad, len, &p), -1);
	bad[len - 1] = 4; /* four bytes of padding: the SDES chunk shortened, fine */
	assert_int_equal(rtcp_parse(bad, len, &p), 0);
	bad[len - 1] = 13; /* more padding than the packet holds */
	assert_int_equal(rtcp_parse(bad, len, &p), -1);
	/* an APP and a type nobody knows are skipped */
	header(bad, 0, 204, 12);
	header(bad + 12, 3, 250, 4);
	assert_int_equal(rtcp_parse(bad, 16, &p), 0);
	assert_int_equal(p.blocks_seen, 0);
}

/* The callee's SR passes the relay at 1 s; the caller's RR naming it comes
 * back at 1.1 s after holding it 50 ms: the caller is 50 ms away, there and back.
 */
static void test_round_trip(void **state)
{
	struct rtcp_side caller = { 0 }, callee = { 0 };
	unsigned char buf[128];
	uint32_t dlsr = 50 * 65536 / 1000; /* 3276: 49.988 ms */
	size_t len;

	len = sr_sdes(buf, 0xbbbb, 0x11112222, 0, 0);
	assert_int_equal(rtcp_side_packet(&callee, &caller, htonl(0xaaaa), buf, len, 1000 * MS), 0);
	assert_int_equal(callee.rtt_count, 0);
	len = sr_sdes(buf, 0xaaaa, 0x33334444, 0x11112222, dlsr);
	assert_int_equal(rtcp_side_packet(&caller, &callee, htonl(0xbbbb), buf, len, 1100 * MS), 0);
	assert_int_equal(caller.rtt_count, 1);
	assert_true(rtcp_side_rtt_ms(&caller) > 50.011 && rtcp_side_rtt_ms(&caller) < 50.013);
	assert_true(caller.has_block);
	assert_int_equal(caller.block.ssrc, 0xbbbb);
	/* an LSR the relay never saw pass leaves the round trip as it was */
	len = sr_sdes(buf, 0xaaaa, 0x33334445, 0x99999999, 0);
	assert_int_equal(rtcp_side_packet(&caller, &callee, htonl(0xbbbb), buf, len, 1200 * MS), 0);
	assert_true(rtcp_side_rtt_ms(&caller) > 50.011 && rtcp_side_rtt_ms(&caller) < 50.013);
	/* a DLSR longer than the time since: refused, not negative */
	len = sr_sdes(buf, 0xaaaa, 0x33334446, 0x11112222, 65536);
	assert_int_equal(rtcp_side_packet(&caller, &callee, htonl(0xbbbb), buf, len, 1300 * MS), 0);
	assert_true(rtcp_side_rtt_ms(&caller) > 50.011 && rtcp_side_rtt_ms(&caller) < 50.013);
	assert_int_equal(caller.reports, 3);
	/* the callee's next SR at 1.5 s, answered after 10 ms at 1.53 s: 20 ms, the mean 35 ms */
	len = sr_sdes(buf, 0xbbbb, 0x11115555, 0, 0);
	assert_int_equal(rtcp_side_packet(&callee, &caller, htonl(0xaaaa), buf, len, 1500 * MS), 0);
	len = sr_sdes(buf, 0xaaaa, 0x33334447, 0x11115555, 655);
	assert_int_equal(rtcp_side_packet(&caller, &callee, htonl(0xbbbb), buf, len, 1530 * MS), 0);
	assert_int_equal(caller.rtt_count, 2);
	assert_true(rtcp_side_rtt_ms(&caller) > 35.0 && rtcp_side_rtt_ms(&caller) < 35.1);
	assert_int_equal(rtcp_side_packet(&caller, &callee, 0, buf, 3, 1400 * MS), -1);
	assert_int_equal(caller.malformed, 1);
}

static void test_emodel(void **state)
{
	/* hand-computed from G.107: R = 93.2 - Idd - Ie-eff, then Annex B */
	assert_null(emodel_codec(96));
	assert_null(emodel_codec(3));
	assert_string_equal(emodel_codec(18)->name, "G729");
	assert_true(emodel_mos(emodel_codec(0), 0, 60) > 4.4092 && emodel_mos(emodel_codec(0), 0, 60) < 4.4094);
	/* G.729, 2 % loss: Ie-eff = 11 + 84 * 2 / 21 = 19, R = 74.2 */
	assert_true(emodel_mos(emodel_codec(18), 2, 60) > 3.7872 && emodel_mos(emodel_codec(18), 2, 60) < 3.7874);
	/* 200 ms: Idd = 3.0444 */
	assert_true(emodel_mos(emodel_codec(8), 0, 200) > 4.3427 && emodel_mos(emodel_codec(8), 0, 200) < 4.3429);
	assert_true(emodel_mos(emodel_codec(0), 100, 60) >= 1 && emodel_mos(emodel_codec(0), 100, 60) < 1.5);
	/* 5 s: Idd = 49.5, R = 43.7 */
	assert_true(emodel_mos(emodel_codec(0), 0, 5000) > 2.2 && emodel_mos(emodel_codec(0), 0, 5000) < 2.3);
}

/* What a stream reports: RTCP's figures on its SSRC, the MOS from them. */
static void test_quality_from_rtcp(void **state)
{
	struct mp_rtp_leg leg = { 0 };
	struct rtcp_side sender = { .rtt_count = 2, .rtt_sum_ms = 60 }, receiver = { .rtt_count = 1, .rtt_sum_ms = 20 };
	unsigned char buf[12] = { 0x80, 0 };
	struct rtp_quality q;

	for (unsigned seq = 1; seq <= 101; seq++) {
		buf[2] = (unsigned char)(seq >> 8);
		buf[3] = (unsigned char)seq;
		buf[11] = 0x42; /* SSRC 0x42 */
		if (seq % 50)
			rtp_stats_packet(&leg, buf, sizeof(buf), seq * 20 * MS);
	}
	q = rtp_stats_quality(&leg, &sender, &receiver);
	assert_int_equal(q.lost, 2); /* 50 and 100 of the 100 from 2, where the source was validated, to 101 */
	assert_false(q.has_report);
	assert_true(q.has_rtt && q.rtt_ms == 30);
	/* own loss: 2 of 100 expected, delay 60 + 15 + 10 ms */
	assert_true(q.has_mos && q.mos > 4.2347 && q.mos < 4.2349);
	receiver.has_block = true;
	receiver.block = (struct rtcp_block){ .ssrc = 0x42, .fraction_lost = 64, .cumulative_lost = 10,
					      .highest_seq = 101, .jitter = 80 };
	q = rtp_stats_quality(&leg, &sender, &receiver);
	assert_true(q.has_report);
	assert_true(q.report_fraction_lost == 0.25);
	assert_int_equal(q.report_lost, 10);
	assert_true(q.report_has_jitter && q.report_jitter_ms == 10);
	/* the receiver's loss: 10 of 100 */
	assert_true(q.mos < emodel_mos(emodel_codec(0), 9.9, 85) && q.mos > emodel_mos(emodel_codec(0), 10.1, 85));
	leg.pt = 96; /* no E-model figures for a dynamic type */
	q = rtp_stats_quality(&leg, &sender, &receiver);
	assert_false(q.has_mos);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sr_and_sdes),
		cmocka_unit_test(test_rr_blocks_and_negative_loss),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_emodel),
		cmocka_unit_test(test_quality_from_rtcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
