/* Unit tests for common/base/hex.c. */
#include "hex.h"
#include "unit.h"

/* Every byte value: exactly the 22 hex digits have a value, and it is theirs. */
static void
test_every_byte(void)
{
	static const char digits[] = "0123456789abcdef";
	int c, n = 0;

	for (c = 0; c < 256; c++) {
		const char *lo = c != 0 ? strchr(digits, c) : NULL;
		const char *up = c >= 'A' && c <= 'F' ? strchr(digits, c - 'A' + 'a')
						      : NULL;
		int want = lo ? (int)(lo - digits) : up ? (int)(up - digits) : -1;

		CU_ASSERT_EQUAL(kbs_hexval(c), want);
		if (want >= 0)
			n++;
	}
	CU_ASSERT_EQUAL(n, 22);
}

/* A char that is negative (signed char, bytes >= 0x80) and EOF are no digit. */
static void
test_negative(void)
{
	CU_ASSERT_EQUAL(kbs_hexval((char)0xE1), -1);
	CU_ASSERT_EQUAL(kbs_hexval((char)0xC6), -1);
	CU_ASSERT_EQUAL(kbs_hexval(-1), -1);
	CU_ASSERT_EQUAL(kbs_hexval('0' + 256), -1);
	CU_ASSERT_EQUAL(kbs_hexval('F'), 15);
	CU_ASSERT_EQUAL(kbs_hexval('a'), 10);
	CU_ASSERT_EQUAL(kbs_hexval('g'), -1);
	CU_ASSERT_EQUAL(kbs_hexval('G'), -1);
}

static const kbs_unit_test tests[] = {
	{"every_byte", test_every_byte},
	{"negative", test_negative},
	{NULL, NULL},
};

KBS_UNIT_MAIN("hex", tests)
