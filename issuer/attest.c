/*
 * attest.c - POST /kbs/v0/attest: evidence in, attestation token out
 * (spec sections 1.3-1.4 and 2).  Order as trustee's: cookie, body,
 * session, nonce, binding, verifier, appraisal, token.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "b64.h"
#include "issuer_int.h"
#include "log.h"
#include "mem.h"

#define ATTEST_FAIL "Attestation error: RCAR handshake Attest failed: "

struct attest_ctx {
	kbs_issuer *is;
	kbs_session s;
	kbs_proto_attest *req;
	uint8_t digest[48];
	uint8_t init_digest[KBS_PROTO_DIGEST_MAX];
	size_t init_digest_len;
	json_t *rt;        /* the spec 2.1 object the digest is made of */
	json_t *claims;
	json_t *appraisal;
	char jti[37];
	char *token;
	kbs_errbuf eb;
};

static kbs_verifier *
pick_verifier(const kbs_issuer *is, const char *tee)
{
	size_t i;

	/* Sample evidence proves nothing, whoever looks at it. */
	if (strcmp(tee, "sample") == 0 && !is->cfg->verifier_allow_sample)
		return NULL;
	for (i = 0; i < is->nrelays; i++)
		if (strcmp(is->relays[i].tee, tee) == 0)
			return is->relays[i].v;
	if (strcmp(tee, "sample") == 0)
		return is->sample;
	if (strcmp(tee, "snp") == 0)
		return is->tee[0];
	if (strcmp(tee, "tdx") == 0)
		return is->tee[1];
	if (strcmp(tee, "sgx") == 0)
		return is->tee[2];
	return NULL;
}

/* Nonce equality without leaking where the strings differ. */
static int
nonce_matches(const char *got, const char *want)
{
	size_t n = strlen(want);

	return strlen(got) == n && CRYPTO_memcmp(got, want, n) == 0;
}

static kbs_err
bind_and_verify(struct attest_ctx *c)
{
	const char *initdata = kbs_proto_attest_initdata(c->req);
	kbs_verifier_input in;
	kbs_verifier *v;
	kbs_err rc;

	rc = kbs_proto_binding_digest(kbs_proto_attest_teekey_json(c->req),
				      c->s.nonce,
				      kbs_proto_attest_additional(c->req),
				      c->digest, &c->eb);
	if (rc != KBS_OK)
		return rc;
	if (initdata != NULL &&
	    (rc = kbs_proto_initdata_digest(initdata, strlen(initdata),
					    c->init_digest, &c->init_digest_len,
					    &c->eb)) != KBS_OK)
		return rc;
	if ((v = pick_verifier(c->is, c->s.tee)) == NULL)
		return kbs_errf(&c->eb, KBS_ERR_UNSUPPORTED,
				"no verifier is enabled for tee %s", c->s.tee);
	c->rt = json_pack("{s:O, s:s, s:s}", "tee-pubkey",
			  kbs_proto_attest_teekey_json(c->req), "nonce", c->s.nonce,
			  "additional-evidence", kbs_proto_attest_additional(c->req));
	if (c->rt == NULL)
		return kbs_errf(&c->eb, KBS_ERR_NOMEM, "out of memory");
	memset(&in, 0, sizeof(in));
	in.tee = c->s.tee;
	in.evidence = kbs_proto_attest_evidence(c->req);
	in.additional = kbs_proto_attest_additional(c->req);
	in.runtime_data = c->rt;
	in.report_data = c->digest;
	in.report_data_len = sizeof(c->digest);
	in.init_data_digest = initdata ? c->init_digest : NULL;
	in.init_data_digest_len = c->init_digest_len;
	in.now = kbs_clock_now();
	return kbs_verifier_verify(v, &in, &c->claims, &c->eb);
}

static kbs_err
appraise_and_mint(struct attest_ctx *c)
{
	char *init_b64 = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	rc = kbs_issuer_appraise(c->is, c->s.tee, c->claims, &c->appraisal, &c->eb);
	if (rc != KBS_OK)
		return rc;
	rc = KBS_ERR_NOMEM;
	if (kbs_proto_attest_initdata(c->req) != NULL &&
	    (init_b64 = kbs_b64_encode(c->init_digest, c->init_digest_len,
				       KBS_B64_STD)) == NULL)
		goto out;
	rc = kbs_issuer_mint(c->is, c->s.tee, c->claims, c->appraisal, c->rt,
			     init_b64, c->jti, &c->token, &c->eb);
out:
	free(init_b64);
	return rc;
}

