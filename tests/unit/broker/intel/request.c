/*
 * Tests for broker/intel/request.c, the pure parts of the Intel /kbs/v1
 * API: which resource a path names, key create and search requests,
 * transfer bodies and ITA nonces, ITA claims in both token layouts, and a
 * key-transfer policy as a transfer evaluates it.  Every refusal here is
 * an answer the black-box suite (tests/blackbox/test_intel.py) sees as a
 * 400 or 404 through HTTP.
 */
#include <string.h>

#include "intel_int.h"
#include "unit.h"

#define UUID "7b5f0e2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
#define MRSIGNER "8621fe91742279dc887790be78d40d24963000ffef7cec10dbbc3734f7c0d064"
#define MRENCLAVE "3488b949900b7a597174f6cf97e85cbc068d702dfa5b290611d0870401016da6"

static void
route(const char *path, kbs_intel_route want, const char *want_id)
{
	char id[37] = "unchanged";
	kbs_intel_route got = kbs_intel_route_parse(path, id);

	CU_ASSERT_EQUAL(got, want);
	if (got != want)
		fprintf(stderr, "%s: route %d, want %d\n", path, got, want);
	CU_ASSERT_STRING_EQUAL(id, want_id ? want_id : "unchanged");
}

static void
test_routes(void)
{
	route("/kbs/v1/keys", KBS_INTEL_R_KEYS, NULL);
	route("/kbs/v1/keys/" UUID, KBS_INTEL_R_KEY, UUID);
	route("/kbs/v1/keys/" UUID "/transfer", KBS_INTEL_R_TRANSFER, UUID);
	route("/kbs/v1/key-transfer-policies", KBS_INTEL_R_POLICIES, NULL);
	route("/kbs/v1/key-transfer-policies/" UUID, KBS_INTEL_R_POLICY, UUID);
	/* Upper-case hex is a UUID too (kbs_intel_uuid_ok). */
	route("/kbs/v1/keys/7B5F0E2A-1C3D-4E5F-8A9B-0C1D2E3F4A5B",
	      KBS_INTEL_R_KEY, "7B5F0E2A-1C3D-4E5F-8A9B-0C1D2E3F4A5B");
}

static void
test_routes_refused(void)
{
	static const char *const bad[] = {
		"/kbs/v1/keys/",
		"/kbs/v1/keys//transfer",
		"/kbs/v1/keysx",
		"/kbs/v1/keys/" UUID "/",
		"/kbs/v1/keys/" UUID "/transfer/",
		"/kbs/v1/keys/" UUID "/transferx",
		"/kbs/v1/keys/" UUID "/x",
		"/kbs/v1/keys/" UUID "x",
		"/kbs/v1/keys/" UUID "/transfer/" UUID,
		/* not a version-4 UUID, short, long, encoded */
		"/kbs/v1/keys/7b5f0e2a-1c3d-3e5f-8a9b-0c1d2e3f4a5b",
		"/kbs/v1/keys/7b5f0e2a-1c3d-4e5f-7a9b-0c1d2e3f4a5b",
		"/kbs/v1/keys/7b5f0e2a-1c3d-4e5f-8a9b-0c1d2e3f4a5",
		"/kbs/v1/keys/7b5f0e2a-1c3d-4e5f-8a9b-0c1d2e3f4a5bb",
		"/kbs/v1/keys/7b5f0e2a%2d1c3d-4e5f-8a9b-0c1d2e3f4a5b",
		"/kbs/v1/keys/../keys/" UUID,
		"/kbs/v1/key-transfer-policies/",
		"/kbs/v1/key-transfer-policiesx",
		"/kbs/v1/key-transfer-policies/" UUID "/transfer",
		"/kbs/v1/key-transfer-policies/" UUID "/",
		"/kbs/v1/key-transfer-policies/not-a-uuid",
		"/kbs/v1/version",
		"/kbs/v0/resource/a/b/c",
		"",
		NULL,
	};
	char id[37];
	size_t i;

	for (i = 0; bad[i] != NULL; i++)
		route(bad[i], KBS_INTEL_R_NOT_FOUND, NULL);
	CU_ASSERT_EQUAL(kbs_intel_route_parse(NULL, id), KBS_INTEL_R_NOT_FOUND);
}

