/* Unit tests of the per-leg RTP statistics as the agent keeps them
 * (userspace/rtp_stats.c over include/mp_rtp.h, doc/fast-path.md §11):
 * the sequence of selftests/data/rtp_sequence.txt, which
 * selftests/test_bpf_fixtures.py runs through the BPF programs with the
 * same expectations, so both sides agree; the jitter against a direct
 * floating-point computation of RFC 3550 section 6.4.1; the clock rates; and
 * what a stream reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "rtp_stats.h"

#ifndef SEQUENCE_FILE
#define SEQUENCE_FILE "selftests/data/rtp_sequence.txt"
#endif
#define MS 1000000ULL

static size_t rtp_packet(unsigned char *buf, unsigned seq, uint32_t ssrc, uint32_t ts, unsigned first, unsigned pt)
{
	memset(buf, 0, 12 + 160);
	buf[0] = (unsigned char)first;
	buf[1] = (unsigned char)pt;
	buf[2] = (unsigned char)(seq >> 8);
	buf[3] = (unsigned char)seq;
	for (int i = 0; i < 4; i++) {
		buf[4 + i] = (unsigned char)(ts >> (24 - 8 * i));
		buf[8 + i] = (unsigned char)(ssrc >> (24 - 8 * i));
	}
	return 12 + 160;
}

/* The payload of a line's middle field (the file's header says the forms). */
static size_t sequence_payload(char *spec, unsigned char *buf)
{
	static const unsigned char stun[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	static const unsigned char dtls[] = { 0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2f, 0x01, 0, 0, 0x23, 0, 0 };
	static const unsigned char rtcp[] = { 0x80, 0xc9, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44 };
	char *save = NULL, *kind = strtok_r(spec, " ", &save), *word;
	unsigned long seq, ssrc = 0x11223344, first = 0x80;

	assert_non_null(kind);
	if (!strcmp(kind, "stun"))
		return memcpy(buf, stun, sizeof(stun)), sizeof(stun);
	if (!strcmp(kind, "dtls"))
		return memcpy(buf, dtls, sizeof(dtls)), sizeof(dtls);
	if (!strcmp(kind, "rtcp"))
		return memcpy(buf, rtcp, sizeof(rtcp)), sizeof(rtcp);
	word = strtok_r(NULL, " ", &save);
	assert_non_null(word);
	seq = strtoul(word, NULL, 10);
	if (!strcmp(kind, "short"))
		return memset(buf, 0, seq), seq;
	assert_string_equal(kind, "rtp");
	while ((word = strtok_r(NULL, " ", &save))) {
		if (!strncmp(word, "ssrc=", 5))
			ssrc = strtoul(word + 5, NULL, 16);
		else if (!strncmp(word, "first=", 6))
			first = strtoul(word + 6, NULL, 16);
		else
			fail_msg("unknown option %s", word);
	}
	return rtp_packet(buf, (unsigned)seq & 0xffff, (uint32_t)ssrc, (uint32_t)(seq * 160), (unsigned)first, 0);
}

/* What the fixture runner prints for a leg, by the same names. */
static unsigned long stat_named(const struct mp_rtp_leg *s, const char *name)
{
	if (!strcmp(name, "received"))
		return s->received;
	if (!strcmp(name, "expected"))
		return mp_rtp_expected(s);
	if (!strcmp(name, "lost"))
		return mp_rtp_lost(s);
	if (!strcmp(name, "out_of_order"))
		return s->out_of_order;
	if (!strcmp(name, "duplicates"))
		return s->duplicates;
	if (!strcmp(name, "sources"))
		return s->sources;
	if (!strcmp(name, "not_rtp"))
		return s->not_rtp;
	if (!strcmp(name, "max_seq"))
		return s->max_seq;
	if (!strcmp(name, "cycles"))
		return s->cycles >> 16;
	if (!strcmp(name, "probation"))
		return s->probation;
	fail_msg("unknown statistic %s", name);
	return 0;
}

static void test_fixture_sequence(void **state)
{
	FILE *f = fopen(SEQUENCE_FILE, "r");
	struct mp_rtp_leg leg = { 0 };
	char line[512];
	unsigned lines = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned char buf[256], odd[257];
		char *save = NULL, *desc, *spec, *want, *kv;
		size_t len;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		desc = strtok_r(line, "|", &save);
		spec = strtok_r(NULL, "|", &save);
		want = strtok_r(NULL, "|\n", &save);
		assert_non_null(want);
		len = sequence_payload(spec, buf);
		memcpy(odd + 1, buf, len); /* as a datagram in the receive batch may be: unaligned */
		rtp_stats_packet(&leg, odd + 1, len, (lines + 1) * 20 * MS);
		for (char *s2 = NULL, *w = strtok_r(want, " ", &s2); w; w = strtok_r(NULL, " ", &s2)) {
			unsigned long expected;

			kv = strchr(w, '=');
			assert_non_null(kv);
			*kv = '\0';
			expected = strtoul(kv + 1, NULL, 10);
			if (stat_named(&leg, w) != expected)
				fail_msg("after \"%s\": %s = %lu, expected %lu", desc, w, stat_named(&leg, w), expected);
		}
		lines++;
	}
	fclose(f);
	assert_int_equal(lines, 19);
	assert_int_equal(leg.clock_rate, 8000); /* payload type 0, from the first packet */
}

