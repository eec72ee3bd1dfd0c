/*
 * Tests for common/verifier.c: the sample verifier's binding of its
 * report_data to the session's digest (spec 2.3), the only thing that
 * ties sample evidence to one handshake.
 */
#include <openssl/rand.h>

#include "b64.h"
#include "json.h"
#include "verifier.h"
#include "unit.h"

static uint8_t digest[48];

/* Run the sample verifier on {"svn": "1", "report_data": rd} (rd NULL:
 * member absent) against digest[0..dlen); frees the claims. */
static kbs_err
sample_on(const char *rd, size_t dlen)
{
	kbs_verifier *v = NULL;
	kbs_verifier_input in = {0};
	kbs_errbuf eb = {{0}};
	json_t *ev = json_pack("{s:s}", "svn", "1"), *claims = NULL;
	kbs_err rc;

	CU_ASSERT_FATAL(ev != NULL);
	if (rd != NULL)
		json_object_set_new(ev, "report_data", json_string(rd));
	CU_ASSERT_EQUAL_FATAL(kbs_verifier_sample_new(&v), KBS_OK);
	in.tee = "sample";
	in.evidence = ev;
	in.report_data = digest;
	in.report_data_len = dlen;
	rc = kbs_verifier_verify(v, &in, &claims, &eb);
	if (rc == KBS_OK) {
		CU_ASSERT(json_is_object(claims));
		CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "svn"), "1");
		CU_ASSERT(rd != NULL && kbs_json_str(claims, "report_data") != NULL &&
			  strcmp(kbs_json_str(claims, "report_data"), rd) == 0);
	} else {
		CU_ASSERT_PTR_NULL(claims);
		CU_ASSERT(eb.msg[0] != '\0');
	}
	json_decref(claims);
	json_decref(ev);
	kbs_verifier_free(v);
	return rc;
}

/* Standard base64 of buf[0..len), with byte i flipped if i < len. */
static char *
b64_flipped(const uint8_t *buf, size_t len, size_t i)
{
	uint8_t copy[64];

	CU_ASSERT_FATAL(len <= sizeof(copy));
	memcpy(copy, buf, len);
	if (i < len)
		copy[i] ^= 0x01;
	return kbs_b64_encode(copy, len, KBS_B64_STD);
}

static void
test_bound_digest_accepted(void)
{
	char *rd;

	CU_ASSERT_FATAL(RAND_bytes(digest, sizeof(digest)) == 1);
	rd = b64_flipped(digest, sizeof(digest), sizeof(digest));
	CU_ASSERT_EQUAL(sample_on(rd, sizeof(digest)), KBS_OK);
	free(rd);
}

/* Any other report_data is another session's (or nobody's). */
static void
test_other_digest_refused(void)
{
	static const size_t flip[] = {0, 1, 23, 46, 47};
	char *rd;
	size_t i;

	CU_ASSERT_FATAL(RAND_bytes(digest, sizeof(digest)) == 1);
	for (i = 0; i < sizeof(flip) / sizeof(flip[0]); i++) {
		rd = b64_flipped(digest, sizeof(digest), flip[i]);
		CU_ASSERT_EQUAL(sample_on(rd, sizeof(digest)), KBS_ERR_VERIFY);
		free(rd);
	}
	/* A prefix, an extension, nothing at all. */
	rd = b64_flipped(digest, 32, 32);
	CU_ASSERT_EQUAL(sample_on(rd, sizeof(digest)), KBS_ERR_VERIFY);
	free(rd);
	rd = b64_flipped(digest, sizeof(digest), sizeof(digest));
	CU_ASSERT_EQUAL(sample_on(rd, 32), KBS_ERR_VERIFY);
	free(rd);
	CU_ASSERT_EQUAL(sample_on("", sizeof(digest)), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(sample_on(NULL, sizeof(digest)), KBS_ERR_VERIFY);
}

static void
test_malformed_evidence(void)
{
	kbs_verifier *v = NULL;
	kbs_verifier_input in = {0};
	json_t *claims = NULL, *arr = json_array(), *nosvn;
	char *rd = kbs_b64_encode(digest, sizeof(digest), KBS_B64_STD);

	CU_ASSERT_EQUAL(sample_on("not base64!", sizeof(digest)), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL_FATAL(kbs_verifier_sample_new(&v), KBS_OK);
	in.report_data = digest;
	in.report_data_len = sizeof(digest);
	in.evidence = arr;
	CU_ASSERT_EQUAL(kbs_verifier_verify(v, &in, &claims, NULL), KBS_ERR_INVALID);
	nosvn = json_pack("{s:s}", "report_data", rd);
	in.evidence = nosvn;
	CU_ASSERT_EQUAL(kbs_verifier_verify(v, &in, &claims, NULL), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(claims);
	json_decref(nosvn);
	json_decref(arr);
	free(rd);
	kbs_verifier_free(v);
}

static const kbs_unit_test tests[] = {
	{"sample: the session's digest is accepted", test_bound_digest_accepted},
	{"sample: any other report_data is refused", test_other_digest_refused},
	{"sample: malformed evidence", test_malformed_evidence},
	{NULL, NULL},
};

KBS_UNIT_MAIN("verifier", tests)