/* The body of the last keyreq(): *k borrows from it. */
static json_t *last;

/* Parse a create body; KBS_OK or the 400 message in msg. */
static kbs_err
keyreq(const char *body, kbs_intel_keyreq *k, char msg[KBS_ERRBUF_LEN])
{
	kbs_errbuf eb = {""};
	kbs_err rc;

	json_decref(last);
	last = json_loads(body, 0, NULL);
	CU_ASSERT_FATAL(last != NULL);
	rc = kbs_intel_keyreq_parse(last, k, &eb);
	memcpy(msg, eb.msg, KBS_ERRBUF_LEN);
	return rc;
}

static void
test_keyreq(void)
{
	kbs_intel_keyreq k;
	char msg[KBS_ERRBUF_LEN];

	CU_ASSERT_EQUAL(keyreq("{\"key_information\": {\"algorithm\": \"aes\", "
			       "\"key_length\": 256}}", &k, msg), KBS_OK);
	/* Lower case is accepted and upper-cased; k borrows static names. */
	CU_ASSERT_STRING_EQUAL(k.alg, "AES");
	CU_ASSERT_EQUAL(k.bits, 256);
	CU_ASSERT_PTR_NULL(k.policy);
	CU_ASSERT_PTR_NULL(k.key_data);
	CU_ASSERT_EQUAL(keyreq("{\"key_information\": {\"algorithm\": \"RSA\", "
			       "\"key_length\": 3072}, \"transfer_policy_id\": "
			       "\"" UUID "\"}", &k, msg), KBS_OK);
	CU_ASSERT_STRING_EQUAL(k.alg, "RSA");
	CU_ASSERT_EQUAL(k.bits, 3072);
	/* The policy id is kept as sent; its existence is state.c's. */
	CU_ASSERT_STRING_EQUAL(k.policy, UUID);
	CU_ASSERT_EQUAL(keyreq("{\"key_information\": {\"algorithm\": \"EC\", "
			       "\"key_length\": 384, \"curve_type\": "
			       "\"secp384r1\"}, \"transfer_policy_id\": null}",
			       &k, msg), KBS_OK);
	CU_ASSERT_STRING_EQUAL(k.curve, "secp384r1");
	CU_ASSERT_PTR_NULL(k.policy);
	/* Intel's quirk: EC lengths are checked against the RSA list. */
	CU_ASSERT_EQUAL(keyreq("{\"key_information\": {\"algorithm\": \"ec\", "
			       "\"key_length\": 2048, \"curve_type\": "
			       "\"prime256v1\"}}", &k, msg), KBS_OK);
	json_decref(last);
	last = NULL;
}

static void
refused(const char *body, const char *want)
{
	kbs_intel_keyreq k;
	char msg[KBS_ERRBUF_LEN];

	memset(&k, 0x5a, sizeof(k));
	CU_ASSERT_EQUAL(keyreq(body, &k, msg), KBS_ERR_INVALID);
	CU_ASSERT(strstr(msg, want) == msg);
	if (strstr(msg, want) != msg)
		fprintf(stderr, "%s: \"%s\", want \"%s\"\n", body, msg, want);
	/* Written only on success. */
	CU_ASSERT_EQUAL(k.bits, (json_int_t)0x5a5a5a5a5a5a5a5aLL);
}