/* RFC 3550 section 6.4.1 in doubles: J += (|D| - J) / 16. */
static void test_jitter_matches_rfc(void **state)
{
	struct mp_rtp_leg leg = { 0 };
	unsigned char buf[256];
	double j = 0, last_transit = 0;
	uint64_t arrival = 1000 * MS;

	srand(1624);
	for (unsigned i = 0; i < 500; i++) {
		/* 20 ms apart, plus up to 9 ms of random delay: 0.125 ms units at 8 kHz */
		uint64_t at = arrival + i * 20 * MS + (uint64_t)(rand() % 73) * 125000;
		uint32_t ts = 1234 + i * 160;
		double transit = (double)at * 8000 / 1e9 - ts;

		rtp_stats_packet(&leg, buf, rtp_packet(buf, 7 + i, 0xabcd, ts, 0x80, 8), at);
		if (i >= 2) { /* validated from the second packet on: the first D is the third's */
			double d = transit - last_transit;

			j += ((d < 0 ? -d : d) - j) / 16;
		}
		if (i >= 1)
			last_transit = transit;
	}
	assert_int_equal(leg.clock_rate, 8000);
	assert_int_equal(leg.pt, 8);
	/* integer arithmetic of RFC 3550 A.8 against doubles: within a clock unit */
	assert_true(leg.jitter / 16.0 > j - 1 && leg.jitter / 16.0 < j + 1);
	assert_true(j > 10); /* the random delays made some: about 24 units */
	assert_true(rtp_stats_quality(&leg).has_jitter);
}

static void test_jitter_only_on_the_first_payload_type(void **state)
{
	struct mp_rtp_leg leg = { 0 };
	unsigned char buf[256];

	for (unsigned i = 0; i < 10; i++)
		rtp_stats_packet(&leg, buf, rtp_packet(buf, i, 1, i * 160, 0x80, 0), i * 20 * MS);
	/* telephone-event (dynamic 101) with a frozen timestamp: not in the jitter */
	for (unsigned i = 10; i < 20; i++)
		rtp_stats_packet(&leg, buf, rtp_packet(buf, i, 1, 1600, 0x80, 101), i * 20 * MS);
	assert_int_equal(leg.jitter, 0);
	assert_int_equal(leg.received, 19);
	assert_int_equal(mp_rtp_lost(&leg), 0);
}

static void test_dynamic_type_has_no_jitter(void **state)
{
	struct mp_rtp_leg leg = { 0 };
	unsigned char buf[256];
	struct rtp_quality q;

	for (unsigned i = 0; i < 10; i++)
		rtp_stats_packet(&leg, buf, rtp_packet(buf, i, 1, i * 960, 0x80, 111), i * 20 * MS + (i % 3) * MS);
	q = rtp_stats_quality(&leg);
	assert_true(q.measured);
	assert_false(q.has_jitter);
	assert_int_equal(q.lost, 0);
	assert_int_equal(leg.jitter, 0);
}

static void test_quality(void **state)
{
	struct mp_rtp_leg leg = { 0 };
	unsigned char buf[256];
	static const unsigned seqs[] = { 1, 2, 3, 5, 4, 4, 9, 10 };
	struct rtp_quality q;

	for (unsigned i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		rtp_stats_packet(&leg, buf, rtp_packet(buf, seqs[i], 7, seqs[i] * 160, 0x80, 0), i * 20 * MS);
	rtp_stats_packet(&leg, buf, rtp_packet(buf, 100, 8, 0, 0x80, 0), 200 * MS);
	q = rtp_stats_quality(&leg);
	assert_true(q.enabled && q.measured);
	assert_int_equal(q.lost, 3);	/* 6, 7, 8 */
	assert_int_equal(q.out_of_order, 1);	/* 4 */
	assert_int_equal(q.duplicates, 1);	/* 4 again */
	assert_int_equal(q.ssrc_changes, 1);
}

static void test_clock_rates(void **state)
{
	assert_int_equal(rtp_stats_clock_rate(0), 8000);
	assert_int_equal(rtp_stats_clock_rate(8), 8000);
	assert_int_equal(rtp_stats_clock_rate(9), 8000); /* G.722: 8000 by RFC 3551's mistake, kept */
	assert_int_equal(rtp_stats_clock_rate(18), 8000);
	assert_int_equal(rtp_stats_clock_rate(6), 16000);
	assert_int_equal(rtp_stats_clock_rate(10), 44100);
	assert_int_equal(rtp_stats_clock_rate(34), 90000);
	assert_int_equal(rtp_stats_clock_rate(1), 0);  /* reserved */
	assert_int_equal(rtp_stats_clock_rate(35), 0);
	assert_int_equal(rtp_stats_clock_rate(96), 0); /* dynamic: the SDP would say */
	assert_int_equal(rtp_stats_clock_rate(127), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_sequence),
		cmocka_unit_test(test_jitter_matches_rfc),
		cmocka_unit_test(test_jitter_only_on_the_first_payload_type),
		cmocka_unit_test(test_dynamic_type_has_no_jitter),
		cmocka_unit_test(test_quality),
		cmocka_unit_test(test_clock_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
