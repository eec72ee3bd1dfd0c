/*
 * verifier_ita.c - the relay to Intel Trust Authority (shared/spec/
 * intel-kbs.md sections 5 and 6) for TDX evidence.  Why no verifier nonce
 * and no runtime_data are sent, and what is checked instead, is in
 * verifier_relay.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "dcap.h"
#include "json.h"
#include "mem.h"
#include "verifier_relay.h"

#define ITA_KEY_MAX 512
#define ITA_ANSWER_MAX (256 * 1024)

struct ita {
	kbs_verifier base;
	kbs_relay *relay;
	char *attest_url;
	char *key_header;   /* "x-api-key: <key>" (secret) */
	json_t *policy_ids;
	int version, must_match;
};

/* quote (any base64) re-encoded as ITA wants it, plus the event log. */
static kbs_err
ita_evidence(const json_t *ev, char **quote, const char **log, kbs_errbuf *eb)
{
	const json_t *q = json_object_get(ev, "quote");
	uint8_t *raw = NULL;
	size_t n = 0;

	if (!json_is_string(q) || json_string_length(q) > 2 * KBS_DCAP_QUOTE_MAX ||
	    kbs_b64_decode(json_string_value(q), json_string_length(q), KBS_B64_ANY,
			   &raw, &n) != KBS_OK || n == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "evidence: no base64 \"quote\"");
	*quote = kbs_b64_encode(raw, n, KBS_B64_STD);
	free(raw);
	if (*quote == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*log = kbs_json_str(ev, "cc_eventlog");
	return KBS_OK;
}

/* The attest body, v1 (flat) or v2 (TEE object), spec 6. */
static kbs_err
ita_body(const struct ita *t, const char *quote, const char *log,
	 const char *user_data, char **out, kbs_errbuf *eb)
{
	json_t *ev = json_pack("{s:s, s:s}", "quote", quote, "user_data", user_data);
	json_t *doc = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if (ev == NULL || (log != NULL && json_object_set_new(ev, "event_log",
							       json_string(log)) != 0))
		goto out;
	if (t->version == 2) {
		doc = json_pack("{s:O}", "tdx", ev);
	} else {
		doc = ev;
		ev = NULL;
	}
	if (doc == NULL ||
	    (json_array_size(t->policy_ids) > 0 &&
	     json_object_set(doc, "policy_ids", t->policy_ids) != 0) ||
	    json_object_set_new(doc, "token_signing_alg", json_string("PS384")) != 0 ||
	    json_object_set_new(doc, "policy_must_match", json_boolean(t->must_match)) != 0 ||
	    (*out = kbs_json_dumps(doc)) == NULL)
		goto out;
	rc = KBS_OK;
out:
	if (rc != KBS_OK)
		kbs_errf(eb, rc, "out of memory");
	json_decref(ev);
	json_decref(doc);
	return rc;
}

/* {"token": "<jwt>"} -> the token; anything else is a broken service. */
static kbs_err
ita_token(const char *answer, char **out, kbs_errbuf *eb)
{
	json_t *doc = kbs_json_parse_object(answer, strlen(answer), 8, NULL);
	const char *tok = kbs_json_str(doc, "token");
	kbs_err rc = KBS_OK;

	if (tok == NULL)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "verifier ita answered without "
			      "a {\"token\"} object");
	else if ((*out = strdup(tok)) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	json_decref(doc);
	return rc;
}

/* The TDX claims of a v1 (flat) or v2 (nested under "tdx") token. */
static const json_t *
ita_tdx_claims(const json_t *tok, kbs_errbuf *eb)
{
	const char *ver = kbs_json_str(tok, "ver"), *type;
	const json_t *tdx;

	if (ver != NULL && ver[0] == '2') {
		tdx = json_object_get(tok, "tdx");
		if (!json_is_object(tdx))
			kbs_errf(eb, KBS_ERR_VERIFY, "ITA v2 token without tdx claims");
		return json_is_object(tdx) ? tdx : NULL;
	}
	type = kbs_json_str(tok, "attester_type");
	if (type == NULL || strcasecmp(type, "TDX") != 0) {
		kbs_errf(eb, KBS_ERR_VERIFY, "ITA token attester_type is not TDX");
		return NULL;
	}
	return tok;
}

/* tdx_report_data must be the session digest zero-padded (relay.h). */
static kbs_err
ita_binding(const json_t *tdx, const kbs_verifier_input *in, const char *rt,
	    size_t rtlen, kbs_errbuf *eb)
{
	const char *ud = kbs_json_str(tdx, "attester_user_data");
	uint8_t *got = NULL;
	size_t n = 0;
	kbs_err rc;

	rc = kbs_relay_check_init_data(kbs_json_str(tdx, "tdx_report_data"),
				       "tdx_report_data", in->report_data,
				       in->report_data_len, NULL);
	if (rc != KBS_OK || strlen(kbs_json_str(tdx, "tdx_report_data")) != 128)
		return kbs_errf(eb, KBS_ERR_VERIFY, "ITA token tdx_report_data is "
				"not this session's binding digest");
	if (ud == NULL || kbs_b64_decode(ud, strlen(ud), KBS_B64_ANY, &got, &n) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_VERIFY, "ITA token has no base64 "
				"attester_user_data");
	rc = KBS_OK;
	if (n != rtlen || CRYPTO_memcmp(got, rt, n) != 0)
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "ITA token attester_user_data "
			      "is not this session's runtime data");
	free(got);
	return rc;
}