static void
test_keyreq_refused(void)
{
	refused("{}", "Invalid request body");
	refused("{\"key_information\": []}", "Invalid request body");
	refused("{\"key_information\": {\"algorithm\": \"AES\", \"key_length\": "
		"256}, \"extra\": 1}", "Invalid request body");
	refused("{\"key_information\": {\"algorithm\": \"AES\", \"key_length\": "
		"256, \"label\": \"x\"}}", "Invalid request body");
	refused("{\"key_information\": {\"algorithm\": \"AES\", \"key_length\": "
		"\"256\"}}", "Invalid request body");
	refused("{\"key_information\": {\"algorithm\": \"AES\", \"key_length\": "
		"256}, \"transfer_policy_id\": 7}", "Invalid request body");
	refused("{\"key_information\": {\"algorithm\": \"DES\", \"key_length\": "
		"56}}", "Invalid input for key information: algorithm must be");
	refused("{\"key_information\": {\"algorithm\": \"Aes\", \"key_length\": "
		"256}}", "Invalid input for key information: algorithm must be");
	refused("{\"key_information\": {\"algorithm\": \"AES\"}}",
		"Invalid input for key information: key_length is required");
	refused("{\"key_information\": {\"algorithm\": \"AES\", \"key_length\": "
		"512}}", "Invalid input for key information: AES key_length");
	refused("{\"key_information\": {\"algorithm\": \"RSA\", \"key_length\": "
		"1024}}", "Invalid input for key information: key_length must");
	refused("{\"key_information\": {\"algorithm\": \"EC\", \"key_length\": "
		"256}}", "Invalid input for key information: EC keys need");
	refused("{\"key_information\": {\"algorithm\": \"EC\", \"key_length\": "
		"256, \"curve_type\": \"secp256k1\"}}",
		"Invalid input for key information: EC keys need");
	refused("{\"key_information\": {\"algorithm\": \"EC\", \"key_length\": "
		"384, \"curve_type\": \"secp256r1\"}}",
		"Invalid input for key information: key_length must");
	refused("{\"key_information\": {\"algorithm\": \"AES\", \"key_length\": "
		"256, \"kmip_key_id\": \"1234\"}}", "kmip_key_id is not supported");
	refused("{\"key_information\": {\"algorithm\": \"AES\", \"key_length\": "
		"256, \"kmip_key_id\": \"a;b\"}}", "Invalid kmip_key_id");
	json_decref(last);
	last = NULL;
}

static void
test_curves(void)
{
	CU_ASSERT_STRING_EQUAL(kbs_intel_curve_group("prime256v1"), "P-256");
	CU_ASSERT_STRING_EQUAL(kbs_intel_curve_group("secp521r1"), "P-521");
	CU_ASSERT_PTR_NULL(kbs_intel_curve_group("P-256"));
	CU_ASSERT_PTR_NULL(kbs_intel_curve_group(NULL));
	CU_ASSERT_EQUAL(kbs_intel_curve_bits("secp256r1"), 256);
	CU_ASSERT_EQUAL(kbs_intel_curve_bits("secp384r1"), 384);
	CU_ASSERT_EQUAL(kbs_intel_curve_bits("secp521r1"), 521);
	CU_ASSERT_EQUAL(kbs_intel_curve_bits("ed25519"), 0);
}

static int
matches(const char *query, const char *doc)
{
	json_t *q = json_loads(query, 0, NULL), *d = json_loads(doc, 0, NULL);
	kbs_intel_search s;
	int m = -1;

	CU_ASSERT_FATAL(q != NULL && d != NULL);
	if (kbs_intel_search_parse(q, &s) == 0)
		m = kbs_intel_search_match(&s, d);
	json_decref(q);
	json_decref(d);
	return m;
}

static void
test_search(void)
{
	static const char ec[] = "{\"id\": \"" UUID "\", \"key_info\": "
		"{\"algorithm\": \"EC\", \"key_length\": 256, \"curve_type\": "
		"\"secp256r1\"}, \"transfer_policy_id\": \"p1\"}";
	static const char aes[] = "{\"id\": \"" UUID "\", \"key_info\": "
		"{\"algorithm\": \"AES\", \"key_length\": 128}}";

	CU_ASSERT_EQUAL(matches("{}", ec), 1);
	CU_ASSERT_EQUAL(matches("{\"algorithm\": \"EC\", \"keyLength\": \"256\", "
				"\"curveType\": \"secp256r1\", "
				"\"transferPolicyId\": \"p1\"}", ec), 1);
	CU_ASSERT_EQUAL(matches("{\"algorithm\": \"AES\"}", ec), 0);
	CU_ASSERT_EQUAL(matches("{\"keyLength\": \"0256\"}", ec), 0);
	CU_ASSERT_EQUAL(matches("{\"curveType\": \"secp256r1\"}", aes), 0);
	CU_ASSERT_EQUAL(matches("{\"transferPolicyId\": \"p1\"}", aes), 0);
	CU_ASSERT_EQUAL(matches("{\"keyLength\": \"128\"}", aes), 1);
	/* Unknown parameters are refused, not ignored. */
	CU_ASSERT_EQUAL(matches("{\"key_length\": \"128\"}", aes), -1);
	CU_ASSERT_EQUAL(matches("{\"algorithm\": \"AES\", \"x\": \"1\"}", aes), -1);
}

