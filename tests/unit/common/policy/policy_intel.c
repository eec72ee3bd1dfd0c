/*
 * Unit tests for common/policy_intel.c: Intel Trust Authority key-transfer
 * policies (spec/intel-kbs.md section 3) loaded by shape and evaluated
 * against ITA token claims.
 */
#include <string.h>

#include "policy.h"
#include "unit.h"

#define MRSIGNER "8621fe91742279dc887790be78d40d24963000ffef7cec10dbbc3734f7c0d064"
#define MRENCLAVE "3488b949900b7a597174f6cf97e85cbc068d702dfa5b290611d0870401016da6"
#define MRENCLAVE2 "1386321680fb6bd5a6bf63a09c6c6d47d80ac0838eea931b97cfa0b3f65ffe36"
#define MRSEAM "e40a03ff28a9998655ea0a39c8f897ab07e05091d3e432cac6576157bbaeb7fa3c5f2c1e3df4205c20ae9253445af3f4"
#define MRSIGNERSEAM "077b9ac696e0e823b465cc25ffed1c688a28c59208be2accb1c88948701fad0eac79f94582029963f698e8073e701252"
#define MRTD "d32b636cd27d9e029fcaa5f9db56b2936d7b5f4fcdbe05fab006ca620108640956b163353b6ae16e526ed9c0afc44821"
#define MRTD2 "03fd7caa1072653aceef41314e3960c97d001a72ae7e9253ea7bf55cdccaaab9a0da87fc15b98ebaaa70d420e22d92c5"
#define RTMR0 "9795c64a4784ad74fae231034cdca35f49ee76ce448959bd4b1c756b64f4e53a6f532d2a7836704ebd9a53b64925066a"
#define RTMR1 "6cc334a008b3c96a38ec1b84d6e74e84af6e83411245f1fd86e2357bd10f9b8310955570df0be80e8020a47f3f6045ab"
#define RTMR2 "88c700459e3c31c113c59db6c3bb7ad2c4de5b2b19024744721fe130c1fbb77b9c24b29763b94c79017d56a98073100b"
#define PID "37965f5f-ccaf-4cdc-a356-a8ed5268a5bf"

static const char *sgx_policy =
	"{\"id\":\"d0c3f191-0000-4000-8000-000000000001\",\"created_at\":\"2021-08-20T06:30:35Z\","
	"\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":{"
	"\"mrsigner\":[\"" MRSIGNER "\"],\"isvprodid\":[12,13],"
	"\"mrenclave\":[\"" MRENCLAVE "\",\"" MRENCLAVE2 "\"],\"isvsvn\":1,"
	"\"enforce_tcb_upto_date\":true},\"policy_ids\":[\"" PID "\"]}}";

static const char *tdx_policy =
	"{\"attestation_type\":\"TDX\",\"tdx\":{\"attributes\":{"
	"\"mrsignerseam\":[\"" MRSIGNERSEAM "\"],\"mrseam\":[\"" MRSEAM "\"],"
	"\"seamsvn\":258,\"mrtd\":[\"" MRTD "\"],\"rtmr0\":\"" RTMR0 "\","
	"\"rtmr1\":\"" RTMR1 "\",\"rtmr2\":\"" RTMR2 "\",\"rtmr3\":\"\","
	"\"enforce_tcb_upto_date\":false}}}";

/* SGX token claims with fields overridable by a JSON object patch. */
static json_t *
sgx_claims(const char *patch)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:b}",
			      "ver", "1.0.0", "iss", "Intel Trust Authority",
			      "attester_type", "SGX", "attester_tcb_status", "OK",
			      "sgx_mrsigner", MRSIGNER, "sgx_mrenclave", MRENCLAVE,
			      "sgx_isvprodid", 12, "sgx_isvsvn", 1,
			      "sgx_is_debuggable", 0);
	json_t *p = patch ? json_loads(patch, 0, NULL) : NULL;

	if (p != NULL)
		json_object_update(c, p);
	json_decref(p);
	return c;
}

static json_t *
tdx_claims(const char *patch)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}",
			      "ver", "1.0.0", "attester_type", "TDX",
			      "attester_tcb_status", "OutOfDate", "tdx_mrseam", MRSEAM,
			      "tdx_mrsignerseam", MRSIGNERSEAM, "tdx_seamsvn", 258,
			      "tdx_mrtd", MRTD, "tdx_rtmr0", RTMR0, "tdx_rtmr1", RTMR1,
			      "tdx_rtmr2", RTMR2, "tdx_rtmr3", MRTD2);
	json_t *p = patch ? json_loads(patch, 0, NULL) : NULL;

	if (p != NULL)
		json_object_update(c, p);
	json_decref(p);
	return c;
}