static void
reply_token(struct attest_ctx *c, kbs_http_resp *resp)
{
	char *cookie = NULL;

	if (c->s.token == NULL)
		c->s.token = strdup(c->token);
	if (c->s.token == NULL ||
	    kbs_session_seal(c->is->sealer, &c->s, &cookie, &c->eb) != KBS_OK ||
	    kbs_session_set_cookie(resp, cookie, c->s.exp) != KBS_OK) {
		kbs_log_error("attest: cannot seal the session: %s", c->eb.msg);
		kbs_http_reply_error(resp, 500, "AttestationError", ATTEST_FAIL
				     "internal error");
		goto out;
	}
	kbs_http_reply_json(resp, 200, json_pack("{s:s}", "token", c->token));
out:
	free(cookie);
}

/*
 * 401 for anything the guest can fix by attesting again; 502 when the
 * external verifier is down, slow past its budget, busy, or answered
 * garbage (the guest did nothing wrong; retry later); 500 for our faults.
 */
static int
fail_status(kbs_err rc)
{
	if (rc == KBS_ERR_NETWORK)
		return 502;
	if (rc == KBS_ERR_NOMEM || rc == KBS_ERR_CRYPTO || rc == KBS_ERR_INTERNAL)
		return 500;
	return 401;
}

static void
attest(struct attest_ctx *c, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_err rc;

	rc = kbs_session_open(c->is->sealer, req, kbs_clock_now(), &c->s, &c->eb);
	if (rc != KBS_OK) {
		kbs_http_reply_error(resp, 401, "AttestationError",
				     ATTEST_FAIL "%s", c->eb.msg);
		return;
	}
	if (c->s.token != NULL) {
		/* Already attested: the same token again (spec 1.3). */
		c->token = strdup(c->s.token);
		if (c->token != NULL)
			reply_token(c, resp);
		return;
	}
	rc = kbs_proto_parse_attest((const char *)req->body, req->body_len,
				    &c->req, &c->eb);
	if (rc == KBS_OK && !nonce_matches(kbs_proto_attest_nonce(c->req), c->s.nonce))
		rc = kbs_errf(&c->eb, KBS_ERR_VERIFY, "runtime-data.nonce does not "
			      "match the session challenge");
	if (rc == KBS_OK)
		rc = bind_and_verify(c);
	if (rc == KBS_OK)
		rc = appraise_and_mint(c);
	if (rc != KBS_OK) {
		kbs_http_reply_error(resp, fail_status(rc), "AttestationError",
				     ATTEST_FAIL "%s", c->eb.msg);
		if (rc == KBS_ERR_NETWORK)
			kbs_log_warn("attest: tee=%s: %s", c->s.tee, c->eb.msg);
		return;
	}
	reply_token(c, resp);
	snprintf(resp->note, sizeof(resp->note), "tee=%s status=%s", c->s.tee,
		 json_string_value(json_object_get(c->appraisal, "ear.status")));
}

/*
 * Append the outcome to the audit log.  A token whose issuance cannot be
 * recorded is not handed out: the response becomes a 500.
 */
static void
audit_outcome(struct attest_ctx *c, const kbs_http_req *req, kbs_http_resp *resp)
{
	int allowed = resp->status == 200;
	json_t *f;
	kbs_errbuf eb = {""};
	kbs_err rc = KBS_ERR_NOMEM;

	if (c->is->audit == NULL)
		return;
	f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event", "attest",
		      "request_id", req->request_id, "client", req->remote_addr,
		      "tee", c->s.tee, "decision", allowed ? "allow" : "deny",
		      "policy_id", kbs_policy_id(c->is->appraisal),
		      "policy_sha256", c->is->appraisal_sha256);
	if (f != NULL && allowed)
		rc = json_object_set_new(f, "jti", json_string(c->jti)) == 0 &&
		     json_object_set_new(f, "status", json_deep_copy(json_object_get(
				c->appraisal, "ear.status"))) == 0 ? KBS_OK : rc;
	else if (f != NULL)
		rc = json_object_set_new(f, "reason", json_string(c->eb.msg)) == 0
			 ? KBS_OK : rc;
	if (rc == KBS_OK)
		rc = kbs_audit_append(c->is->audit, f, &eb);
	json_decref(f);
	if (rc != KBS_OK && allowed) {
		kbs_log_error("attest: audit log append failed, token withheld: %s",
			      eb.msg);
		kbs_http_resp_clear(resp);
		kbs_http_reply_error(resp, 500, "AttestationError", ATTEST_FAIL
				     "the audit log is unavailable");
	} else if (rc != KBS_OK)
		kbs_log_error("attest: audit log append failed: %s", eb.msg);
}

void
kbs_issuer_handle_attest(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	struct attest_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		kbs_http_reply_error(resp, 500, "AttestationError", "out of memory");
		return;
	}
	c->is = arg;
	attest(c, req, resp);
	audit_outcome(c, req, resp);
	kbs_session_clear(&c->s);
	kbs_proto_attest_free(c->req);
	json_decref(c->rt);
	json_decref(c->claims);
	json_decref(c->appraisal);
	free(c->token);
	OPENSSL_cleanse(c->digest, sizeof(c->digest));
	free(c);
}
