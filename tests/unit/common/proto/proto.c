/* Tests for common/proto.c: /auth and /attest parsing, evidence binding. */
#include <string.h>

#include "b64.h"
#include "mem.h"
#include "proto.h"
#include "unit.h"

#define EC_KEY_JSON                                                        \
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\","    \
	"\"x\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\","            \
	"\"y\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI\"}"
/* A real P-256 point: the spec vector's coordinates are not on the curve,
 * and the parser checks that (a guest key must be usable). */
#define REAL_KEY_JSON                                                      \
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\","    \
	"\"x\":\"DQR7AqIVcdZQHSgZxaej8aiduNnueWUtgHpWeXMN1FI\","            \
	"\"y\":\"9W11W6esce_uw8jTUqU7OqYOABoYlLRZdOQ1Z9pFn_U\"}"
#define SPEC_NONCE "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static kbs_err
parse_auth(const char *body, kbs_proto_auth *a, kbs_errbuf *eb)
{
	return kbs_proto_parse_auth(body, strlen(body), a, eb);
}

static void
test_auth_ok(void)
{
	kbs_proto_auth a;

	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0\",\"tee\":\"tdx\","
				   "\"extra-params\":{\"supported-hash-algorithms\":"
				   "[\"sha384\"]}}", &a, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(a.tee, "tdx");
	/* extra-params may be any JSON; unknown members are ignored. */
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0\",\"tee\":\"sample\","
				   "\"extra-params\":\"\",\"x\":1}", &a, NULL), KBS_OK);
}

