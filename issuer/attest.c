/*
 * attest.c - POST /kbs/v0/attest: evidence in, attestation token out
 * (spec sections 1.3-1.4 and 2).  Order as trustee's: cookie, body,
 * session, nonce, binding, verifier, appraisal, token.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "metrics.h"
#include "b64.h"
#include "issuer_int.h"
#include "json.h"
#include "log.h"
#include "mem.h"

#define ATTEST_FAIL "Attestation error: RCAR handshake Attest failed: "

/* One evidence item: the primary evidence or one device. */
struct item {
	const char *tee;
	const json_t *evidence;
	kbs_verifier *v;
	json_t *rt;           /* the spec 2.1 object its digest is made of */
	uint8_t digest[48];
	int done;
};

#define ATTEST_MAX_ITEMS (1 + KBS_PROTO_MAX_DEVICES)

struct attest_ctx {
	kbs_issuer *is;
	kbs_session s;
	kbs_proto_attest *req;
	uint8_t init_digest[KBS_PROTO_DIGEST_MAX];
	size_t init_digest_len;
	struct item items[ATTEST_MAX_ITEMS];
	size_t nitems;
	/* [{"item", "class", "claims", "tee", "ear"}], in submodule order */
	json_t *attesters;
	const json_t *appraisal;  /* the primary's ear (borrowed) */
	json_t *init_claims;      /* the init-data's [data] table, or NULL */
	char jti[37];
	char *token;
	kbs_errbuf eb;
};

/* The relay verifier.backends names for tee, or NULL. */
static kbs_verifier *
relay_for(const kbs_issuer *is, const char *tee)
{
	size_t i;

	for (i = 0; i < is->nrelays; i++)
		if (strcmp(is->relays[i].tee, tee) == 0)
			return is->relays[i].v;
	return NULL;
}

