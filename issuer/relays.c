/*
 * relays.c - the external verifiers the issuer relays evidence to
 * (CoCo AS, Intel Trust Authority), per TEE as verifier.backends names
 * them; TEEs not named use the built-in verifier.
 */
#include <stdio.h>
#include <string.h>

#include "issuer_int.h"

static void
relay_common(kbs_relay_cfg *r, long long timeout, long long connect,
	     long long retries, long long inflight, int allow_insecure_http,
	     const char *ca)
{
	memset(r, 0, sizeof(*r));
	r->timeout_ms = timeout;
	r->connect_timeout_ms = connect;
	r->retries = (int)retries;
	r->max_inflight = inflight;
	r->allow_insecure_http = allow_insecure_http;
	r->tls_ca_file = ca;
}

static kbs_err
new_relay(kbs_issuer *is, const char *tee, const char *backend,
	  kbs_verifier **out, kbs_errbuf *eb)
{
	const kbs_issuer_cfg *cfg = is->cfg;
	kbs_coco_cfg cc;
	kbs_ita_cfg ic;
	kbs_err rc;

	if (strcmp(backend, "coco-as") == 0) {
		if (is->coco == NULL) {
			memset(&cc, 0, sizeof(cc));
			cc.url = cfg->coco_url;
			cc.jwks_url = cfg->coco_jwks_url;
			cc.ca_file = cfg->coco_ca_file;
			cc.iss = cfg->coco_iss;
			cc.policy_ids = (const char *const *)cfg->coco_policy_ids.v;
			cc.n_policy_ids = cfg->coco_policy_ids.n;
			relay_common(&cc.relay, cfg->coco_timeout_ms,
				     cfg->coco_connect_timeout_ms, cfg->coco_retries,
				     cfg->coco_max_inflight, cfg->coco_allow_insecure_http,
				     cfg->coco_tls_ca_file);
			if ((rc = kbs_verifier_coco_new(&cc, &is->coco, eb)) != KBS_OK)
				return rc;
		}
		*out = is->coco;
		return KBS_OK;
	}
	if (strcmp(backend, "ita") != 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "verifier.backends.%s: unknown "
				"backend %s (builtin, coco-as, ita)", tee, backend);
	memset(&ic, 0, sizeof(ic));
	ic.url = cfg->ita_url;
	ic.jwks_url = cfg->ita_jwks_url;
	ic.api_key = cfg->ita_api_key;
	ic.iss = cfg->ita_iss;
	ic.policy_ids = (const char *const *)cfg->ita_policy_ids.v;
	ic.n_policy_ids = cfg->ita_policy_ids.n;
	ic.api_version = (int)cfg->ita_api_version;
	ic.policy_must_match = cfg->ita_policy_must_match;
	relay_common(&ic.relay, cfg->ita_timeout_ms, cfg->ita_connect_timeout_ms,
		     cfg->ita_retries, cfg->ita_max_inflight, cfg->ita_allow_insecure_http,
		     cfg->ita_tls_ca_file);
	if ((rc = kbs_verifier_ita_new(tee, &ic, &is->ita, eb)) != KBS_OK)
		return rc;
	*out = is->ita;
	return KBS_OK;
}

kbs_err
kbs_issuer_load_relays(kbs_issuer *is, kbs_errbuf *eb)
{
	const json_t *b = is->cfg->verifier_backends, *v;
	kbs_verifier *relay = NULL;
	const char *tee;
	kbs_err rc;

	if (b == NULL)
		return KBS_OK;
	if (!json_is_object(b) || json_object_size(b) > KBS_ISSUER_RELAYS_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "verifier.backends must be an "
				"object of at most %d TEEs", KBS_ISSUER_RELAYS_MAX);
	json_object_foreach((json_t *)b, tee, v) {
		if (!json_is_string(v) || strlen(tee) >= sizeof(is->relays[0].tee))
			return kbs_errf(eb, KBS_ERR_CONFIG, "verifier.backends: bad "
					"entry %.32s", tee);
		if (strcmp(json_string_value(v), "builtin") == 0)
			continue;
		if ((rc = new_relay(is, tee, json_string_value(v), &relay, eb)) != KBS_OK) {
			kbs_errprefix(eb, "verifier.backends.%s", tee);
			return rc;
		}
		snprintf(is->relays[is->nrelays].tee, sizeof(is->relays[0].tee), "%s", tee);
		is->relays[is->nrelays++].v = relay;
	}
	return KBS_OK;
}
