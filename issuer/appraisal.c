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
#include <pthread.h>
#include <stdio.h>
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
	/* The admin API may replace the policy while guests attest. */
	pthread_rwlock_rdlock((pthread_rwlock_t *)&is->appraisal_lock);
	rc = kbs_policy_appraise(is->appraisal, by_tee, tee, ear, eb);
	pthread_rwlock_unlock((pthread_rwlock_t *)&is->appraisal_lock);
	json_decref(by_tee);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "appraisal");
	return rc;
}

void
kbs_issuer_appraisal_ident(const kbs_issuer *is, char id[KBS_POLICY_MAX_ID + 1],
			   char sha256[65])
{
	pthread_rwlock_rdlock((pthread_rwlock_t *)&is->appraisal_lock);
	snprintf(id, KBS_POLICY_MAX_ID + 1, "%s", kbs_policy_id(is->appraisal));
	memcpy(sha256, is->appraisal_sha256, 65);
	pthread_rwlock_unlock((pthread_rwlock_t *)&is->appraisal_lock);
}

/* Replace the document's named references with refs' values. */
static kbs_err
merge_references(json_t *doc, const json_t *refs, kbs_errbuf *eb)
{
	json_t *have = json_object_get(doc, "references");

	if (!json_is_object(refs))
		return kbs_errf(eb, KBS_ERR_CONFIG, "appraisal.references must "
				"be an object");
	if (have != NULL && !json_is_object(have))
		return kbs_errf(eb, KBS_ERR_INVALID, "\"references\" must be "
				"an object");
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
		rc = KBS_ERR_INVALID;
		doc = kbs_json_parse_object(text, len, KBS_POLICY_MAX_JSON_DEPTH,
					    eb);
		/* Not JSON: let the policy parser say why (Rego, syntax). */
		if (doc == NULL) {
			rc = kbs_policy_parse(text, len, out, eb);
			if (rc == KBS_OK) {
				kbs_policy_free(*out);
				*out = NULL;
				rc = KBS_ERR_INVALID;
			}
			goto out;
		}
		if ((rc = merge_references(doc, refs, eb)) != KBS_OK)
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
		rc = kbs_errf(eb, KBS_ERR_INVALID, "not an appraisal policy "
			      "(\"kind\": \"appraisal\")");
	}
out:
	free(merged);
	json_decref(doc);
	return rc;
}

/* appraisal.references, then the admin API's reference values over them. */
static json_t *
effective_refs(const kbs_issuer_cfg *cfg, kbs_astore *store)
{
	json_t *stored = store ? kbs_astore_references(store) : NULL, *out;

	if (stored == NULL)
		return json_incref(cfg->appraisal_references);
	if (!json_is_object(cfg->appraisal_references))
		return stored;
	out = json_deep_copy(cfg->appraisal_references);
	if (out != NULL)
		json_object_update(out, stored);
	json_decref(stored);
	return out;
}

/* The text in force: the stored appraisal.policy_id, else the baseline. */
static kbs_err
policy_text(const kbs_issuer_cfg *cfg, kbs_astore *store, char **text,
	    size_t *len, const char **from, kbs_errbuf *eb)
{
	const char *path = cfg->appraisal_policy_file;
	uint8_t *buf = NULL;
	long long v;
	kbs_err rc;

	if (store != NULL && (rc = kbs_astore_policy(store,
			cfg->appraisal_policy_id, text, len, &v, NULL)) == KBS_OK) {
		*from = "stored";
		return KBS_OK;
	}
	*from = path ? path : "(built-in)";
	if (path == NULL) {
		*len = strlen(kbs_issuer_default_appraisal);
		*text = strdup(kbs_issuer_default_appraisal);
		return *text ? KBS_OK : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	if ((rc = kbs_fs_read(path, KBS_POLICY_MAX_SIZE, &buf, len, eb)) != KBS_OK)
		return rc;
	*text = (char *)buf;
	return KBS_OK;
}

kbs_err
kbs_issuer_build_appraisal(const kbs_issuer_cfg *cfg, kbs_astore *store,
			   const char *text, size_t len, const json_t *refs,
			   kbs_policy **out, char sha[65], kbs_errbuf *eb)
{
	char *own = NULL;
	const char *from = "admin API";
	json_t *r = NULL;
	kbs_err rc;

	if (text == NULL) {
		if ((rc = policy_text(cfg, store, &own, &len, &from, eb)) != KBS_OK)
			return rc;
		text = own;
	}
	if (refs == NULL)
		refs = r = effective_refs(cfg, store);
	rc = parse_appraisal(text, len, refs, out, sha, eb);
	if (rc != KBS_OK && own != NULL)
		kbs_errprefix(eb, "appraisal policy %s", from);
	json_decref(r);
	free(own);
	return rc;
}

kbs_err
kbs_issuer_load_appraisal(const kbs_issuer_cfg *cfg, kbs_policy **out,
			  char sha[65], kbs_errbuf *eb)
{
	kbs_err rc = kbs_issuer_build_appraisal(cfg, NULL, NULL, 0, NULL, out,
						sha, eb);

	return rc == KBS_ERR_INVALID ? KBS_ERR_CONFIG : rc;
}

kbs_err
kbs_issuer_appraisal_sync(kbs_issuer *is, kbs_errbuf *eb)
{
	int changed = 0;
	kbs_err rc = kbs_astore_sync(is->astore, &changed, eb);

	if (rc == KBS_OK && changed)
		rc = kbs_issuer_reload_appraisal(is, eb);
	return rc;
}

kbs_err
kbs_issuer_reload_appraisal(kbs_issuer *is, kbs_errbuf *eb)
{
	kbs_policy *p = NULL, *old;
	char sha[65];
	kbs_err rc;

	if ((rc = kbs_issuer_build_appraisal(is->cfg, is->astore, NULL, 0, NULL,
					     &p, sha, eb)) != KBS_OK)
		return rc;
	pthread_rwlock_wrlock(&is->appraisal_lock);
	old = is->appraisal;
	is->appraisal = p;
	memcpy(is->appraisal_sha256, sha, sizeof(sha));
	pthread_rwlock_unlock(&is->appraisal_lock);
	kbs_policy_free(old);
	return KBS_OK;
}