/* 1 allow / 0 deny / -1 error / -2 wrong deciding rule. */
static int
ev(const char *policy, json_t *claims, const char *want_rule)
{
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL;
	kbs_policy_ctx ctx = {"keys/key/1", NULL, NULL, 0, 0};
	kbs_errbuf eb = {{0}};
	int r = -1;

	if (kbs_policy_parse(policy, strlen(policy), &p, &eb) == KBS_OK &&
	    kbs_policy_eval(p, claims, &ctx, &d, &eb) == KBS_OK) {
		r = kbs_policy_decision_allowed(d);
		if (want_rule != NULL && strcmp(kbs_policy_decision_rule(d),
						want_rule) != 0) {
			fprintf(stderr, "rule %s: %s\n", kbs_policy_decision_rule(d),
				kbs_policy_decision_reason(d));
			r = -2;
		}
	} else
		fprintf(stderr, "ev: %s\n", eb.msg);
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	json_decref(claims);
	return r;
}

static void
test_sgx_attributes(void)
{
	kbs_policy *p = NULL;

	CU_ASSERT_EQUAL_FATAL(kbs_policy_parse(sgx_policy, strlen(sgx_policy), &p, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_policy_get_kind(p), KBS_POLICY_INTEL);
	CU_ASSERT_STRING_EQUAL(kbs_policy_id(p), "d0c3f191-0000-4000-8000-000000000001");
	kbs_policy_free(p);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims(NULL), "attributes"), 1);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_mrenclave\":\"" MRENCLAVE2 "\","
						  "\"sgx_isvprodid\":13}"), "attributes"), 1);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_mrenclave\":\"" MRSIGNER "\"}"),
			   "mrenclave"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_mrsigner\":\"" MRENCLAVE "\"}"),
			   "mrsigner"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_isvprodid\":14}"), "isvprodid"), 0);
	/* isvsvn is equality (the code), not a minimum (the docs) */
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_isvsvn\":2}"), "isvsvn"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_isvsvn\":\"1\"}"), "isvsvn"), 0);
	/* hex compares case-sensitively */
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_mrsigner\":"
		"\"8621FE91742279DC887790BE78D40D24963000FFEF7CEC10DBBC3734F7C0D064\"}"),
		"mrsigner"), 0);
	/* missing claims deny */
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_mrenclave\":null}"), "mrenclave"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"attester_type\":\"TDX\"}"),
			   "attester_type"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"attester_type\":\"sgx\"}"),
			   "attester_type"), 0);
}

static void
test_tcb_status(void)
{
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"attester_tcb_status\":\"OUT_OF_DATE\"}"),
			   "enforce_tcb_upto_date"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"attester_tcb_status\":\"SWHardeningNeeded\"}"),
			   "enforce_tcb_upto_date"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"attester_tcb_status\":\"UpToDate\"}"),
			   "attributes"), 1);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"attester_tcb_status\":\"uptodate\"}"),
			   "attributes"), 1);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"attester_tcb_status\":\"ok\"}"),
			   "enforce_tcb_upto_date"), 0);
	/* enforce false: the TDX claims are OutOfDate and still pass */
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims(NULL), "attributes"), 1);
}

static void
test_policy_ids(void)
{
	/* a matched id decides alone: attributes are skipped */
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"sgx_mrenclave\":\"" MRSIGNER "\","
		"\"policy_ids_matched\":[{\"id\":\"other\",\"version\":\"v1\"},"
		"{\"id\":\"" PID "\",\"version\":\"v1\"}]}"), "policy_ids"), 1);
	/* matched list present without overlap: deny, even if attributes match */
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"policy_ids_matched\":"
		"[{\"id\":\"other\",\"version\":\"v1\"}]}"), "policy_ids"), 0);
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"policy_ids_matched\":[]}"), "policy_ids"), 0);
	/* token without the list: attributes decide */
	CU_ASSERT_EQUAL(ev(sgx_policy, sgx_claims("{\"policy_ids_unmatched\":"
		"[{\"id\":\"" PID "\"}]}"), "attributes"), 1);
	/* policy without policy_ids: attributes decide */
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims("{\"policy_ids_matched\":[{\"id\":\"x\"}]}"),
			   "attributes"), 1);
	/* policy_ids only, no attributes: no match means deny */
	CU_ASSERT_EQUAL(ev("{\"attestation_type\":\"SGX\",\"sgx\":{\"policy_ids\":[\"" PID "\"]}}",
			   sgx_claims(NULL), "attributes"), 0);
	CU_ASSERT_EQUAL(ev("{\"attestation_type\":\"SGX\",\"sgx\":{\"policy_ids\":[\"" PID "\"]}}",
			   sgx_claims("{\"policy_ids_matched\":[{\"id\":\"" PID "\"}]}"),
			   "policy_ids"), 1);
}

