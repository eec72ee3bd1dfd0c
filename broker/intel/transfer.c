/*
 * transfer.c - POST /kbs/v1/keys/{id}/transfer (spec/intel-kbs.md 2.1)
 * in its three modes and the ITA calls it makes.
 *
 *  - nonce step: no Attestation-Type header and an empty body: the broker
 *    fetches a nonce from ITA (GET /appraisal/v1/nonce) and returns it
 *    verbatim with "Attestation-Type: <policy's type>";
 *  - passport: no header, {"attestation_token": T}: T is verified with the
 *    broker's trusted issuers (an ITA token, or one of ours);
 *  - background check: header SGX|TDX and {quote, nonce, user_data,
 *    event_log}: relayed to ITA (POST /appraisal/v1/attest), whose token is
 *    then verified as in passport mode.
 * Then: attester_type must equal the policy's attestation_type, the key's
 * Intel policy must allow the claims (policy engine), and the key is
 * released as wrapped_key + wrapped_swk (intel_wrap.c) to the workload key
 * in attester_held_data.  Statuses are Intel's (401 for every attestation
 * or policy failure, 502 when ITA fails); see docs/intel-kbs.md for the
 * few places we differ.  Each decision goes to the audit log; a release
 * that cannot be recorded does not happen.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "clock.h"
#include "httpc.h"
#include "intel_int.h"
#include "json.h"
#include "jwk.h"
#include "log.h"
#include "mem.h"

#define BODY_DEPTH 4

struct xfer {
	kbs_intel *in;
	const char *id;
	const char *mode;           /* "nonce", "passport", "background" */
	char path[64];              /* store path of the material */
	json_t *meta;
	json_t *poldoc;
	kbs_policy *pol;
	kbs_intel_tee ptype;
	json_t *body;
	char *token;
	json_t *claims;
	const char *issuer;
	const char *attester;
	kbs_policy_decision *d;
	EVP_PKEY *wk;
	uint8_t *secret;
	size_t slen;
	char *wkey, *wswk;
	kbs_errbuf eb;
};

/* ---- ITA ---- */

/* An ITA call: url path after intel.ita_url, optional JSON body.
 * *out is the parsed 200 answer; anything else is KBS_ERR_NETWORK. */
