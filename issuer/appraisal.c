/*
 * appraisal.c - from verifier claims to ear.status and the AR4SI
 * trustworthiness vector, decided by the policy engine (common/policy.h)
 * with an appraisal policy (docs/policy-language.md, "Appraisal
 * policies").  The same engine decides releases on the broker.
 *
 * Operators usually keep the shipped policy and pin their own
 * measurements: appraisal.references replaces the policy's named
 * reference values of the same name.
 */
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "issuer_int.h"
#include "json.h"
#include "mem.h"
#include "x509util.h"

kbs_err
kbs_issuer_appraise(const kbs_issuer *is, const char *tee, const json_t *claims,
		    json_t **ear, kbs_errbuf *eb)
{
	/* Claims are addressed by TEE name, as in the token: /sample/svn. */
	json_t *by_tee = json_pack("{s:O}", tee, claims);
	kbs_err rc;

	if (by_tee == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_policy_appraise(is->appraisal, by_tee, tee, ear, eb);
	json_decref(by_tee);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "appraisal");
	return rc;
}

/* Replace the document's named references with the configured ones. */
static kbs_err
merge_references(json_t *doc, const json_t *refs, kbs_errbuf *eb)
{
	json_t *have = json_object_get(doc, "references");

	if (!json_is_object(refs))
		return kbs_errf(eb, KBS_ERR_CONFIG, "appraisal.references must "
				"be an object");
	if (have == NULL) {
		have = json_object();
		if (have == NULL || json_object_set_new(doc, "references", have) != 0)
			return KBS_ERR_NOMEM;
	}
	return json_object_update(have, (json_t *)refs) == 0 ? KBS_OK
							     : KBS_ERR_NOMEM;
}

/* Parse text as an appraisal policy, references merged if configured. */
static kbs_err
parse_appraisal(const char *text, size_t len, const json_t *refs,
		kbs_policy **out, char sha[65], kbs_errbuf *eb)
{
	json_t *doc = NULL;
	char *merged = NULL;
	kbs_err rc;

	if (refs != NULL) {
		rc = KBS_ERR_CONFIG;
		if ((doc = kbs_json_parse_object(text, len, KBS_POLICY_MAX_JSON_DEPTH,
						 eb)) == NULL ||
		    (rc = merge_references(doc, refs, eb)) != KBS_OK)
			goto out;
		if ((merged = kbs_json_dumps(doc)) == NULL) {
			rc = KBS_ERR_NOMEM;
			goto out;
		}
		text = merged;
		len = strlen(merged);
	}
	if ((rc = kbs_policy_parse(text, len, out, eb)) != KBS_OK)
		goto out;
	kbs_sha256_hex(text, len, sha);
	if (kbs_policy_get_kind(*out) != KBS_POLICY_APPRAISAL) {
		kbs_policy_free(*out);
		*out = NULL;
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "not an appraisal policy "
			      "(\"kind\": \"appraisal\")");
	}
out:
	free(merged);
	json_decref(doc);
	return rc;
}

kbs_err
kbs_issuer_load_appraisal(const kbs_issuer_cfg *cfg, kbs_policy **out,
			  char sha[65], kbs_errbuf *eb)
{
	const char *path = cfg->appraisal_policy_file;
	uint8_t *text = NULL;
	size_t len = 0;
	kbs_err rc;

	if (path == NULL)
		rc = parse_appraisal(kbs_issuer_default_appraisal,
				     strlen(kbs_issuer_default_appraisal),
				     cfg->appraisal_references, out, sha, eb);
	else if ((rc = kbs_fs_read(path, KBS_POLICY_MAX_SIZE, &text, &len, eb)) == KBS_OK)
		rc = parse_appraisal((const char *)text, len,
				     cfg->appraisal_references, out, sha, eb);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "appraisal policy %s", path ? path : "(built-in)");
	free(text);
	return rc;
}
