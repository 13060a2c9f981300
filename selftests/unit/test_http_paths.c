/* Unit tests of what the HTTP interfaces make of a request's path: the
 * route it leads to (common/http.c) and the Call-ID of /api/sessions/ID
 * (dispatcher/web.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "http.h"
#include "web.h"

static void handler(void *ctx, struct evhttp_request *req, const char *rest)
{
}

static const struct mp_http_route routes[] = {
	{ "/", false, handler },
	{ "/metrics", false, handler },
	{ "/api/sessions", false, handler },
	{ "/api/sessions/", true, handler },
};

static int route(const char *path, const char **rest)
{
	const struct mp_http_route *r = mp_http_route_find(routes, 4, path, rest);

	return r ? (int)(r - routes) : -1;
}

static void test_routes(void **state)
{
	const char *rest = NULL;

	assert_int_equal(route("/", &rest), 0);
	assert_string_equal(rest, "");
	assert_int_equal(route("/metrics", &rest), 1);
	assert_int_equal(route("/api/sessions", &rest), 2);
	assert_int_equal(route("/api/sessions/abc%40host", &rest), 3);
	assert_string_equal(rest, "abc%40host");
	/* a prefix needs something after it; nothing matches a longer or a shorter path */
	assert_int_equal(route("/api/sessions/", &rest), -1);
	assert_int_equal(route("/metrics/", &rest), -1);
	assert_int_equal(route("/metric", &rest), -1);
	assert_int_equal(route("//", &rest), -1);
	assert_int_equal(route("", &rest), -1);
}

static void test_call_ids(void **state)
{
	char out[16];

	assert_int_equal(web_call_id("abc%40host", out, sizeof(out)), 0);
	assert_string_equal(out, "abc@host");
	assert_int_equal(web_call_id("a+b%2Fc%2fd", out, sizeof(out)), 0);
	assert_string_equal(out, "a+b/c/d");
	assert_int_equal(web_call_id("%E2%82%AC", out, sizeof(out)), 0);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(web_call_id("", out, sizeof(out)), -1);
	assert_int_equal(web_call_id("a%00b", out, sizeof(out)), -1);
	assert_int_equal(web_call_id("a%4", out, sizeof(out)), -1);
	assert_int_equal(web_call_id("a%g0", out, sizeof(out)), -1);
	assert_int_equal(web_call_id("%", out, sizeof(out)), -1);
	assert_int_equal(web_call_id("0123456789abcde", out, sizeof(out)), 0);
	assert_int_equal(web_call_id("0123456789abcdef", out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_call_ids),
	};

	return cmocka_run_group_tests_name("http_paths", tests, NULL, NULL);
}