static kbs_err
ita_call(struct xfer *x, const char *method, const char *path,
	 const json_t *body, json_t **out)
{
	const kbs_broker_cfg *cfg = x->in->cfg;
	kbs_httpc *hc = x->in->httpc;
	char url[KBS_HTTPC_URL_MAX + 1], rid[64], *key = NULL, *text = NULL;
	const char *hdr[6];
	kbs_httpc_req rq;
	kbs_httpc_resp rs = {0};
	size_t klen;
	kbs_err rc = KBS_ERR_NETWORK;

	if (hc == NULL)
		return kbs_errf(&x->eb, rc, "intel.ita_url is not configured");
	snprintf(url, sizeof(url), "%s%s", cfg->intel_ita_url, path);
	snprintf(rid, sizeof(rid), "request-id: %s", x->id);
	klen = strlen(cfg->intel_ita_api_key ? cfg->intel_ita_api_key : "") + 12;
	if ((key = malloc(klen)) == NULL ||
	    (body != NULL && (text = kbs_json_dumps(body)) == NULL)) {
		rc = kbs_errf(&x->eb, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(key, klen, "x-api-key: %s",
		 cfg->intel_ita_api_key ? cfg->intel_ita_api_key : "");
	hdr[0] = key;
	hdr[1] = "Accept: application/json";
	hdr[2] = rid;
	hdr[3] = body ? "Content-Type: application/json" : NULL;
	hdr[4] = NULL;
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.headers = hdr;
	rq.body = text;
	rq.body_len = text ? strlen(text) : 0;
	rq.idempotent = 1; /* a nonce or an appraisal may safely repeat */
	if ((rc = kbs_httpc_request(hc, &rq, &rs, &x->eb)) != KBS_OK)
		goto out;
	rc = KBS_ERR_NETWORK;
	if (rs.status != 200)
		kbs_errf(&x->eb, rc, "ITA %s answered %ld", path, rs.status);
	else if ((*out = kbs_json_parse_object(rs.body, rs.len, BODY_DEPTH,
					       NULL)) == NULL)
		kbs_errf(&x->eb, rc, "ITA %s answered no JSON object", path);
	else
		rc = KBS_OK;
out:
	kbs_httpc_resp_free(&rs);
	kbs_strfreezero(key);
	free(text);
	return rc;
}

static void
nonce_step(struct xfer *x, kbs_http_resp *resp)
{
	json_t *n = NULL;

	x->mode = "nonce";
	if (ita_call(x, "GET", "/appraisal/v1/nonce", NULL, &n) != KBS_OK ||
	    !kbs_intel_nonce_ok(n)) {
		kbs_log_warn("intel transfer %s: ITA nonce: %s", x->id,
			     x->eb.msg[0] ? x->eb.msg : "malformed nonce");
		kbs_intel_reply_error(resp, 502, "Failed to get nonce from "
				      "Intel Trust Authority");
		json_decref(n);
		return;
	}
	kbs_http_reply_json(resp, 200, json_pack("{s:O, s:O, s:O}",
		"val", json_object_get(n, "val"), "iat", json_object_get(n, "iat"),
		"signature", json_object_get(n, "signature")));
	kbs_http_resp_header(resp, "Attestation-Type", kbs_intel_tee_name(x->ptype));
	json_decref(n);
}

/* The appraisal request of Intel's v1.1.0 connector. */
static json_t *
attest_body(const struct xfer *x)
{
	static const char *const copy[][2] = {{"quote", "quote"},
		{"nonce", "verifier_nonce"}, {"user_data", "runtime_data"},
		{"event_log", "event_log"}, {NULL, NULL}};
	const json_t *ids = kbs_json_pointer(x->poldoc, x->ptype == KBS_INTEL_SGX
					     ? "/sgx/policy_ids" : "/tdx/policy_ids");
	json_t *o = json_object(), *v;
	size_t i;

	for (i = 0; o != NULL && copy[i][0] != NULL; i++)
		if ((v = json_object_get(x->body, copy[i][0])) != NULL)
			json_object_set(o, copy[i][1], v);
	if (o != NULL && json_is_array(ids))
		json_object_set(o, "policy_ids", (json_t *)ids);
	return o;
}

/* Background check: ITA's token for the evidence; 0 or replied. */
static int
background(struct xfer *x, kbs_http_resp *resp)
{
	json_t *req = attest_body(x), *ans = NULL;
	const char *tok;

	x->mode = "background";
	if (req == NULL ||
	    ita_call(x, "POST", "/appraisal/v1/attest", req, &ans) != KBS_OK ||
	    (tok = kbs_json_str(ans, "token")) == NULL ||
	    (x->token = strdup(tok)) == NULL) {
		kbs_log_warn("intel transfer %s: ITA attest: %s", x->id,
			     x->eb.msg[0] ? x->eb.msg : "no token in the answer");
		kbs_intel_reply_error(resp, 502, "Failed to get an attestation "
				      "token from Intel Trust Authority");
		json_decref(req);
		json_decref(ans);
		return -1;
	}
	json_decref(req);
	json_decref(ans);
	return 0;
}

/* ---- request ---- */

/* Key, its policy, parsed; 0 or replied. */
static int
load_key(struct xfer *x, kbs_http_resp *resp)
{
	kbs_intel *in = x->in;
	const char *pid;
	kbs_err rc = kbs_intel_key_load(in, x->id, &x->meta, &x->eb);

	if (rc == KBS_ERR_NOT_FOUND) {
		kbs_intel_reply_error(resp, 404, "Key with specified id does not "
				      "exist");
		return -1;
	}
	pid = kbs_json_str(x->meta, "transfer_policy_id");
	if (rc == KBS_OK && pid != NULL)
		rc = kbs_intel_policy_load(in, pid, &x->poldoc, &x->eb);
	if (rc != KBS_OK || pid == NULL) {
		kbs_log_error("intel transfer %s: %s", x->id, rc != KBS_OK ?
			      x->eb.msg : "no usable key transfer policy");
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to retrieve key transfer policy");
		return -1;
	}
	x->ptype = kbs_intel_tee_parse(kbs_json_str(x->poldoc, "attestation_type"));
	if ((rc = kbs_intel_policy_parse(x->poldoc, &x->pol, &x->eb)) != KBS_OK ||
	    x->ptype == 0) {
		kbs_log_error("intel transfer %s: stored policy: %s", x->id,
			      x->eb.msg);
		kbs_intel_reply_error(resp, 500, "Failed to retrieve key "
				      "transfer policy");
		return -1;
	}
	return 0;
}

/* Token, attester type and policy; 0 to release, or replied (401). */
static int
judge(struct xfer *x, kbs_http_resp *resp)
{
	const char *want = x->in->cfg->intel_ita_issuer;
	kbs_policy_ctx pc;
	const char *why;

	if (kbs_trust_verify(kbs_broker_trust(x->in->b), x->token, strlen(x->token),
			     kbs_clock_now(), &x->claims, &x->issuer,
			     &x->eb) != KBS_OK) {
		kbs_intel_reply_error(resp, 401, "Token verification failed: %s",
				      x->eb.msg);
		return -1;
	}
	if (strcmp(x->mode, "background") == 0 && want != NULL &&
	    strcmp(x->issuer, want) != 0) {
		kbs_intel_reply_error(resp, 401, "ITA's token was vouched for by "
				      "issuer %s, not %s", x->issuer, want);
		return -1;
	}
	x->attester = json_string_value(kbs_intel_ita_claim(x->claims,
							    x->ptype,
							    "attester_type"));
	if (x->attester == NULL || strcmp(x->attester, kbs_intel_tee_name(x->ptype)) != 0) {
		kbs_intel_reply_error(resp, 401, "attester_type %.8s does not "
				      "match the policy's attestation_type %s",
				      x->attester ? x->attester : "(none)",
				      kbs_intel_tee_name(x->ptype));
		return -1;
	}
	memset(&pc, 0, sizeof(pc));
	pc.resource_path = x->path;
	pc.issuer = x->issuer;
	pc.now = kbs_clock_now();
	if (kbs_policy_eval(x->pol, x->claims, &pc, &x->d, &x->eb) != KBS_OK ||
	    !kbs_policy_decision_allowed(x->d)) {
		why = x->d ? kbs_policy_decision_reason(x->d) : x->eb.msg;
		kbs_intel_reply_error(resp, 401, "Key transfer policy denies: %s",
				      x->in->cfg->policy_explain && why ? why
				      : "claims do not match");
		return -1;
	}
	return 0;
}

/* An RSA tee-pubkey JWK of a kbs-issuer token, when there is no held data. */
static kbs_err
teekey_rsa(struct xfer *x)
{
	const json_t *j = json_object_get(x->claims, "tee-pubkey");
	json_t *norm = NULL;
	kbs_jwk *k = NULL;
	kbs_err rc;

	if (j == NULL)
		return kbs_errf(&x->eb, KBS_ERR_INVALID, "the token carries "
				"neither attester_held_data nor a tee-pubkey");
	if ((rc = kbs_jwk_teekey_parse(j, &norm, &k, &x->eb)) != KBS_OK)
		return rc;
	json_decref(norm);
	rc = kbs_errf(&x->eb, KBS_ERR_INVALID, "tee-pubkey is not an RSA key");
	if (strcmp(kbs_jwk_kty(k), "RSA") == 0 && EVP_PKEY_up_ref(kbs_jwk_pkey(k))) {
		x->wk = kbs_jwk_pkey(k);
		rc = KBS_OK;
	}
	kbs_jwk_free(k);
	return rc;
}

static kbs_err
workload_key(struct xfer *x)
{
	const char *held = json_string_value(
		kbs_intel_ita_claim(x->claims, x->ptype, "attester_held_data"));
	uint8_t *raw = NULL;
	size_t len = 0;
	kbs_err rc;

	if (held == NULL)
		return teekey_rsa(x);
	if (strlen(held) > 2 * KBS_INTEL_MAX_HELD ||
	    kbs_b64_decode(held, strlen(held), KBS_B64_STD, &raw, &len) != KBS_OK)
		return kbs_errf(&x->eb, KBS_ERR_INVALID, "attester_held_data is "
				"not standard base64 of a workload key");
	rc = kbs_intel_held_pubkey(raw, len, x->ptype, &x->wk, &x->eb);
	free(raw);
	return rc;
}

static void
release(struct xfer *x, kbs_http_resp *resp)
{
	kbs_err rc;

	if ((rc = workload_key(x)) != KBS_OK) {
		kbs_intel_reply_error(resp, 400, "Invalid workload key: %s",
				      x->eb.msg);
		return;
	}
	rc = kbs_store_get(x->in->store, x->path, &x->secret, &x->slen, &x->eb);
	if (rc != KBS_OK) {
		kbs_log_error("intel transfer %s: %s", x->id, x->eb.msg);
		kbs_intel_reply_error(resp, rc == KBS_ERR_NOT_FOUND ? 404 : 500,
				      "Failed to retrieve key");
		return;
	}
	if (kbs_intel_wrap(x->wk, x->secret, x->slen, &x->wkey, &x->wswk,
			   &x->eb) != KBS_OK) {
		kbs_log_error("intel transfer %s: %s", x->id, x->eb.msg);
		kbs_intel_reply_error(resp, 500, "Failed to wrap key");
		return;
	}
	kbs_http_reply_json(resp, 200, json_pack("{s:s, s:s}", "wrapped_key",
						 x->wkey, "wrapped_swk", x->wswk));
	kbs_http_resp_header(resp, "Attestation-Type", x->attester);
	snprintf(resp->note, sizeof(resp->note), "intel key %s released (%s) "
		 "issuer=%s", x->id, x->mode, x->issuer);
}

/* Headers, body and mode; 0 to judge, 1 when answered. */
static int
dispatch(struct xfer *x, const kbs_http_req *req, kbs_http_resp *resp)
{
	const char *at = kbs_http_header(req, "Attestation-Type"), *tok;

	if (!kbs_intel_media_ok(req, resp))
		return 1;
	if (at != NULL && kbs_intel_tee_parse(at) == 0) {
		kbs_intel_reply_error(resp, 400, "Attestation-Type must be SGX "
				      "or TDX");
		return 1;
	}
	if (load_key(x, resp) != 0)
		return 1;
	if (at == NULL && req->body_len == 0) {
		nonce_step(x, resp);
		return 1;
	}
	x->body = kbs_json_parse_object((const char *)req->body, req->body_len,
					BODY_DEPTH, NULL);
	if (x->body == NULL || !kbs_intel_transfer_body_ok(x->body)) {
		kbs_intel_reply_error(resp, 400, "Invalid request body");
		return 1;
	}
	if (at == NULL) {
		x->mode = "passport";
		if ((tok = kbs_json_str(x->body, "attestation_token")) == NULL) {
			kbs_intel_reply_error(resp, 400, "attestation_token or "
					      "the Attestation-Type header is "
					      "required");
			return 1;
		}
		return (x->token = strdup(tok)) == NULL ? 1 : 0;
	}
	x->mode = "background";
	if (kbs_intel_tee_parse(at) != x->ptype) {
		kbs_intel_reply_error(resp, 401, "Attestation-Type %s does not "
				      "match the policy's %s", at,
				      kbs_intel_tee_name(x->ptype));
		return 1;
	}
	return background(x, resp) == 0 ? 0 : 1;
}

/* ---- audit ---- */

static json_t *
audit_fields(const struct xfer *x, const kbs_http_req *req,
	     const kbs_http_resp *resp)
{
	const char *rule = x->d ? kbs_policy_decision_rule(x->d) : NULL;
	const char *jti = kbs_json_str(x->claims, "jti");
	json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}",
			      "event", "intel-transfer", "request_id",
			      req->request_id ? req->request_id : "",
			      "client", req->remote_addr ? req->remote_addr : "",
			      "resource", x->path, "key_id", x->id,
			      "mode", x->mode ? x->mode : "",
			      "decision", resp->status == 200 ? "allow" : "deny",
			      "issuer", x->issuer ? x->issuer : "",
			      "tee", x->attester ? x->attester : "",
			      "status", resp->status);
	const char *pid = kbs_json_str(x->meta, "transfer_policy_id");

	if (f == NULL)
		return NULL;
	if ((jti && json_object_set_new(f, "jti", json_string(jti)) != 0) ||
	    (pid && json_object_set_new(f, "policy_id", json_string(pid)) != 0) ||
	    (rule && json_object_set_new(f, "rule", json_string(rule)) != 0) ||
	    (resp->status != 200 &&
	     json_object_set_new(f, "reason", json_string(resp->note)) != 0)) {
		json_decref(f);
		return NULL;
	}
	return f;
}

