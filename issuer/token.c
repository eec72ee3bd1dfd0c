/*
 * token.c - the attestation token: an EAR-shaped JWT (spec section 4.1)
 * signed by the issuer's signer.  Claims are built here; the key never
 * leaves signer.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer_int.h"
#include "json.h"
#include "rand.h"

#define EAT_PROFILE "tag:github.com,2024:confidential-containers/Trustee"

/*
 * The runtime data as the token shows it.  additional-evidence is the
 * devices' evidence verbatim (tens of KB for a GPU); each device has its
 * own submodule, so the copy is dropped unless token.verbose asks for it,
 * as trustee's verbose_token = false does.
 */
static json_t *
runtime_claims(const kbs_issuer *is, const json_t *rt)
{
	json_t *r = json_copy((json_t *)rt);

	if (r != NULL && !is->cfg->token_verbose)
		json_object_del(r, "additional-evidence");
	return r;
}

static json_t *
annotated_evidence(const kbs_issuer *is, const json_t *a, const json_t *rt,
		   const kbs_issuer_mint_in *in)
{
	json_t *ae = json_pack("{s:O, s:o}", kbs_json_str(a, "tee"),
			       json_object_get(a, "claims"), "runtime_data_claims",
			       runtime_claims(is, rt));

	if (ae == NULL || json_integer_value(json_object_get(a, "item")) != 0 ||
	    in->init_data_b64 == NULL)
		return ae;
	if (json_object_set_new(ae, "init_data", json_string(in->init_data_b64)) != 0 ||
	    (in->init_data_claims != NULL &&
	     json_object_set_new(ae, "init_data_claims",
				 json_deep_copy(in->init_data_claims)) != 0)) {
		json_decref(ae);
		return NULL;
	}
	return ae;
}

/* "<class><n>", n counting the earlier attesters of the same class. */
static int
submod_name(const json_t *attesters, size_t upto, char *buf, size_t len)
{
	const char *klass = kbs_json_str(json_array_get(attesters, upto), "class");
	size_t i, n = 0;

	for (i = 0; i < upto; i++)
		if (strcmp(kbs_json_str(json_array_get(attesters, i), "class"),
			   klass) == 0)
			n++;
	return snprintf(buf, len, "%s%zu", klass, n) < (int)len ? 0 : -1;
}

static json_t *
submods(const kbs_issuer *is, const kbs_issuer_mint_in *in)
{
	json_t *subs = json_object(), *a, *sm;
	char name[40];
	size_t i;

	json_array_foreach(in->attesters, i, a) {
		json_int_t item = json_integer_value(json_object_get(a, "item"));
		sm = json_deep_copy(json_object_get(a, "ear"));
		if (subs == NULL || sm == NULL ||
		    submod_name(in->attesters, i, name, sizeof(name)) != 0 ||
		    json_object_set_new(sm, "ear.veraison.annotated-evidence",
					annotated_evidence(is, a, json_array_get(
						in->runtime, (size_t)item), in)) != 0 ||
		    json_object_set_new(subs, name, sm) != 0) {
			json_decref(sm);
			json_decref(subs);
			return NULL;
		}
	}
	return subs;
}

static json_t *
ear_claims(const kbs_issuer *is, const kbs_issuer_mint_in *in, char jti[37])
{
	long long now = kbs_clock_now();
	json_t *subs, *claims;

	if (kbs_rand_uuid4(jti) != KBS_OK || (subs = submods(is, in)) == NULL)
		return NULL;
	claims = json_pack("{s:s, s:I, s:I, s:s, s:s, s:{s:s, s:s}, s:o}",
			   "eat_profile", EAT_PROFILE, "iat", (json_int_t)now,
			   "exp", (json_int_t)(now + is->cfg->token_lifetime),
			   "iss", is->cfg->token_iss, "jti", jti,
			   "ear.verifier-id", "developer", "https://github.com/kbs-c",
			   "build", "kbs-c " KBS_VERSION, "submods", subs);
	if (claims != NULL && is->cfg->token_aud != NULL &&
	    json_object_set_new(claims, "aud", json_string(is->cfg->token_aud)) != 0) {
		json_decref(claims);
		return NULL;
	}
	return claims;
}

kbs_err
kbs_issuer_mint(const kbs_issuer *is, const kbs_issuer_mint_in *in,
		char jti[37], char **out, kbs_errbuf *eb)
{
	json_t *claims;
	kbs_err rc;

	if ((claims = ear_claims(is, in, jti)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "cannot build token claims");
	rc = kbs_signer_sign(is->signer, claims, out, eb);
	json_decref(claims);
	return rc;
}
