/* Unit tests for common/b64.c (lead's module). */
#include "b64.h"
#include "unit.h"

/* RFC 4648 section 10. */
static const char *const vec[][3] = {
	{"", "", ""},
	{"f", "Zg==", "Zg"},
	{"fo", "Zm8=", "Zm8"},
	{"foo", "Zm9v", "Zm9v"},
	{"foob", "Zm9vYg==", "Zm9vYg"},
	{"fooba", "Zm9vYmE=", "Zm9vYmE"},
	{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};
#define NVEC (sizeof(vec) / sizeof(vec[0]))

static int
dec(const char *in, kbs_b64_variant v, const char *want)
{
	uint8_t *out = (uint8_t *)"sentinel";
	size_t len = 12345;
	kbs_err rc = kbs_b64_decode(in, strlen(in), v, &out, &len);

	if (rc != KBS_OK) {
		/* Outputs untouched on failure. */
		CU_ASSERT(len == 12345 && strcmp((char *)out, "sentinel") == 0);
		return 0;
	}
	CU_ASSERT(want != NULL && len == strlen(want) &&
		  memcmp(out, want, len) == 0);
	CU_ASSERT(out[len] == 0);
	free(out);
	return 1;
}

static void
test_rfc4648_encode(void)
{
	size_t i;

	for (i = 0; i < NVEC; i++) {
		const uint8_t *in = (const uint8_t *)vec[i][0];
		char *s = kbs_b64_encode(in, strlen(vec[i][0]), KBS_B64_STD);
		char *u = kbs_b64_encode(in, strlen(vec[i][0]), KBS_B64_URL);
		char *a = kbs_b64_encode(in, strlen(vec[i][0]), KBS_B64_ANY);

		CU_ASSERT_STRING_EQUAL(s, vec[i][1]);
		CU_ASSERT_STRING_EQUAL(u, vec[i][2]);
		CU_ASSERT_STRING_EQUAL(a, vec[i][2]);
		free(s);
		free(u);
		free(a);
	}
}

static void
test_rfc4648_decode(void)
{
	size_t i;

	for (i = 0; i < NVEC; i++) {
		CU_ASSERT(dec(vec[i][1], KBS_B64_STD, vec[i][0]));
		CU_ASSERT(dec(vec[i][2], KBS_B64_URL, vec[i][0]));
		CU_ASSERT(dec(vec[i][1], KBS_B64_ANY, vec[i][0]));
		CU_ASSERT(dec(vec[i][2], KBS_B64_ANY, vec[i][0]));
		/* Each flavour refuses the other's padding rule. */
		if (strcmp(vec[i][1], vec[i][2]) != 0) {
			CU_ASSERT(!dec(vec[i][2], KBS_B64_STD, NULL));
			CU_ASSERT(!dec(vec[i][1], KBS_B64_URL, NULL));
		}
	}
}

static void
test_alphabets(void)
{
	/* 0xfb 0xff 0xbf: "+/+/" standard, "-_-_" url. */
	CU_ASSERT(dec("+/+/", KBS_B64_STD, "\xfb\xff\xbf"));
	CU_ASSERT(dec("-_-_", KBS_B64_URL, "\xfb\xff\xbf"));
	CU_ASSERT(!dec("-_-_", KBS_B64_STD, NULL));
	CU_ASSERT(!dec("+/+/", KBS_B64_URL, NULL));
	CU_ASSERT(dec("-_+/", KBS_B64_ANY, "\xfb\xff\xbf"));
	{
		const uint8_t in[] = {0xfb, 0xff, 0xbf};
		char *s = kbs_b64_encode(in, 3, KBS_B64_STD);
		char *u = kbs_b64_encode(in, 3, KBS_B64_URL);
		CU_ASSERT_STRING_EQUAL(s, "+/+/");
		CU_ASSERT_STRING_EQUAL(u, "-_-_");
		free(s);
		free(u);
	}
}

static void
test_strictness(void)
{
	static const char *const bad_std[] = {
		"Zg", "Zg=", "Zg===", "Z===", "Z", "Zm9vY", "Zh==", "Zm9=",
		"Zm9v\n", " Zm9v", "Zm 9v", "Zg==Zg==", "====", "Zm9v=",
		"Zm9!", "Zm\x80v",
	};
	static const char *const bad_url[] = {
		"Zg==", "Zg=", "Z", "Zm9vY", "Zh", "Zm9", "Zm9v\n", "Zm9v ",
		"Zm.v", "=", "Zm9v====",
	};
	size_t i;

	for (i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
		CU_ASSERT(!dec(bad_std[i], KBS_B64_STD, NULL));
		if (dec(bad_std[i], KBS_B64_STD, NULL))
			fprintf(stderr, "\nSTD accepted \"%s\"\n", bad_std[i]);
	}
	for (i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++)
		CU_ASSERT(!dec(bad_url[i], KBS_B64_URL, NULL));
	/* Non-canonical trailing bits are refused by ANY too. */
	CU_ASSERT(!dec("Zh", KBS_B64_ANY, NULL));
	CU_ASSERT(!dec("Zh==", KBS_B64_ANY, NULL));
	CU_ASSERT(!dec("Zg=", KBS_B64_ANY, NULL));
	/* An embedded NUL is not base64. */
	{
		uint8_t *out = NULL;
		size_t len = 0;
		CU_ASSERT(kbs_b64_decode("Zm\0v", 4, KBS_B64_STD, &out, &len) ==
			  KBS_ERR_INVALID);
		CU_ASSERT(kbs_b64_decode("Zm\0v", 4, KBS_B64_URL, &out, &len) ==
			  KBS_ERR_INVALID);
	}
}

/* 1 if c is in the alphabet of v (RFC 4648 tables 1 and 2). */
static int
in_alphabet(int c, kbs_b64_variant v)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	if (c == '+' || c == '/')
		return v != KBS_B64_URL;
	if (c == '-' || c == '_')
		return v != KBS_B64_STD;
	return 0;
}