static void
withhold(kbs_http_resp *resp, kbs_err rc)
{
	kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
			      "The audit log is unavailable");
}

/* The nonce step decides nothing and is not recorded. */
static void
audit(const struct xfer *x, const kbs_http_req *req, kbs_http_resp *resp)
{
	if (x->in->audit == NULL || (x->mode && strcmp(x->mode, "nonce") == 0 &&
				    resp->status == 200))
		return;
	kbs_broker_audit_release(x->in->audit, audit_fields(x, req, resp),
				 "intel transfer", x->id, resp, withhold);
}

void
kbs_intel_transfer(kbs_intel *in, const char *id, const kbs_http_req *req,
		   kbs_http_resp *resp)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		kbs_intel_reply_error(resp, 500, "out of memory");
		return;
	}
	x->in = in;
	x->id = id;
	kbs_intel_key_path(id, x->path);
	if (dispatch(x, req, resp) == 0 && judge(x, resp) == 0)
		release(x, resp);
	if (resp->status == 0)
		kbs_intel_reply_error(resp, 500, "out of memory");
	audit(x, req, resp);
	json_decref(x->meta);
	json_decref(x->poldoc);
	kbs_policy_free(x->pol);
	json_decref(x->body);
	kbs_strfreezero(x->token);
	json_decref(x->claims);
	kbs_policy_decision_free(x->d);
	EVP_PKEY_free(x->wk);
	kbs_freezero(x->secret, x->slen);
	free(x->wkey);
	free(x->wswk);
	free(x);
}