static void
test_tdx(void)
{
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims("{\"tdx_rtmr2\":\"" RTMR1 "\"}"), "rtmr2"), 0);
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims("{\"tdx_seamsvn\":259}"), "seamsvn"), 0);
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims("{\"tdx_mrtd\":\"" MRTD2 "\"}"), "mrtd"), 0);
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims("{\"tdx_mrseam\":\"" MRTD "\"}"), "mrseam"), 0);
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims("{\"tdx_mrsignerseam\":\"" MRTD "\"}"),
			   "mrsignerseam"), 0);
	CU_ASSERT_EQUAL(ev(tdx_policy, tdx_claims("{\"attester_type\":\"SGX\"}"),
			   "attester_type"), 0);
	/* ver 2 tokens nest the TEE claims */
	CU_ASSERT_EQUAL(ev(tdx_policy, json_pack("{s:s, s:{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s}}",
		"ver", "2.0.0", "tdx", "attester_type", "TDX", "tdx_mrseam", MRSEAM,
		"tdx_mrsignerseam", MRSIGNERSEAM, "tdx_seamsvn", 258, "tdx_mrtd", MRTD,
		"tdx_rtmr0", RTMR0, "tdx_rtmr1", RTMR1, "tdx_rtmr2", RTMR2), "attributes"), 1);
	/* empty lists are skipped */
	CU_ASSERT_EQUAL(ev("{\"attestation_type\":\"TDX\",\"tdx\":{\"attributes\":"
			   "{\"mrtd\":[],\"rtmr0\":\"\"}}}", tdx_claims(NULL), "attributes"), 1);
}

static void
test_trace(void)
{
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL;
	kbs_policy_ctx ctx = {"k", NULL, NULL, 0, 0};
	json_t *claims = sgx_claims("{\"sgx_isvsvn\":3}");
	const json_t *checks, *last;

	CU_ASSERT_EQUAL_FATAL(kbs_policy_parse(sgx_policy, strlen(sgx_policy), &p, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_policy_eval(p, claims, &ctx, &d, NULL), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(kbs_policy_decision_reason(d),
				      "check \"isvsvn\" failed: sgx_isvsvn: saw 3, expected 1"));
	checks = json_object_get(kbs_policy_decision_trace(d), "checks");
	CU_ASSERT_EQUAL(json_array_size(checks), 6);
	last = json_array_get(checks, 4);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(last, "check")), "isvsvn");
	CU_ASSERT(json_is_false(json_object_get(last, "result")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(last, "seen")), 3);
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	json_decref(claims);
}

static int
bad(const char *doc, const char *want)
{
	kbs_policy *p = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_policy_parse(doc, strlen(doc), &p, &eb);

	kbs_policy_free(p);
	if (rc == KBS_OK || strstr(eb.msg, want) == NULL) {
		fprintf(stderr, "bad: rc=%d %s\n", rc, eb.msg);
		return 0;
	}
	return 1;
}

static void
test_rejected(void)
{
	CU_ASSERT(bad("{\"attestation_type\":\"sgx\",\"sgx\":{}}", "attestation_type"));
	CU_ASSERT(bad("{\"attestation_type\":[\"TDX\"],\"tdx\":{}}", "attestation_type"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\"}", "needs a \"sgx\" object"));
	CU_ASSERT(bad("{\"attestation_type\":\"TDX\",\"sgx\":{}}", "needs a \"tdx\" object"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":"
		      "{\"mrsigner\":[\"abc\"]}}}", "hex length"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":"
		      "{\"mrsigner\":\"" MRSIGNER "\"}}}", "wrong type"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":"
		      "{\"mrenclave\":[\"" MRSEAM "\"]}}}", "hex length"));
	CU_ASSERT(bad("{\"attestation_type\":\"TDX\",\"tdx\":{\"attributes\":"
		      "{\"mrtd\":[\"" MRSIGNER "\"]}}}", "hex length"));
	CU_ASSERT(bad("{\"attestation_type\":\"TDX\",\"tdx\":{\"attributes\":"
		      "{\"mrtd\":[\"zz" MRSIGNER MRSIGNER "\"]}}}", "hex length"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":"
		      "{\"isvprodid\":[70000]}}}", "wrong type"));
	CU_ASSERT(bad("{\"attestation_type\":\"TDX\",\"tdx\":{\"attributes\":"
		      "{\"seamsvn\":\"3\"}}}", "wrong type"));
	CU_ASSERT(bad("{\"attestation_type\":\"TDX\",\"tdx\":{\"attributes\":"
		      "{\"enforce_tcb_upto_date\":\"false\"}}}", "wrong type"));
	CU_ASSERT(bad("{\"attestation_type\":\"TDX\",\"tdx\":{\"attributes\":"
		      "{\"mrsigner\":[]}}}", "unknown attribute"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":{}},"
		      "\"client_permissions\":[]}", "unknown member"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":{},"
		      "\"policy_ids\":\"" PID "\"}}", "policy_ids"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\"sgx\":{\"attributes\":{},"
		      "\"extra\":1}}", "unknown member"));
	CU_ASSERT(bad("{\"attestation_type\":\"SGX\",\n\"sgx\":[]}", "line 2"));
}

static const kbs_unit_test tests[] = {
	{"SGX attributes", test_sgx_attributes},
	{"enforce_tcb_upto_date", test_tcb_status},
	{"policy_ids", test_policy_ids},
	{"TDX attributes", test_tdx},
	{"trace and reason", test_trace},
	{"malformed Intel policies", test_rejected},
	{NULL, NULL},
};

KBS_UNIT_MAIN("policy_intel", tests)
