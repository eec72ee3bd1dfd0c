/* Tests for client/attest.c: the challenge parser and the /attest body,
 * checked against the binding test vector of kbs-protocol.md 2.1. */
#include <string.h>

#include "client.h"
#include "json.h"
#include "unit.h"

#define VEC_NONCE "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define VEC_REPORT_DATA \
	"2TS6c8dq1s5C6AdGzvtCt0x+CvDw0wrOUVV8PaKo/nYIs8aFbwnh8QH9RZqGschG"

/* x = 32 x 0x01, y = 32 x 0x02 (kbs-protocol.md 2.1). */
static json_t *
vector_teekey(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv",
			 "P-256", "alg", "ECDH-ES+A256KW", "x",
			 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", "y",
			 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI");
}

static json_t *
parse(const char *s)
{
	return kbs_json_parse_object(s, strlen(s), 16, NULL);
}

static void
test_body_vector(void)
{
	json_t *k = vector_teekey(), *doc;
	char *body = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL_FATAL(client_attest_body(k, VEC_NONCE, NULL, 0, &body, &eb),
			      KBS_OK);
	doc = parse(body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/tee-evidence/primary_evidence/report_data")), VEC_REPORT_DATA);
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/tee-evidence/primary_evidence/svn")), "1");
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/tee-evidence/additional_evidence")), "");
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/runtime-data/nonce")), VEC_NONCE);
	CU_ASSERT_TRUE(json_equal(kbs_json_pointer(doc, "/runtime-data/tee-pubkey"), k));
	CU_ASSERT_PTR_NULL(json_object_get(doc, "init-data"));
	json_decref(doc);
	free(body);
	json_decref(k);
}

static void
test_body_initdata(void)
{
	json_t *k = vector_teekey(), *doc;
	const char *toml = "algorithm = \"sha384\"\nversion = \"0.1.0\"\n";
	char *body = NULL;

	CU_ASSERT_EQUAL_FATAL(client_attest_body(k, VEC_NONCE, toml, 0, &body, NULL),
			      KBS_OK);
	doc = parse(body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/init-data/format")), "toml");
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/init-data/body")), toml);
	/* init-data does not enter the binding (spec 2.1) */
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/tee-evidence/primary_evidence/report_data")), VEC_REPORT_DATA);
	json_decref(doc);
	free(body);
	json_decref(k);
}

static void
test_body_refusals(void)
{
	json_t *k = vector_teekey();
	char *body = NULL;

	CU_ASSERT_EQUAL(client_attest_body(k, VEC_NONCE, "bad \xff utf-8", 0, &body,
					   NULL), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(body);
	json_decref(k);
}

static void
test_binding_changes_with_inputs(void)
{
	json_t *k = vector_teekey(), *doc;
	char *body = NULL;

	CU_ASSERT_EQUAL_FATAL(client_attest_body(k, "AAAA", NULL, 0, &body, NULL),
			      KBS_OK);
	doc = parse(body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_NOT_EQUAL(json_string_value(kbs_json_pointer(doc,
		"/tee-evidence/primary_evidence/report_data")), VEC_REPORT_DATA);
	json_decref(doc);
	free(body);
	json_decref(k);
}

static void
expect_challenge(const char *body, kbs_err want, const char *nonce)
{
	char *got = NULL;

	CU_ASSERT_EQUAL(client_attest_parse_challenge(body, strlen(body), &got,
						      NULL), want);
	if (nonce != NULL) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(got);
		CU_ASSERT_STRING_EQUAL(got, nonce);
	} else {
		CU_ASSERT_PTR_NULL(got);
	}
	free(got);
}

static void
test_challenge(void)
{
	char *big = malloc(700);

	expect_challenge("{\"nonce\":\"" VEC_NONCE "\",\"extra-params\":\"\"}",
			 KBS_OK, VEC_NONCE);
	expect_challenge("{\"nonce\":\"n\",\"extra-params\":"
			 "{\"selected-hash-algorithm\":\"sha384\"}}", KBS_OK, "n");
	expect_challenge("{\"nonce\":\"n\",\"extra-params\":"
			 "{\"selected-hash-algorithm\":\"sha512\"}}",
			 KBS_ERR_NETWORK, NULL);
	expect_challenge("{\"extra-params\":\"\"}", KBS_ERR_NETWORK, NULL);
	expect_challenge("{\"nonce\":\"\"}", KBS_ERR_NETWORK, NULL);
	expect_challenge("{\"nonce\":5}", KBS_ERR_NETWORK, NULL);
	expect_challenge("[\"nonce\"]", KBS_ERR_NETWORK, NULL);
	expect_challenge("{\"nonce\":\"n\"", KBS_ERR_NETWORK, NULL);
	expect_challenge("", KBS_ERR_NETWORK, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memcpy(big, "{\"nonce\":\"", 10);
	memset(big + 10, 'A', 600);
	memcpy(big + 610, "\"}", 3);
	expect_challenge(big, KBS_ERR_NETWORK, NULL);
	free(big);
}

static const kbs_unit_test tests[] = {
	{"attest body matches the binding vector", test_body_vector},
	{"init-data sent, not bound", test_body_initdata},
	{"invalid UTF-8 init-data refused", test_body_refusals},
	{"binding follows the nonce", test_binding_changes_with_inputs},
	{"challenge parsing", test_challenge},
	{NULL, NULL},
};

KBS_UNIT_MAIN("client_attest", tests)