static void
test_key_view(void)
{
	json_t *m = json_pack("{s:s, s:{s:s}}", "id", UUID, "key_info",
			      "algorithm", "AES");
	json_t *v = kbs_intel_key_view(m), *n;

	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v,
		"transfer_link")), "/kbs/v1/keys/" UUID "/transfer");
	/* The stored document itself is not changed. */
	CU_ASSERT_PTR_NULL(json_object_get(m, "transfer_link"));
	json_decref(v);
	/* No id, no link. */
	n = json_pack("{s:i}", "x", 1);
	v = kbs_intel_key_view(n);
	CU_ASSERT_PTR_NULL(json_object_get(v, "transfer_link"));
	json_decref(v);
	json_decref(n);
	json_decref(m);
}

static int
body_ok(const char *text)
{
	json_t *doc = json_loads(text, 0, NULL);
	int ok;

	CU_ASSERT_FATAL(doc != NULL);
	ok = kbs_intel_transfer_body_ok(doc);
	json_decref(doc);
	return ok;
}

#define NONCE "{\"val\": \"dmFs\", \"iat\": \"aWF0\", \"signature\": \"c2ln\"}"

static void
test_transfer_body(void)
{
	CU_ASSERT_EQUAL(body_ok("{}"), 1);
	CU_ASSERT_EQUAL(body_ok("{\"attestation_token\": \"a.b.c\"}"), 1);
	CU_ASSERT_EQUAL(body_ok("{\"quote\": \"cQ==\", \"nonce\": " NONCE ", "
				"\"user_data\": \"dQ==\", \"event_log\": \"\"}"), 1);
	CU_ASSERT_EQUAL(body_ok("{\"attestation_token\": 1}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"quote\": [\"cQ==\"]}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"user_data\": null}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"token\": \"a.b.c\"}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"nonce\": \"n\"}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"nonce\": {\"val\": \"v\", \"iat\": \"i\"}}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"nonce\": {\"val\": \"v\", \"iat\": \"i\", "
				"\"signature\": \"s\", \"x\": \"y\"}}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"nonce\": {\"val\": \"v\", \"iat\": 1, "
				"\"signature\": \"s\"}}"), 0);
	CU_ASSERT_EQUAL(body_ok("{\"nonce\": {\"val\": \"v\", \"iat\": \"i\", "
				"\"sig\": \"s\"}}"), 0);
	CU_ASSERT_EQUAL(body_ok("[]"), 0);
	CU_ASSERT_EQUAL(kbs_intel_nonce_ok(NULL), 0);
}

static void
test_ita_claims(void)
{
	json_t *v1 = json_pack("{s:s, s:s}", "attester_type", "SGX",
			       "attester_held_data", "AQID");
	json_t *v2 = json_pack("{s:{s:s}, s:{s:s}}", "tdx", "attester_type",
			       "TDX", "sgx", "attester_type", "SGX");

	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_intel_ita_claim(v1,
		KBS_INTEL_SGX, "attester_type")), "SGX");
	/* Flat (version 1) claims are read whatever the TEE. */
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_intel_ita_claim(v1,
		KBS_INTEL_TDX, "attester_held_data")), "AQID");
	/* Version 2 nests them under the TEE the policy names. */
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_intel_ita_claim(v2,
		KBS_INTEL_TDX, "attester_type")), "TDX");
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_intel_ita_claim(v2,
		KBS_INTEL_SGX, "attester_type")), "SGX");
	CU_ASSERT_PTR_NULL(kbs_intel_ita_claim(v2, KBS_INTEL_TDX,
					       "attester_held_data"));
	CU_ASSERT_PTR_NULL(kbs_intel_ita_claim(NULL, KBS_INTEL_SGX, "x"));
	CU_ASSERT_STRING_EQUAL(kbs_intel_tee_name(KBS_INTEL_SGX), "SGX");
	CU_ASSERT_STRING_EQUAL(kbs_intel_tee_name(KBS_INTEL_TDX), "TDX");
	json_decref(v1);
	json_decref(v2);
}

