#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include "prom.h"

/* A label value or HELP text: backslash, newline and (in label values)
 * the double quote are escaped.
 */
static void escaped(struct evbuffer *out, const char *text, int quote)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*p == '\n')
			evbuffer_add(out, "\\n", 2);
		else if (*p == '"' && quote)
			evbuffer_add(out, "\\\"", 2);
		else
			evbuffer_add(out, p, 1);
	}
}

/* name{label="value",...,extra="value"}, without braces when there are none. */
static void series(struct evbuffer *out, const char *name, const char *suffix, va_list labels, const char *extra,
		   const char *extra_value)
{
	const char *label;
	va_list ap;
	int n = 0;

	evbuffer_add_printf(out, "%s%s", name, suffix);
	va_copy(ap, labels);
	while ((label = va_arg(ap, const char *))) {
		evbuffer_add_printf(out, "%s%s=\"", n++ ? "," : "{", label);
		escaped(out, va_arg(ap, const char *), 1);
		evbuffer_add(out, "\"", 1);
	}
	va_end(ap);
	if (extra)
		evbuffer_add_printf(out, "%s%s=\"%s\"", n++ ? "," : "{", extra, extra_value);
	if (n)
		evbuffer_add(out, "}", 1);
}

static void real_value(struct evbuffer *out, double value)
{
	if (isnan(value))
		evbuffer_add_printf(out, " NaN\n");
	else if (isinf(value))
		evbuffer_add_printf(out, " %sInf\n", value > 0 ? "+" : "-");
	else
		evbuffer_add_printf(out, " %.15g\n", value);
}

void mp_prom_family(struct evbuffer *out, const char *name, enum mp_prom_type type, const char *help)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };

	evbuffer_add_printf(out, "# HELP %s ", name);
	escaped(out, help, 0);
	evbuffer_add_printf(out, "\n# TYPE %s %s\n", name, types[type]);
}

void mp_prom_uint(struct evbuffer *out, const char *name, uint64_t value, ...)
{
	va_list labels;

	va_start(labels, value);
	series(out, name, "", labels, NULL, NULL);
	va_end(labels);
	evbuffer_add_printf(out, " %" PRIu64 "\n", value);
}

void mp_prom_real(struct evbuffer *out, const char *name, double value, ...)
{
	va_list labels;

	va_start(labels, value);
	series(out, name, "", labels, NULL, NULL);
	va_end(labels);
	real_value(out, value);
}

void mp_prom_histogram(struct evbuffer *out, const char *name, const double *bounds, const uint64_t *counts,
		       unsigned n, double sum, ...)
{
	uint64_t total = 0;
	char le[32];
	va_list labels;

	va_start(labels, sum);
	for (unsigned i = 0; i <= n; i++) {
		total += counts[i];
		if (i < n)
			snprintf(le, sizeof(le), "%.15g", bounds[i]);
		series(out, name, "_bucket", labels, "le", i < n ? le : "+Inf");
		evbuffer_add_printf(out, " %" PRIu64 "\n", total);
	}
	series(out, name, "_sum", labels, NULL, NULL);
	real_value(out, sum);
	series(out, name, "_count", labels, NULL, NULL);
	evbuffer_add_printf(out, " %" PRIu64 "\n", total);
	va_end(labels);
}
