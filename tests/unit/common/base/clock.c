/* Unit tests for common/clock.c. */
#include <string.h>

#include "clock.h"
#include "unit.h"

static long long
parsed(const char *s)
{
	long long t = -12345;

	return kbs_clock_parse_rfc3339(s, &t) == 0 ? t : -12345;
}

/* Known instants, with the UTC spellings RFC 3339 allows. */
static void
test_rfc3339_values(void)
{
	CU_ASSERT_EQUAL(parsed("1970-01-01T00:00:00Z"), 0);
	CU_ASSERT_EQUAL(parsed("2026-08-21T13:21:50Z"), 1787318510LL);
	CU_ASSERT_EQUAL(parsed("2026-08-21t13:21:50z"), 1787318510LL);
	CU_ASSERT_EQUAL(parsed("2026-08-21T13:21:50+00:00"), 1787318510LL);
	CU_ASSERT_EQUAL(parsed("2026-08-21T13:21:50.123456Z"), 1787318510LL);
	/* Leap day and the day after it. */
	CU_ASSERT_EQUAL(parsed("2024-02-29T00:00:00Z"), 1709164800LL);
	CU_ASSERT_EQUAL(parsed("2024-03-01T00:00:00Z"), 1709251200LL);
	CU_ASSERT_EQUAL(parsed("2100-01-01T00:00:00Z"), 4102444800LL);
}

static void
test_rfc3339_refusals(void)
{
	static const char *const bad[] = {
		"", "2026-08-21", "2026-08-21T13:21:50", "2026-08-21 13:21:50Z",
		"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-32T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z",
		"1969-12-31T23:59:59Z", "2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00.Z",
		"2026-01-01T00:00:00.123456789012345678901Z", "2026-01-01T00:00:00Zjunk",
		"2O26-01-01T00:00:00Z", "2026-01-01T00:00:0xZ", "+026-01-01T00:00:00Z",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(parsed(bad[i]), -12345);
		if (parsed(bad[i]) != -12345)
			fprintf(stderr, "\naccepted: %s\n", bad[i]);
	}
}

static void
test_rfc3339_format_round_trip(void)
{
	char buf[32];
	long long t;

	for (t = 0; t < 5000000000LL; t += 86399LL * 397) {
		kbs_clock_rfc3339(t, buf, sizeof(buf));
		CU_ASSERT_EQUAL(parsed(buf), t);
	}
}

static const kbs_unit_test tests[] = {
	{"rfc3339_values", test_rfc3339_values},
	{"rfc3339_refusals", test_rfc3339_refusals},
	{"rfc3339_format_round_trip", test_rfc3339_format_round_trip},
	{NULL, NULL},
};

KBS_UNIT_MAIN("clock", tests)
