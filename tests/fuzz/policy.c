/*
 * libFuzzer driver for the policy parser: any bytes must either load as a
 * policy or be rejected with a message, never crash or leak.  A loaded
 * policy is evaluated once against a small claims object so the compiled
 * conditions are exercised too.
 */
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL;
	kbs_errbuf eb;
	json_t *claims, *ear = NULL;
	kbs_policy_ctx ctx = {"default/key/1", NULL, "issuer", 1760000000, 0};

	if (kbs_policy_parse((const char *)data, size, &p, &eb) != KBS_OK)
		return 0;
	claims = json_pack("{s:{s:{s:s, s:{s:{s:s}}}}, s:s}", "submods", "cpu0",
			   "ear.status", "affirming",
			   "ear.veraison.annotated-evidence", "sample", "svn", "1",
			   "attester_type", "SGX");
	if (kbs_policy_get_kind(p) == KBS_POLICY_APPRAISAL)
		kbs_policy_appraise(p, claims, "sample", &ear, &eb);
	else
		kbs_policy_eval(p, claims, &ctx, &d, &eb);
	json_decref(ear);
	json_decref(claims);
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	return 0;
}