/* Every byte value, in each position of a whole quantum and as the last
 * of three characters: decoded exactly when its variant's alphabet has it. */
static void
test_every_byte(void)
{
	static const kbs_b64_variant vs[] = {KBS_B64_STD, KBS_B64_URL, KBS_B64_ANY};
	size_t i, pos;
	int c, bad = 0;

	for (i = 0; i < 3; i++)
		for (c = 0; c < 256; c++) {
			for (pos = 0; pos < 4; pos++) {
				char q[5] = "QUFB";
				uint8_t *out = NULL;
				size_t len = 0;
				kbs_err rc;

				q[pos] = (char)c;
				rc = kbs_b64_decode(q, 4, vs[i], &out, &len);
				bad += (rc == KBS_OK) != in_alphabet(c, vs[i]);
				free(out);
			}
			/* "QU" + c: its low two bits are left over, so only
			 * a value that is a multiple of 4 is canonical. */
			{
				static const char mult4[] = "AEIMQUYcgkosw048";
				char t[4] = {'Q', 'U', (char)c, 0};
				uint8_t *out = NULL;
				size_t len = 0;
				int ok = c != 0 && memchr(mult4, c, 16) != NULL;

				if (vs[i] == KBS_B64_STD)
					ok = 0; /* STD wants its padding */
				bad += (kbs_b64_decode(t, 3, vs[i], &out, &len) ==
					KBS_OK) != ok;
				free(out);
			}
		}
	CU_ASSERT_EQUAL(bad, 0);
}

static void
test_round_trip(void)
{
	uint8_t buf[70];
	size_t n, i;
	int v;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (n = 0; n <= sizeof(buf); n++)
		for (v = KBS_B64_STD; v <= KBS_B64_URL; v++) {
			char *s = kbs_b64_encode(buf, n, (kbs_b64_variant)v);
			uint8_t *out = NULL;
			size_t len = 0;

			CU_ASSERT_FATAL(s != NULL);
			CU_ASSERT(strlen(s) == (v == KBS_B64_STD ? (n + 2) / 3 * 4
								 : (n * 4 + 2) / 3));
			CU_ASSERT(kbs_b64_decode(s, strlen(s), (kbs_b64_variant)v, &out,
						 &len) == KBS_OK);
			CU_ASSERT(len == n && (n == 0 || memcmp(out, buf, n) == 0));
			free(out);
			free(s);
		}
}

static const kbs_unit_test tests[] = {
	{"rfc4648_encode", test_rfc4648_encode},
	{"rfc4648_decode", test_rfc4648_decode},
	{"alphabets", test_alphabets},
	{"strictness", test_strictness},
	{"every_byte", test_every_byte},
	{"round_trip", test_round_trip},
	{NULL, NULL},
};

KBS_UNIT_MAIN("b64", tests)