/* ITA claim name -> where the built-in verifier puts it (tee_claims.h). */
static const struct {
	const char *from, *to1, *to2;
} tdx_map[] = {
	{"tdx_mrtd", "mr_td", NULL},
	{"tdx_tee_tcb_svn", "tcb_svn", NULL},
	{"tdx_mrseam", "mr_seam", NULL},
	{"tdx_mrsignerseam", "mrsigner_seam", NULL},
	{"tdx_seam_attributes", "seam_attributes", NULL},
	{"tdx_td_attributes", "td_attributes", NULL},
	{"tdx_xfam", "xfam", NULL},
	{"tdx_mrconfigid", "mr_config_id", "init_data"},
	{"tdx_mrowner", "mr_owner", NULL},
	{"tdx_mrownerconfig", "mr_owner_config", NULL},
	{"tdx_rtmr0", "rtmr_0", NULL},
	{"tdx_rtmr1", "rtmr_1", NULL},
	{"tdx_rtmr2", "rtmr_2", NULL},
	{"tdx_rtmr3", "rtmr_3", NULL},
	{"tdx_report_data", "report_data", "report_data"},
};

static json_t *
lower_hex(const char *s)
{
	char *d = strdup(s), *p;
	json_t *v;

	if (d == NULL)
		return NULL;
	for (p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	v = json_string(d);
	free(d);
	return v;
}

static json_t *
ita_map(const json_t *tdx)
{
	json_t *out = json_pack("{s:{s:{}}}", "quote", "body"), *body, *v;
	const json_t *dbg = json_object_get(tdx, "tdx_is_debuggable");
	const char *s;
	size_t i;

	body = json_object_get(json_object_get(out, "quote"), "body");
	for (i = 0; out != NULL && i < sizeof(tdx_map) / sizeof(tdx_map[0]); i++) {
		if ((s = kbs_json_str(tdx, tdx_map[i].from)) == NULL)
			continue;
		if ((v = lower_hex(s)) == NULL || json_object_set_new(body, tdx_map[i].to1, v) != 0 ||
		    (tdx_map[i].to2 != NULL &&
		     json_object_set_new(out, tdx_map[i].to2, lower_hex(s)) != 0))
			goto fail;
	}
	if (out == NULL ||
	    (json_is_boolean(dbg) &&
	     json_object_set_new(out, "td_attributes", json_pack("{s:O}", "debug", dbg)) != 0) ||
	    ((s = kbs_json_str(tdx, "attester_tcb_status")) != NULL &&
	     json_object_set_new(out, "tcb_status", json_string(s)) != 0) ||
	    (json_is_array(json_object_get(tdx, "attester_advisory_ids")) &&
	     json_object_set(out, "advisory_ids",
			     json_object_get(tdx, "attester_advisory_ids")) != 0))
		goto fail;
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* The token's claims minus the mapped ones and the checked user data. */
static json_t *
ita_rest(const json_t *tok, const json_t *tdx)
{
	json_t *rest = json_deep_copy(tok), *t;
	size_t i;

	t = tdx == tok ? rest : json_object_get(rest, "tdx");
	for (i = 0; t != NULL && i < sizeof(tdx_map) / sizeof(tdx_map[0]); i++)
		json_object_del(t, tdx_map[i].from);
	if (t != NULL) {
		json_object_del(t, "tdx_is_debuggable");
		json_object_del(t, "attester_tcb_status");
		json_object_del(t, "attester_advisory_ids");
		json_object_del(t, "attester_user_data");
	}
	return rest;
}

/* Send, receive, verify: the token's claims in *tok. */
static kbs_err
ita_exchange(struct ita *t, const kbs_verifier_input *in, const char *rt,
	     size_t rtlen, json_t **tok, kbs_errbuf *eb)
{
	const char *hdrs[4] = {t->key_header, "Accept: application/json",
			       "Content-Type: application/json", NULL};
	char *quote = NULL, *ud = NULL, *body = NULL, *answer = NULL, *token = NULL;
	const char *log = NULL;
	kbs_err rc;

	if ((rc = ita_evidence(in->evidence, &quote, &log, eb)) != KBS_OK)
		goto out;
	if ((ud = kbs_b64_encode((const uint8_t *)rt, rtlen, KBS_B64_STD)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = ita_body(t, quote, log, ud, &body, eb)) != KBS_OK ||
	    (rc = kbs_relay_call(t->relay, "POST", t->attest_url, hdrs, body, &answer,
				 eb)) != KBS_OK ||
	    (rc = ita_token(answer, &token, eb)) != KBS_OK)
		goto out;
	rc = kbs_relay_verify_token(t->relay, token, in->now, tok, eb);
out:
	free(quote);
	free(ud);
	free(body);
	free(answer);
	free(token);
	return rc;
}

static kbs_err
ita_verify(kbs_verifier *v, const kbs_verifier_input *in, json_t **claims,
	   kbs_errbuf *eb)
{
	struct ita *t = (struct ita *)v;
	const json_t *tdx;
	json_t *tok = NULL;
	char *rt = NULL;
	size_t rtlen = 0;
	kbs_err rc;

	if ((rc = kbs_relay_runtime_text(in, &rt, &rtlen, eb)) != KBS_OK ||
	    (rc = ita_exchange(t, in, rt, rtlen, &tok, eb)) != KBS_OK)
		goto out;
	rc = KBS_ERR_VERIFY;
	if ((tdx = ita_tdx_claims(tok, eb)) == NULL ||
	    (rc = ita_binding(tdx, in, rt, rtlen, eb)) != KBS_OK ||
	    (rc = kbs_relay_check_init_data(kbs_json_str(tdx, "tdx_mrconfigid"),
					    "tdx_mrconfigid", in->init_data_digest,
					    in->init_data_digest_len, eb)) != KBS_OK)
		goto out;
	rc = kbs_relay_claims("ita", ita_map(tdx), ita_rest(tok, tdx), claims, eb);
out:
	if (rc != KBS_OK)
		kbs_errprefix(eb, "%s", in->tee);
	json_decref(tok);
	free(rt);
	return rc;
}

static void
ita_free(kbs_verifier *v)
{
	struct ita *t = (struct ita *)v;

	kbs_relay_free(t->relay);
	kbs_strfreezero(t->key_header);
	json_decref(t->policy_ids);
	free(t->attest_url);
	free(t);
}

static const struct kbs_verifier_ops ita_ops = {
	.name = "ita",
	.verify = ita_verify,
	.free = ita_free,
};

/* Settings that need no allocation to check. */
static kbs_err
ita_check_cfg(const char *tee, const kbs_ita_cfg *cfg, kbs_errbuf *eb)
{
	size_t i;

	if (strcmp(tee, "tdx") != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "ita: tee %s is not "
				"supported (only tdx)", tee);
	if (cfg->url == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "ita: url is required");
	if (cfg->api_key == NULL || cfg->api_key[0] == '\0' ||
	    strlen(cfg->api_key) > ITA_KEY_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "ita: api_key is required "
				"(at most %d characters)", ITA_KEY_MAX);
	for (i = 0; cfg->api_key[i] != '\0'; i++)
		if (!isgraph((unsigned char)cfg->api_key[i]))
			return kbs_errf(eb, KBS_ERR_CONFIG, "ita: api_key holds a "
					"space or control character");
	if (cfg->api_version != 0 && cfg->api_version != 1 && cfg->api_version != 2)
		return kbs_errf(eb, KBS_ERR_CONFIG, "ita: api_version must be 1 or 2");
	if (cfg->n_policy_ids > KBS_RELAY_MAX_POLICY_IDS)
		return kbs_errf(eb, KBS_ERR_CONFIG, "ita: too many policy_ids");
	for (i = 0; i < cfg->n_policy_ids; i++)
		if (cfg->policy_ids == NULL || cfg->policy_ids[i] == NULL)
			return kbs_errf(eb, KBS_ERR_CONFIG, "ita: bad policy_ids");
	return KBS_OK;
}

static kbs_err
ita_strings(struct ita *t, const kbs_ita_cfg *cfg, kbs_errbuf *eb)
{
	size_t klen = strlen(cfg->api_key) + sizeof("x-api-key: ");
	const char *base = cfg->url;
	size_t n = strlen(base), i;

	while (n > 0 && base[n - 1] == '/')
		n--;
	t->attest_url = malloc(n + sizeof("/appraisal/v1/attest"));
	t->key_header = malloc(klen);
	t->policy_ids = json_array();
	if (t->attest_url == NULL || t->key_header == NULL || t->policy_ids == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	snprintf(t->attest_url, n + sizeof("/appraisal/v1/attest"), "%.*s/appraisal/v%d/attest",
		 (int)n, base, t->version);
	snprintf(t->key_header, klen, "x-api-key: %s", cfg->api_key);
	for (i = 0; i < cfg->n_policy_ids; i++)
		if (json_array_append_new(t->policy_ids, json_string(cfg->policy_ids[i])) != 0)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

kbs_err
kbs_verifier_ita_new(const char *tee, const kbs_ita_cfg *cfg, kbs_verifier **out,
		     kbs_errbuf *eb)
{
	struct ita *t;
	kbs_err rc;

	if ((rc = ita_check_cfg(tee, cfg, eb)) != KBS_OK)
		return rc;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	t->base.ops = &ita_ops;
	t->version = cfg->api_version ? cfg->api_version : 2;
	t->must_match = cfg->policy_must_match;
	if ((rc = ita_strings(t, cfg, eb)) != KBS_OK ||
	    (rc = kbs_relay_new("ita", &cfg->relay,
				cfg->jwks_url ? cfg->jwks_url : KBS_ITA_DEFAULT_JWKS, NULL,
				cfg->iss ? cfg->iss : KBS_ITA_ISS, &t->relay, eb)) != KBS_OK ||
	    (rc = kbs_relay_check_url(t->relay, "url", t->attest_url, eb)) != KBS_OK) {
		ita_free(&t->base);
		return rc;
	}
	*out = &t->base;
	return KBS_OK;
}