/* Evaluate policy (JSON text) on claims as a transfer does. */
static int
allowed(const char *policy, const char *claims)
{
	json_t *doc = json_loads(policy, 0, NULL), *c = json_loads(claims, 0, NULL);
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL;
	kbs_policy_ctx pc;
	int ok = -1;

	CU_ASSERT_FATAL(doc != NULL && c != NULL);
	memset(&pc, 0, sizeof(pc));
	pc.resource_path = "intel-keys/key/" UUID;
	pc.now = 1700000000;
	if (kbs_intel_policy_parse(doc, &p, NULL) == KBS_OK &&
	    kbs_policy_eval(p, c, &pc, &d, NULL) == KBS_OK)
		ok = kbs_policy_decision_allowed(d);
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	json_decref(doc);
	json_decref(c);
	return ok;
}

#define SGX_POLICY \
	"{\"attestation_type\": \"SGX\", \"sgx\": {\"attributes\": {" \
	"\"mrsigner\": [\"" MRSIGNER "\"], \"isvprodid\": [12], " \
	"\"mrenclave\": [\"" MRENCLAVE "\"], \"isvsvn\": 1}}}"
#define SGX_CLAIMS(svn, signer) \
	"{\"attester_type\": \"SGX\", \"sgx_mrsigner\": \"" signer "\", " \
	"\"sgx_mrenclave\": \"" MRENCLAVE "\", \"sgx_isvprodid\": 12, " \
	"\"sgx_isvsvn\": " #svn ", \"attester_tcb_status\": \"OK\"}"

static void
test_policy(void)
{
	kbs_policy *p = NULL;
	kbs_errbuf eb = {""};
	json_t *doc;

	CU_ASSERT_EQUAL(allowed(SGX_POLICY, SGX_CLAIMS(1, MRSIGNER)), 1);
	/* isvsvn is matched exactly, as by Intel's KBS. */
	CU_ASSERT_EQUAL(allowed(SGX_POLICY, SGX_CLAIMS(2, MRSIGNER)), 0);
	CU_ASSERT_EQUAL(allowed(SGX_POLICY, SGX_CLAIMS(0, MRSIGNER)), 0);
	CU_ASSERT_EQUAL(allowed(SGX_POLICY, SGX_CLAIMS(1, MRENCLAVE)), 0);
	CU_ASSERT_EQUAL(allowed(SGX_POLICY, "{}"), 0);
	/* A policy without attestation_type is a resource policy: refused
	 * as an Intel one, and the reason says so. */
	doc = json_loads("{\"version\": 1, \"default\": \"deny\", \"rules\": []}",
			 0, NULL);
	CU_ASSERT_FATAL(doc != NULL);
	if (kbs_intel_policy_parse(doc, &p, &eb) == KBS_OK) {
		CU_FAIL("a resource policy parsed as an Intel policy");
		kbs_policy_free(p);
	} else {
		CU_ASSERT_PTR_NOT_NULL(eb.msg[0] ? eb.msg : NULL);
	}
	json_decref(doc);
	CU_ASSERT_EQUAL(allowed("{\"attestation_type\": \"SEV\"}", "{}"), -1);
	CU_ASSERT_EQUAL(allowed("{\"attestation_type\": \"SGX\", \"sgx\": "
				"{\"attributes\": {\"mrsigner\": [\"zz\"]}}}",
				"{}"), -1);
	CU_ASSERT_EQUAL(allowed("{\"attestation_type\": \"SGX\", \"tdx\": {}}",
				"{}"), -1);
}

static const kbs_unit_test tests[] = {
	{"paths name keys, transfers, policies", test_routes},
	{"other paths name nothing", test_routes_refused},
	{"key create requests", test_keyreq},
	{"bad key create requests, with their messages", test_keyreq_refused},
	{"curve names", test_curves},
	{"key search filters", test_search},
	{"key view adds transfer_link", test_key_view},
	{"transfer bodies and nonces", test_transfer_body},
	{"ITA claims, flat and nested", test_ita_claims},
	{"key-transfer policies as a transfer reads them", test_policy},
	{NULL, NULL},
};

KBS_UNIT_MAIN("intel_request", tests)
