/* Tests for issuer/appraisal.c: the appraisal policy and its references. */
#include <string.h>

#include "issuer_int.h"
#include "unit.h"

static json_t *
sample_claims(const char *digest, int debug)
{
	return json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:b}", "svn", "1",
			 "report_data", "", "launch_digest", digest,
			 "platform_version", "major", 1, "minor", 4, "debug", debug);
}

/* Appraise claims of tee with cfg; returns ear.status (static) or NULL. */
static const char *
status_of(const kbs_issuer_cfg *cfg, const char *tee, json_t *claims)
{
	static char status[32];
	kbs_issuer is;
	json_t *ear = NULL;
	const char *st = NULL;

	memset(&is, 0, sizeof(is));
	is.cfg = cfg;
	CU_ASSERT_FATAL(kbs_issuer_load_appraisal(cfg, &is.appraisal, is.appraisal_sha256, NULL) == KBS_OK);
	if (kbs_issuer_appraise(&is, tee, claims, &ear, NULL) == KBS_OK) {
		snprintf(status, sizeof(status), "%s",
			 json_string_value(json_object_get(ear, "ear.status")));
		CU_ASSERT_TRUE(json_is_object(json_object_get(ear,
					"ear.trustworthiness-vector")));
		st = status;
	}
	json_decref(ear);
	json_decref(claims);
	kbs_policy_free(is.appraisal);
	return st;
}

static void
test_builtin_default(void)
{
	kbs_issuer_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sample", sample_claims("abcde", 0)),
			       "affirming");
	/* Unknown measurement: executables unrecognised. */
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sample", sample_claims("zzz", 0)),
			       "warning");
	/* Debug is contraindicated whatever the measurement. */
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sample", sample_claims("abcde", 1)),
			       "contraindicated");
}

static void
test_references_override(void)
{
	kbs_issuer_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.appraisal_references = json_pack("{s:[s]}", "sample_launch_digests",
					     "zzz");
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sample", sample_claims("zzz", 0)),
			       "affirming");
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sample", sample_claims("abcde", 0)),
			       "warning");
	json_decref(cfg.appraisal_references);
}

static void
test_refusals(void)
{
	kbs_issuer_cfg cfg;
	kbs_policy *p = NULL;
	kbs_errbuf eb = {""};
	char path[512], sha[65];

	memset(&cfg, 0, sizeof(cfg));
	cfg.appraisal_references = json_string("not an object");
	CU_ASSERT_NOT_EQUAL(kbs_issuer_load_appraisal(&cfg, &p, sha, &eb), KBS_OK);
	CU_ASSERT_PTR_NULL(p);
	json_decref(cfg.appraisal_references);
	cfg.appraisal_references = NULL;
	/* A resource policy is not an appraisal policy. */
	cfg.appraisal_policy_file = (char *)kbs_unit_src("policies/default.json",
							 path, sizeof(path));
	CU_ASSERT_EQUAL(kbs_issuer_load_appraisal(&cfg, &p, sha, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "appraisal"));
	cfg.appraisal_policy_file = "/nonexistent/appraisal.json";
	CU_ASSERT_NOT_EQUAL(kbs_issuer_load_appraisal(&cfg, &p, sha, &eb), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "/nonexistent/appraisal.json"));
}

/* SGX claims shaped as the built-in verifier reports them. */
static json_t *
sgx_claims(int debug, const char *tcb_status)
{
	return json_pack("{s:{s:s, s:s}, s:b, s:s}", "body", "mr_signer",
			 "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e",
			 "isv_svn", "0000", "debug", debug, "tcb_status", tcb_status);
}

static void
test_sgx_and_tcb_status(void)
{
	kbs_issuer_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sgx", sgx_claims(0, "UpToDate")),
			       "affirming");
	/* The occlum vector is a debug enclave. */
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sgx", sgx_claims(1, "UpToDate")),
			       "contraindicated");
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sgx", sgx_claims(0, "OutOfDate")),
			       "contraindicated");
	CU_ASSERT_STRING_EQUAL(status_of(&cfg, "sgx", sgx_claims(0, "Revoked")),
			       "contraindicated");
	/* Without collateral the status is unknown: not affirmed. */
	CU_ASSERT_STRING_NOT_EQUAL(status_of(&cfg, "sgx", sgx_claims(0, "unknown")),
				   "affirming");
}

static const kbs_unit_test tests[] = {
	{"SGX measurements, debug and TCB status", test_sgx_and_tcb_status},
	{"built-in default policy", test_builtin_default},
	{"references replace the policy's", test_references_override},
	{"bad documents and references refused", test_refusals},
	{NULL, NULL},
};

KBS_UNIT_MAIN("appraisal", tests)