static void
test_auth_refusals(void)
{
	kbs_errbuf eb = {""};
	kbs_proto_auth a;

	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.3.0\",\"tee\":\"tdx\","
				   "\"extra-params\":{}}", &a, &eb), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "Version Mismatch"));
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0-rc1\",\"tee\":\"tdx\","
				   "\"extra-params\":{}}", &a, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0\",\"tee\":\"sev\","
				   "\"extra-params\":{}}", &a, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0\",\"tee\":\"tdx\"}", &a,
				   NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(parse_auth("{\"version\":4,\"tee\":\"tdx\","
				   "\"extra-params\":{}}", &a, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(parse_auth("[1,2]", &a, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0\"", &a, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(parse_auth("", &a, NULL), KBS_ERR_INVALID);
	/* NUL inside a value read as a C string: refused, not cut. */
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0\",\"tee\":\"sample\\u0000junk\","
				   "\"extra-params\":{}}", &a, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "NUL"));
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0\\u0000x\",\"tee\":\"tdx\","
				   "\"extra-params\":{}}", &a, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(parse_auth("{\"version\":\"0.4.0+b.1\",\"tee\":\"tdx\","
				   "\"extra-params\":{}}", &a, NULL), KBS_OK);
}

/* semver as trustee's VersionReq "=0.4.0" reads it. */
static void
test_version_semver(void)
{
	static const char *const yes[] = {"0.4.0", "0.4.0+b", "0.4.0+b.1-x.007",
					  NULL};
	static const char *const no[] = {
		"0.4.0-rc1", "0.4.0-rc.1+b", "0.4.0-0", "0.4.0-01", "0.4", "0.4.0.0",
		"00.4.0", "0.04.0", "0.4.00", "v0.4.0", " 0.4.0", "0.4.0 ", "0.4.0+",
		"0.4.0+b..1", "0.4.0+b_1", "0.4.0-", "0.4.1", "1.4.0", "0.3.0", "",
		"99999999999999999999.4.0", NULL};
	size_t i;

	for (i = 0; yes[i] != NULL; i++)
		CU_ASSERT_EQUAL(kbs_proto_version_matches(yes[i]), 1);
	for (i = 0; no[i] != NULL; i++) {
		CU_ASSERT_EQUAL(kbs_proto_version_matches(no[i]), 0);
		if (kbs_proto_version_matches(no[i]))
			fprintf(stderr, "\naccepted %s\n", no[i]);
	}
	CU_ASSERT_EQUAL(kbs_proto_version_matches(NULL), 0);
}

/* The spec's binding vector (kbs-protocol.md 2.1). */
static void
test_binding_vector(void)
{
	static const char want[] =
	    "2TS6c8dq1s5C6AdGzvtCt0x+CvDw0wrOUVV8PaKo/nYIs8aFbwnh8QH9RZqGschG";
	json_t *key = json_loads(EC_KEY_JSON, 0, NULL);
	uint8_t d[48];
	char *b64;

	CU_ASSERT_FATAL(key != NULL);
	CU_ASSERT_EQUAL(kbs_proto_binding_digest(key, SPEC_NONCE, "", d, NULL), KBS_OK);
	b64 = kbs_b64_encode(d, sizeof(d), KBS_B64_STD);
	CU_ASSERT_STRING_EQUAL(b64, want);
	free(b64);
	/* Any change of input changes the digest. */
	CU_ASSERT_EQUAL(kbs_proto_binding_digest(key, SPEC_NONCE, "x", d, NULL), KBS_OK);
	b64 = kbs_b64_encode(d, sizeof(d), KBS_B64_STD);
	CU_ASSERT_STRING_NOT_EQUAL(b64, want);
	free(b64);
	json_decref(key);
}

static const char *attest_body =
    "{\"runtime-data\":{\"nonce\":\"" SPEC_NONCE "\",\"tee-pubkey\":" REAL_KEY_JSON
    "},\"tee-evidence\":{\"primary_evidence\":{\"svn\":\"1\",\"report_data\":"
    "\"AA==\"},\"additional_evidence\":\"\"},\"init-data\":{\"format\":\"toml\","
    "\"body\":\"algorithm = \\\"sha256\\\"\\nversion = \\\"0.1.0\\\"\\n\"}}";

static void
test_attest_ok(void)
{
	kbs_proto_attest *a = NULL;

	CU_ASSERT_EQUAL_FATAL(kbs_proto_parse_attest(attest_body, strlen(attest_body),
						     &a, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_proto_attest_nonce(a), SPEC_NONCE);
	CU_ASSERT_STRING_EQUAL(kbs_proto_attest_additional(a), "");
	CU_ASSERT_PTR_NOT_NULL(kbs_proto_attest_teekey(a));
	CU_ASSERT_EQUAL(json_object_size(kbs_proto_attest_teekey_json(a)), 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(kbs_proto_attest_initdata(a), "sha256"));
	CU_ASSERT_TRUE(json_is_object(kbs_proto_attest_evidence(a)));
	kbs_proto_attest_free(a);
}

static void
expect_attest_fail(const char *body, kbs_err want)
{
	kbs_proto_attest *a = NULL;
	kbs_err rc = kbs_proto_parse_attest(body, strlen(body), &a, NULL);

	CU_ASSERT_EQUAL(rc, want);
	CU_ASSERT_PTR_NULL(a);
}

static void
test_attest_refusals(void)
{
	expect_attest_fail("{}", KBS_ERR_INVALID);
	/* Off-curve point (the spec's illustrative coordinates). */
	expect_attest_fail("{\"runtime-data\":{\"nonce\":\"n\",\"tee-pubkey\":"
			   EC_KEY_JSON "},\"tee-evidence\":{\"primary_evidence\":{}}}",
			   KBS_ERR_INVALID);
	expect_attest_fail("{\"runtime-data\":{\"tee-pubkey\":" REAL_KEY_JSON "},"
			   "\"tee-evidence\":{\"primary_evidence\":{}}}",
			   KBS_ERR_INVALID);
	/* A JWK with a missing member. */
	expect_attest_fail("{\"runtime-data\":{\"nonce\":\"n\",\"tee-pubkey\":"
			   "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQ\"}},"
			   "\"tee-evidence\":{\"primary_evidence\":{}}}",
			   KBS_ERR_INVALID);
	/* additional_evidence must be a string. */
	expect_attest_fail("{\"runtime-data\":{\"nonce\":\"n\",\"tee-pubkey\":"
			   REAL_KEY_JSON "},\"tee-evidence\":{\"primary_evidence\":{},"
			   "\"additional_evidence\":{}}}", KBS_ERR_INVALID);
	/* init-data must be TOML. */
	expect_attest_fail("{\"runtime-data\":{\"nonce\":\"n\",\"tee-pubkey\":"
			   REAL_KEY_JSON "},\"tee-evidence\":{\"primary_evidence\":{}},"
			   "\"init-data\":{\"format\":\"json\",\"body\":\"{}\"}}",
			   KBS_ERR_UNSUPPORTED);
	/* Absurd nesting is refused before jansson sees it. */
	expect_attest_fail("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"
			   "]]]]]]]]]]]]]]]]}", KBS_ERR_INVALID);
}

static void
test_initdata_digest(void)
{
	static const char toml[] = "algorithm = \"sha384\"\nversion = \"0.1.0\"\n"
				   "[data]\n\"aa.toml\" = '''\n'''\n";
	static const char md5[] = "algorithm = \"md5\"\nversion = \"0.1.0\"\n[data]\n";
	uint8_t d[KBS_PROTO_DIGEST_MAX];
	size_t n = 0;

	CU_ASSERT_EQUAL(kbs_proto_initdata_digest(toml, strlen(toml), d, &n, NULL),
			KBS_OK);
	CU_ASSERT_EQUAL(n, 48);
	CU_ASSERT_EQUAL(kbs_proto_initdata_digest(md5, strlen(md5), d, &n, NULL),
			KBS_ERR_UNSUPPORTED);
	/* algorithm below a table header is not the top-level key. */
	CU_ASSERT_EQUAL(kbs_proto_initdata_digest("[data]\nalgorithm = \"sha256\"\n",
						  28, d, &n, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_proto_initdata_digest("version = 1\n", 12, d, &n, NULL),
			KBS_ERR_INVALID);
}

static void
test_tee_names(void)
{
	CU_ASSERT_TRUE(kbs_proto_tee_known("snp"));
	CU_ASSERT_TRUE(kbs_proto_tee_known("az-tdx-vtpm"));
	CU_ASSERT_FALSE(kbs_proto_tee_known("azsnpvtpm"));
	CU_ASSERT_FALSE(kbs_proto_tee_known(""));
	CU_ASSERT_FALSE(kbs_proto_tee_known(NULL));
}

static const kbs_unit_test tests[] = {
	{"auth accepted", test_auth_ok},
	{"auth refusals", test_auth_refusals},
	{"binding digest spec vector", test_binding_vector},
	{"attest accepted", test_attest_ok},
	{"attest refusals", test_attest_refusals},
	{"init-data digest", test_initdata_digest},
	{"tee names", test_tee_names},
	{"version semver", test_version_semver},
	{NULL, NULL},
};

KBS_UNIT_MAIN("proto", tests)
