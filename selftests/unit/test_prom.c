/* Unit tests of the Prometheus text writer (common/prom.c): families,
 * samples with and without labels, escaping, histograms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "prom.h"

static struct evbuffer *out;

static int setup(void **state)
{
	out = evbuffer_new();
	return out ? 0 : -1;
}

static int teardown(void **state)
{
	evbuffer_free(out);
	return 0;
}

static void expect_text(const char *text)
{
	size_t len = evbuffer_get_length(out);
	char *got = calloc(1, len + 1);

	evbuffer_remove(out, got, len);
	assert_string_equal(got, text);
	free(got);
}

static void test_family_and_samples(void **state)
{
	mp_prom_family(out, "x_total", MP_PROM_COUNTER, "Things.");
	mp_prom_uint(out, "x_total", 18446744073709551615ULL, NULL);
	mp_prom_uint(out, "x_total", 3, "kind", "a", "side", "b", NULL);
	mp_prom_real(out, "y", 0.125, NULL);
	expect_text("# HELP x_total Things.\n# TYPE x_total counter\nx_total 18446744073709551615\n"
		    "x_total{kind=\"a\",side=\"b\"} 3\ny 0.125\n");
}

/* Label values and HELP from outside (a relay's version, a Call-ID) cannot break a line. */
static void test_escaping(void **state)
{
	mp_prom_family(out, "z", MP_PROM_GAUGE, "back\\slash\nnew \"line\"");
	mp_prom_uint(out, "z", 1, "v", "a\"b\\c\nd}", NULL);
	expect_text("# HELP z back\\\\slash\\nnew \"line\"\n# TYPE z gauge\nz{v=\"a\\\"b\\\\c\\nd}\"} 1\n");
}

static void test_special_reals(void **state)
{
	mp_prom_real(out, "r", 1.0 / 0.0, NULL);
	mp_prom_real(out, "r", -1.0 / 0.0, NULL);
	mp_prom_real(out, "r", 0.0 / 0.0, NULL);
	expect_text("r +Inf\nr -Inf\nr NaN\n");
}

static void test_histogram(void **state)
{
	const double bounds[] = { 0.001, 0.5 };
	const uint64_t counts[] = { 2, 0, 1 };

	mp_prom_histogram(out, "h_seconds", bounds, counts, 2, 1.25, "c", "u", NULL);
	expect_text("h_seconds_bucket{c=\"u\",le=\"0.001\"} 2\nh_seconds_bucket{c=\"u\",le=\"0.5\"} 2\n"
		    "h_seconds_bucket{c=\"u\",le=\"+Inf\"} 3\nh_seconds_sum{c=\"u\"} 1.25\nh_seconds_count{c=\"u\"} 3\n");
	mp_prom_histogram(out, "h", bounds, counts, 2, 0, NULL);
	expect_text("h_bucket{le=\"0.001\"} 2\nh_bucket{le=\"0.5\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 0\nh_count 3\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_family_and_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_reals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
	};

	return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