static kbs_verifier *
pick_verifier(const kbs_issuer *is, const char *tee)
{
	kbs_verifier *v;

	/* Sample evidence proves nothing, whoever looks at it. */
	if (strcmp(tee, "sample") == 0 && !is->cfg->verifier_allow_sample)
		return NULL;
	if ((v = relay_for(is, tee)) != NULL)
		return v;
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

/* Devices: a relay named for the device's TEE, or the sample device. */
static kbs_verifier *
pick_device_verifier(const kbs_issuer *is, const char *tee)
{
	kbs_verifier *v = relay_for(is, tee);

	if (v != NULL || strcmp(tee, "sampledevice") != 0)
		return v;
	return is->cfg->verifier_allow_sample ? is->sample_device : NULL;
}

/* Nonce equality without leaking where the strings differ. */
static int
nonce_matches(const char *got, const char *want)
{
	size_t n = strlen(want);

	return strlen(got) == n && CRYPTO_memcmp(got, want, n) == 0;
}

/* Item 0: the primary evidence, bound to {tee-pubkey, nonce, additional}. */
static kbs_err
primary_item(struct attest_ctx *c)
{
	struct item *it = &c->items[0];
	kbs_err rc;

	rc = kbs_proto_binding_digest(kbs_proto_attest_teekey_json(c->req),
				      c->s.nonce,
				      kbs_proto_attest_additional(c->req),
				      it->digest, &c->eb);
	if (rc != KBS_OK)
		return rc;
	it->tee = c->s.tee;
	it->evidence = kbs_proto_attest_evidence(c->req);
	if ((it->v = pick_verifier(c->is, c->s.tee)) == NULL)
		return kbs_errf(&c->eb, KBS_ERR_UNSUPPORTED,
				"no verifier is enabled for tee %s", c->s.tee);
	it->rt = json_pack("{s:O, s:s, s:s}", "tee-pubkey",
			   kbs_proto_attest_teekey_json(c->req), "nonce", c->s.nonce,
			   "additional-evidence", kbs_proto_attest_additional(c->req));
	if (it->rt == NULL)
		return kbs_errf(&c->eb, KBS_ERR_NOMEM, "out of memory");
	c->nitems = 1;
	return KBS_OK;
}

/*
 * One item per device of additional_evidence, each bound to {tee-pubkey,
 * nonce} (spec 2.1).  A device nothing here verifies is refused by name:
 * dropping it silently would let a token vouch for less than the guest
 * presented.
 */
static kbs_err
device_items(struct attest_ctx *c)
{
	const json_t *devs = kbs_proto_attest_devices(c->req), *ev;
	const char *tee;
	struct item *it;
	kbs_err rc;

	json_object_foreach((json_t *)devs, tee, ev) {
		it = &c->items[c->nitems];
		if (strcmp(tee, c->s.tee) == 0)
			return kbs_errf(&c->eb, KBS_ERR_INVALID, "device %.32s "
					"has the TEE of the primary evidence", tee);
		if ((it->v = pick_device_verifier(c->is, tee)) == NULL)
			return kbs_errf(&c->eb, KBS_ERR_UNSUPPORTED, "no verifier "
					"is enabled for device %.32s", tee);
		if ((rc = kbs_proto_device_digest(kbs_proto_attest_teekey_json(c->req),
						  c->s.nonce, it->digest,
						  &c->eb)) != KBS_OK)
			return rc;
		it->tee = tee;
		it->evidence = ev;
		it->rt = json_pack("{s:O, s:s}", "tee-pubkey",
				   kbs_proto_attest_teekey_json(c->req), "nonce",
				   c->s.nonce);
		if (it->rt == NULL)
			return kbs_errf(&c->eb, KBS_ERR_NOMEM, "out of memory");
		c->nitems++;
	}
	return KBS_OK;
}

static void
item_input(const struct attest_ctx *c, size_t i, kbs_verifier_input *in)
{
	const struct item *it = &c->items[i];

	memset(in, 0, sizeof(*in));
	in->tee = it->tee;
	in->evidence = it->evidence;
	in->additional = i == 0 ? kbs_proto_attest_additional(c->req) : "";
	in->runtime_data = it->rt;
	in->report_data = it->digest;
	in->report_data_len = sizeof(it->digest);
	/* init-data belongs to the primary TEE (trustee sends it only there). */
	if (i == 0 && kbs_proto_attest_initdata(c->req) != NULL) {
		in->init_data_digest = c->init_digest;
		in->init_data_digest_len = c->init_digest_len;
		in->init_data_toml = kbs_proto_attest_initdata(c->req);
	}
	in->now = kbs_clock_now();
}

/* Append {"item", "class", "tee", "claims"} (takes claims). */
static kbs_err
add_attester(struct attest_ctx *c, size_t i, const char *klass, json_t *claims)
{
	json_t *a = claims ? json_pack("{s:I, s:s, s:s, s:o}", "item", (json_int_t)i,
				       "class", klass, "tee", c->items[i].tee,
				       "claims", claims) : NULL;

	if (a == NULL || json_array_append_new(c->attesters, a) != 0)
		return kbs_errf(&c->eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

/*
 * Verify the items from i on that share item i's composite verifier in
 * one call (as trustee sends one AS request for the whole guest).
 */
static kbs_err
verify_composite(struct attest_ctx *c, size_t first)
{
	kbs_verifier_input in[ATTEST_MAX_ITEMS];
	size_t map[ATTEST_MAX_ITEMS], n = 0, i, k;
	kbs_verifier *v = c->items[first].v;
	json_t *got = NULL, *a;
	kbs_err rc;

	for (i = first; i < c->nitems; i++)
		if (!c->items[i].done && c->items[i].v == v) {
			item_input(c, i, &in[n]);
			map[n++] = i;
			c->items[i].done = 1;
		}
	if ((rc = kbs_verifier_verify_composite(v, in, n, &got, &c->eb)) != KBS_OK)
		return rc;
	json_array_foreach(got, k, a) {
		json_int_t idx = json_integer_value(json_object_get(a, "item"));
		const char *klass = kbs_json_str(a, "class");
		if (idx < 0 || (size_t)idx >= n || klass == NULL)
			continue;
		rc = add_attester(c, map[idx], klass,
				  json_incref(json_object_get(a, "claims")));
		if (rc != KBS_OK)
			break;
	}
	json_decref(got);
	return rc;
}

static kbs_err
verify_items(struct attest_ctx *c)
{
	kbs_verifier_input in;
	json_t *claims = NULL;
	kbs_err rc;
	size_t i;

	if ((c->attesters = json_array()) == NULL)
		return kbs_errf(&c->eb, KBS_ERR_NOMEM, "out of memory");
	for (i = 0; i < c->nitems; i++) {
		if (c->items[i].done)
			continue;
		if (kbs_verifier_is_composite(c->items[i].v)) {
			if ((rc = verify_composite(c, i)) != KBS_OK)
				return rc;
			continue;
		}
		item_input(c, i, &in);
		c->items[i].done = 1;
		if ((rc = kbs_verifier_verify(c->items[i].v, &in, &claims,
					      &c->eb)) != KBS_OK) {
			if (i > 0)
				kbs_errprefix(&c->eb, "device %s", c->items[i].tee);
			return rc;
		}
		rc = add_attester(c, i, i == 0 ? "cpu" :
				  kbs_verifier_device_class(c->items[i].tee), claims);
		if (rc != KBS_OK)
			return rc;
	}
	return KBS_OK;
}

static kbs_err
bind_and_verify(struct attest_ctx *c)
{
	const char *initdata = kbs_proto_attest_initdata(c->req);
	kbs_err rc;

	if ((rc = primary_item(c)) != KBS_OK)
		return rc;
	if (initdata != NULL &&
	    (rc = kbs_proto_initdata_parse(initdata, strlen(initdata),
					   c->init_digest, &c->init_digest_len,
					   &c->init_claims, &c->eb)) != KBS_OK)
		return rc;
	if ((rc = device_items(c)) != KBS_OK)
		return rc;
	return verify_items(c);
}

/* Appraise every attester with the appraisal policy: each gets "ear". */
static kbs_err
appraise_all(struct attest_ctx *c)
{
	json_t *a, *ear = NULL;
	kbs_err rc;
	size_t i;

	json_array_foreach(c->attesters, i, a) {
		rc = kbs_issuer_appraise(c->is, kbs_json_str(a, "tee"),
					 json_object_get(a, "claims"), &ear, &c->eb);
		if (rc != KBS_OK)
			return rc;
		if (json_object_set_new(a, "ear", ear) != 0)
			return kbs_errf(&c->eb, KBS_ERR_NOMEM, "out of memory");
		if (c->appraisal == NULL &&
		    json_integer_value(json_object_get(a, "item")) == 0)
			c->appraisal = ear;
	}
	if (c->appraisal == NULL)
		return kbs_errf(&c->eb, KBS_ERR_VERIFY, "the verifier reported no "
				"claims for the primary evidence");
	return KBS_OK;
}

static kbs_err
appraise_and_mint(struct attest_ctx *c)
{
	kbs_issuer_mint_in m;
	char *init_b64 = NULL;
	json_t *rts = NULL;
	kbs_err rc;
	size_t i;

	if ((rc = appraise_all(c)) != KBS_OK)
		return rc;
	rc = KBS_ERR_NOMEM;
	if (kbs_proto_attest_initdata(c->req) != NULL &&
	    (init_b64 = kbs_b64_encode(c->init_digest, c->init_digest_len,
				       KBS_B64_STD)) == NULL)
		goto out;
	if ((rts = json_array()) == NULL)
		goto out;
	for (i = 0; i < c->nitems; i++)
		if (json_array_append(rts, c->items[i].rt) != 0)
			goto out;
	memset(&m, 0, sizeof(m));
	m.attesters = c->attesters;
	m.runtime = rts;
	m.init_data_b64 = init_b64;
	m.init_data_claims = c->init_claims;
	rc = kbs_issuer_mint(c->is, &m, c->jti, &c->token, &c->eb);
out:
	if (rc == KBS_ERR_NOMEM)
		kbs_errf(&c->eb, rc, "out of memory");
	json_decref(rts);
	free(init_b64);
	return rc;
}

/*
 * kbs: keep the token in the session store under a new session id and
 * name it in the cookie.  kbs-issuer keeps nothing: the token goes in
 * the body only (a cookie could not carry a large one anyway).
 */
static kbs_err
hold_session(struct attest_ctx *c)
{
	kbs_err rc;

	if (c->is->sessions == NULL || c->s.sid[0] != '\0')
		return KBS_OK;
	if ((rc = kbs_sessions_new_id(c->s.sid)) != KBS_OK)
		return kbs_errf(&c->eb, rc, "no randomness for a session id");
	rc = kbs_sessions_put(c->is->sessions, c->s.sid, c->token, c->s.exp,
			      kbs_clock_now(), &c->eb);
	if (rc != KBS_OK)
		kbs_errprefix(&c->eb, "session store");
	return rc;
}

/*
 * {"token":"<token>"}, written directly: a JWS in compact form is
 * base64url and dots, which JSON carries unescaped, and jansson's copy,
 * UTF-8 check and dump of a 2-3 KB token cost about a tenth of a
 * handshake.  Anything else goes through jansson.
 */
static void
reply_token_body(kbs_http_resp *resp, const char *token)
{
	static const char jws_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"abcdefghijklmnopqrstuvwxyz0123456789-_.";
	size_t n = strlen(token);
	char *body;

	if (token[strspn(token, jws_chars)] != '\0' ||
	    (body = malloc(n + sizeof("{\"token\":\"\"}"))) == NULL) {
		kbs_http_reply_json(resp, 200, json_pack("{s:s}", "token", token));
		return;
	}
	memcpy(body, "{\"token\":\"", 10);
	memcpy(body + 10, token, n);
	memcpy(body + 10 + n, "\"}", 2);
	kbs_http_reply_bytes(resp, 200, "application/json", body, n + 12);
	free(body);
}

static void
reply_token(struct attest_ctx *c, kbs_http_resp *resp)
{
	char *cookie = NULL;
	kbs_err rc = hold_session(c);

	if (rc == KBS_OK)
		rc = kbs_session_seal(c->is->sealer, &c->s, &cookie, &c->eb);
	if (rc == KBS_OK)
		rc = kbs_session_set_cookie(resp, cookie, c->s.exp);
	if (rc == KBS_ERR_UNAVAILABLE) {
		kbs_http_reply_error(resp, 503, "AttestationError", ATTEST_FAIL
				     KBS_KEYPROC_DOWN);
		goto out;
	}
	if (rc != KBS_OK) {
		kbs_log_error("attest: cannot keep the session: %s", c->eb.msg);
		/* A shared session store that is down: the guest's fault it
		 * is not, and attesting again later will work. */
		if (rc == KBS_ERR_NETWORK)
			kbs_http_reply_error(resp, 503, "AttestationError",
					     ATTEST_FAIL "the session store is "
					     "unavailable, retry");
		else
			kbs_http_reply_error(resp, 500, "AttestationError",
					     ATTEST_FAIL "internal error");
		goto out;
	}
	reply_token_body(resp, c->token);
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
	if (rc == KBS_ERR_UNAVAILABLE)
		return 503;
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
		kbs_http_reply_error(resp, rc == KBS_ERR_UNAVAILABLE ? 503 : 401,
				     "AttestationError",
				     ATTEST_FAIL "%s", c->eb.msg);
		return;
	}
	if (c->s.sid[0] != '\0') {
		/* Already attested: the same token again (spec 1.3), if this
		 * process holds the session; else start over (docs/api.md). */
		rc = c->is->sessions == NULL ? kbs_errf(&c->eb, KBS_ERR_NOT_FOUND,
							"no session store")
			: kbs_sessions_get(c->is->sessions, c->s.sid, kbs_clock_now(),
					   &c->token, &c->eb);
		if (rc == KBS_OK)
			reply_token(c, resp);
		else if (rc == KBS_ERR_NETWORK)
			kbs_http_reply_error(resp, 503, "AttestationError",
					     ATTEST_FAIL "the session store is "
					     "unavailable, retry");
		else
			kbs_http_reply_error(resp, rc == KBS_ERR_NOMEM ? 500 : 401,
					     "AttestationError", ATTEST_FAIL "attested "
					     "session not held here: %s; start again "
					     "with /auth", c->eb.msg);
		return;
	}
	rc = kbs_proto_parse_attest((const char *)req->body, req->body_len,
				    &c->req, &c->eb);
	if (rc == KBS_OK && !nonce_matches(kbs_proto_attest_nonce(c->req), c->s.nonce))
		rc = kbs_errf(&c->eb, KBS_ERR_VERIFY, "runtime-data.nonce does not "
			      "match the session challenge");
	if (rc == KBS_OK &&
	    (rc = kbs_issuer_appraisal_sync(c->is, &c->eb)) != KBS_OK) {
		/* The shared appraisal policies cannot be read: a policy
		 * tightened through another issuer may be in force, so
		 * nothing is appraised under a stale one. */
		kbs_log_error("attest: appraisal policy: %s", c->eb.msg);
		kbs_http_reply_error(resp, rc == KBS_ERR_NETWORK ? 503 : 500,
				     "AttestationError", ATTEST_FAIL "the "
				     "appraisal policy store is unavailable");
		return;
	}
	if (rc == KBS_OK)
		rc = bind_and_verify(c);
	if (rc == KBS_OK)
		rc = appraise_and_mint(c);
	if (rc != KBS_OK) {
		kbs_http_reply_error(resp, fail_status(rc), "AttestationError",
				     ATTEST_FAIL "%s", c->eb.msg);
		kbs_metrics_attestation(c->s.tee, kbs_metrics_reason(rc));
		if (rc == KBS_ERR_NETWORK) {
			kbs_metrics_backend_error("verifier", c->s.tee);
			kbs_log_warn("attest: tee=%s: %s", c->s.tee, c->eb.msg);
		}
		return;
	}
	reply_token(c, resp);
	kbs_metrics_attestation(c->s.tee, json_string_value(json_object_get(
		c->appraisal, "ear.status")));
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
	char pid[KBS_POLICY_MAX_ID + 1], psha[65];
	json_t *f;
	kbs_errbuf eb = {""};
	kbs_err rc = KBS_ERR_NOMEM;

	if (c->is->audit == NULL)
		return;
	kbs_issuer_appraisal_ident(c->is, pid, psha);
	f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event", "attest",
		      "request_id", req->request_id, "client", req->remote_addr,
		      "tee", c->s.tee, "decision", allowed ? "allow" : "deny",
		      "policy_id", pid, "policy_sha256", psha);
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
		/* 503 when the audit chain's database is unreachable: a retry
		 * may succeed (as the broker answers). */
		kbs_http_reply_error(resp, rc == KBS_ERR_NETWORK ? 503 : 500,
				     "AttestationError", ATTEST_FAIL
				     "the audit log is unavailable");
	} else if (rc != KBS_OK)
		kbs_log_error("attest: audit log append failed: %s", eb.msg);
}

void
kbs_issuer_handle_attest(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	struct attest_ctx *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL) {
		kbs_http_reply_error(resp, 500, "AttestationError", "out of memory");
		return;
	}
	c->is = arg;
	attest(c, req, resp);
	audit_outcome(c, req, resp);
	kbs_session_clear(&c->s);
	kbs_proto_attest_free(c->req);
	for (i = 0; i < c->nitems; i++)
		json_decref(c->items[i].rt);
	json_decref(c->attesters);
	json_decref(c->init_claims);
	kbs_strfreezero(c->token);
	OPENSSL_cleanse(c->items, sizeof(c->items));
	free(c);
}
