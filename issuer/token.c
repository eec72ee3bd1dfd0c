/*
 * token.c - the attestation token: an EAR-shaped JWT (spec section 4.1)
 * signed by the issuer's signer.  Claims are built here; the key never
 * leaves signer.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer_int.h"
#include "rand.h"

#define EAT_PROFILE "tag:github.com,2024:confidential-containers/Trustee"

static json_t *
annotated_evidence(const char *tee, const json_t *tee_claims,
		   const json_t *runtime_claims, const char *init_data_b64)
{
	json_t *ae = json_pack("{s:O, s:O}", tee, tee_claims,
			       "runtime_data_claims", runtime_claims);

	if (ae != NULL && init_data_b64 != NULL &&
	    json_object_set_new(ae, "init_data", json_string(init_data_b64)) != 0) {
		json_decref(ae);
		return NULL;
	}
	return ae;
}

static json_t *
ear_claims(const kbs_issuer *is, const char *tee, const json_t *tee_claims,
	   const json_t *appraisal, const json_t *runtime_claims,
	   const char *init_data_b64, char jti[37])
{
	long long now = kbs_clock_now();
	json_t *submod, *claims;

	if (kbs_rand_uuid4(jti) != KBS_OK)
		return NULL;
	submod = json_deep_copy(appraisal);
	if (submod == NULL ||
	    json_object_set_new(submod, "ear.veraison.annotated-evidence",
				annotated_evidence(tee, tee_claims, runtime_claims,
						   init_data_b64)) != 0) {
		json_decref(submod);
		return NULL;
	}
	claims = json_pack("{s:s, s:I, s:I, s:s, s:s, s:{s:s, s:s}, s:{s:o}}",
			   "eat_profile", EAT_PROFILE, "iat", (json_int_t)now,
			   "exp", (json_int_t)(now + is->cfg->token_lifetime),
			   "iss", is->cfg->token_iss, "jti", jti,
			   "ear.verifier-id", "developer", "https://github.com/kbs-c",
			   "build", "kbs-c " KBS_VERSION, "submods", "cpu0", submod);
	if (claims != NULL && is->cfg->token_aud != NULL &&
	    json_object_set_new(claims, "aud", json_string(is->cfg->token_aud)) != 0) {
		json_decref(claims);
		return NULL;
	}
	return claims;
}

kbs_err
kbs_issuer_mint(const kbs_issuer *is, const char *tee, const json_t *tee_claims,
		const json_t *appraisal, const json_t *runtime_claims,
		const char *init_data_b64, char jti[37], char **out, kbs_errbuf *eb)
{
	json_t *claims;
	kbs_err rc;

	claims = ear_claims(is, tee, tee_claims, appraisal, runtime_claims,
			    init_data_b64, jti);
	if (claims == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "cannot build token claims");
	rc = kbs_signer_sign(is->signer, claims, out, eb);
	json_decref(claims);
	return rc;
}
