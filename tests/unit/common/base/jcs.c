/* Unit tests for common/jcs.c. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>

#include <openssl/evp.h>

#include "b64.h"
#include "jcs.h"
#include "json.h"
#include "unit.h"

static json_t *
js(const char *s)
{
	json_t *j = kbs_json_parse(s, strlen(s), 64, NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	return j;
}

/* Canonical form of the JSON text in, compared with want. */
static void
canon_eq(const char *in, const char *want)
{
	json_t *j = js(in);
	size_t len = 0;
	char *out = kbs_jcs_serialize(j, &len, NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, want);
	CU_ASSERT_EQUAL(len, strlen(want));
	if (strcmp(out, want) != 0)
		fprintf(stderr, "\n got: %s\nwant: %s\n", out, want);
	free(out);
	json_decref(j);
}

static void
sha384_hex(const char *s, size_t len, char hex[97], unsigned char md[48])
{
	unsigned int n = 0;
	int i;

	CU_ASSERT_FATAL(EVP_Digest(s, len, md, &n, EVP_sha384(), NULL) == 1);
	for (i = 0; i < 48; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* kbs-protocol.md 2.1. */
static void
test_spec_vector(void)
{
	static const char want[] =
	    "{\"additional-evidence\":\"\",\"nonce\":\"AAECAwQFBgcICQoLDA0ODxAREhMUF"
	    "RYXGBkaGxwdHh8=\",\"tee-pubkey\":{\"alg\":\"ECDH-ES+A256KW\",\"crv\":"
	    "\"P-256\",\"kty\":\"EC\",\"x\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"
	    "AQEBAQE\",\"y\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI\"}}";
	json_t *o = js("{\"tee-pubkey\":{\"kty\":\"EC\",\"crv\":\"P-256\","
		       "\"alg\":\"ECDH-ES+A256KW\","
		       "\"x\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\","
		       "\"y\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI\"},"
		       "\"nonce\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
		       "\"additional-evidence\":\"\"}");
	unsigned char md[48];
	char hex[97], *s, *rd;
	size_t len = 0;

	s = kbs_jcs_serialize(o, &len, NULL);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_STRING_EQUAL(s, want);
	sha384_hex(s, len, hex, md);
	CU_ASSERT_STRING_EQUAL(hex, "d934ba73c76ad6ce42e80746cefb42b74c7e0af0f0d30a"
			       "ce51557c3da2a8fe7608b3c6856f09e1f101fd459a86b1c846");
	rd = kbs_b64_encode(md, 48, KBS_B64_STD);
	CU_ASSERT_STRING_EQUAL(rd, "2TS6c8dq1s5C6AdGzvtCt0x+CvDw0wrOUVV8PaKo/nYIs8a"
			       "Fbwnh8QH9RZqGschG");
	free(rd);
	free(s);
	json_decref(o);
}

/* trustee's unit vector (kbs-protocol.md 2.1). */
static void
test_trustee_vector(void)
{
	json_t *o = js("{\"b\":1,\"a\":\"test\",\"c\":{\"d\":\"e\"}}");
	unsigned char md[48];
	char hex[97], *s;
	size_t len = 0;

	s = kbs_jcs_serialize(o, &len, NULL);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_STRING_EQUAL(s, "{\"a\":\"test\",\"b\":1,\"c\":{\"d\":\"e\"}}");
	sha384_hex(s, len, hex, md);
	CU_ASSERT(strncmp(hex, "e71ce8e7", 8) == 0);
	CU_ASSERT(strcmp(hex + 96 - 7, "78870c3") == 0);
	free(s);
	json_decref(o);
}

/* RFC 8785 section 3.2.2 (the "numbers/string/literals" example). */
static void
test_rfc8785_example(void)
{
	canon_eq("{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, "
		 "0.000000000000000000000000001],\n  \"string\": "
		 "\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
		 "  \"literals\": [null, true, false]\n}",
		 "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,"
		 "1e+30,4.5,0.002,1e-27],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\""
		 "\\\\\\\\\\\"/\"}");
}

/* RFC 8785 section 3.2.3: sorting by UTF-16 code units. */
static void
test_rfc8785_sorting(void)
{
	canon_eq("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
		 "\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
		 "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
		 "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
		 "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
		 "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
		 "\"\xe2\x82\xac\":\"Euro Sign\","
		 "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
		 "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
	/* Supplementary (surrogate 0xD83D) sorts before U+E000..U+FFFF even
	 * though its UTF-8 bytes compare greater. */
	canon_eq("{\"\\uffff\":1,\"\\ud800\\udc00\":2,\"\\ue000\":3,\"\\ud7ff\":4}",
		 "{\"\xed\x9f\xbf\":4,\"\xf0\x90\x80\x80\":2,\"\xee\x80\x80\":3,"
		 "\"\xef\xbf\xbf\":1}");
	/* Prefixes first; nested objects sorted too; arrays keep order. */
	canon_eq("{\"ab\":1,\"a\":2,\"\":3,\"z\":[{\"y\":1,\"x\":2},3]}",
		 "{\"\":3,\"a\":2,\"ab\":1,\"z\":[{\"x\":2,\"y\":1},3]}");
}

static void
test_escaping(void)
{
	json_t *s = json_stringn("\x00\x01\x07\b\t\n\x0b\f\r\x1f \"\\/\x7f", 15);
	char *out;

	CU_ASSERT_FATAL(s != NULL);
	out = kbs_jcs_serialize(s, NULL, NULL);
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_STRING_EQUAL(out, "\"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r"
			       "\\u001f \\\"\\\\/\x7f\"");
	free(out);
	json_decref(s);
	/* U+2028 and non-ASCII stay raw UTF-8. */
	canon_eq("[\"\\u2028\\u00e9\"]", "[\"\xe2\x80\xa8\xc3\xa9\"]");
	/* Invalid UTF-8 is refused (only reachable via _nocheck). */
	s = json_stringn_nocheck("\xc3\x28", 2);
	CU_ASSERT(kbs_jcs_serialize(s, NULL, NULL) == NULL);
	json_decref(s);
	s = json_stringn_nocheck("\xed\xa0\x80", 3); /* encoded surrogate */
	CU_ASSERT(kbs_jcs_serialize(s, NULL, NULL) == NULL);
	json_decref(s);
	s = json_stringn_nocheck("\xc0\xaf", 2); /* overlong '/' */
	CU_ASSERT(kbs_jcs_serialize(s, NULL, NULL) == NULL);
	json_decref(s);
}

static void
test_literals_and_ints(void)
{
	json_t *a = json_pack("[I,I,i,i]", (json_int_t)LLONG_MAX,
			      (json_int_t)LLONG_MIN, 0, -1);
	char *out = kbs_jcs_serialize(a, NULL, NULL);

	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_STRING_EQUAL(out, "[9223372036854775807,-9223372036854775808,0,-1]");
	free(out);
	json_decref(a);
	canon_eq("[true,false,null,{},[],\"\"]", "[true,false,null,{},[],\"\"]");
	canon_eq("  { \"a\" : [ 1 , 2 ] }  ", "{\"a\":[1,2]}");
	canon_eq("[1.0,-0.0,100.0,1e2,-1.5e-7]", "[1,0,100,100,-1.5e-7]");
	CU_ASSERT(kbs_jcs_serialize(NULL, NULL, NULL) == NULL);
}

static double
from_hex(const char *h)
{
	uint64_t u = strtoull(h, NULL, 16);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void
real_eq(double d, const char *want)
{
	json_t *r = json_real(d);
	char *out = kbs_jcs_serialize(r, NULL, NULL);

	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_STRING_EQUAL(out, want);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "\n%.17g: got %s want %s\n", d, out, want);
	free(out);
	json_decref(r);
}

/* RFC 8785 appendix B, values checked with node's String(). */
static void
test_rfc8785_numbers(void)
{
	static const char *const v[][2] = {
		{"0000000000000000", "0"},
		{"8000000000000000", "0"},
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		real_eq(from_hex(v[i][0]), v[i][1]);
	/* jansson refuses to make NaN/Inf reals at all. */
	CU_ASSERT_PTR_NULL(json_real(NAN));
	CU_ASSERT_PTR_NULL(json_real(INFINITY));
}

/* ~6700 doubles (random bits, powers of ten) against node's String(). */
static void
test_number_fixture(void)
{
	char path[4096], line[128];
	FILE *f = fopen(kbs_unit_src("tests/unit/common/fixtures/jcs_numbers.txt",
				     path, sizeof(path)), "r");
	size_t n = 0, bad = 0;

	CU_ASSERT_FATAL(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *sp = strchr(line, ' '), *nl = strchr(line, '\n'), *out;
		json_t *r;

		if (line[0] == '#' || sp == NULL)
			continue;
		if (nl != NULL)
			*nl = '\0';
		*sp = '\0';
		r = json_real(from_hex(line));
		out = kbs_jcs_serialize(r, NULL, NULL);
		if (out == NULL || strcmp(out, sp + 1) != 0) {
			if (bad++ < 5)
				fprintf(stderr, "\n%s: got %s want %s\n", line,
					out ? out : "(null)", sp + 1);
		}
		free(out);
		json_decref(r);
		n++;
	}
	fclose(f);
	CU_ASSERT(n > 6000);
	CU_ASSERT_EQUAL(bad, 0);
}

static void
test_depth(void)
{
	json_t *root = json_array(), *cur = root;
	int i;

	for (i = 0; i < 100; i++) {
		json_t *n = json_array();
		json_array_append_new(cur, n);
		cur = n;
	}
	CU_ASSERT(kbs_jcs_serialize(root, NULL, NULL) == NULL);
	json_decref(root);
}

static const kbs_unit_test tests[] = {
	{"spec_vector", test_spec_vector},
	{"trustee_vector", test_trustee_vector},
	{"rfc8785_example", test_rfc8785_example},
	{"rfc8785_sorting", test_rfc8785_sorting},
	{"escaping", test_escaping},
	{"literals_and_ints", test_literals_and_ints},
	{"rfc8785_numbers", test_rfc8785_numbers},
	{"number_fixture", test_number_fixture},
	{"depth", test_depth},
	{NULL, NULL},
};

KBS_UNIT_MAIN("jcs", tests)
