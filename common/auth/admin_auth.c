/* admin_auth.c - admin bearer tokens (see admin_auth.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "admin_auth.h"
#include "fsutil.h"
#include "json.h"
#include "jwk.h"
#include "jws.h"
#include "log.h"
#include "replay.h"

#define LEEWAY 60
#define KEY_FILE_MAX (64 * 1024)
#define JTI_MAX 256

struct kbs_admin_auth {
	const kbs_admin_cfg *cfg;
	kbs_jwk **keys;
	size_t n;
	kbs_jti_store jti; /* .use set iff single_use */
};

/*
 * The admin call of the request this thread runs (kbs_admin_auth_run()).
 * Thread-local because a handler has the signature kbs_http_handler, which
 * carries no per-request context, and runs to its end on the thread that
 * called kbs_admin_auth_run(): the slot is that request's alone.
 */
struct admin_call {
	const kbs_http_req *req;
	kbs_admin_auth *a; /* set when a jti was used for req */
	char jti[JTI_MAX + 1];
	unsigned char fp[KBS_REPLAY_FP_LEN];
};

static _Thread_local struct admin_call *current_call;

static kbs_err
load_key(kbs_admin_auth *a, const char *path, kbs_errbuf *eb)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	kbs_jwk *k = NULL, **nk;
	const char *alg;
	kbs_err rc;

	if ((rc = kbs_fs_read(path, KEY_FILE_MAX, &pem, &len, eb)) != KBS_OK ||
	    (rc = kbs_jwk_from_pem((const char *)pem, len, NULL, &k, eb)) != KBS_OK)
		goto out;
	/* Pin the algorithm by key type: Ed25519 (trustee's kbs-client) or
	 * EC P-256; anything else is refused. */
	if (strcmp(kbs_jwk_kty(k), "OKP") == 0)
		alg = "EdDSA";
	else if (kbs_jwk_crv(k) != NULL && strcmp(kbs_jwk_crv(k), "P-256") == 0)
		alg = "ES256";
	else {
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "admin keys must be Ed25519 "
			      "or EC P-256");
		goto out;
	}
	kbs_jwk_free(k);
	k = NULL;
	if ((rc = kbs_jwk_from_pem((const char *)pem, len, alg, &k, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((nk = realloc(a->keys, (a->n + 1) * sizeof(*nk))) == NULL)
		goto out;
	a->keys = nk;
	a->keys[a->n++] = k;
	k = NULL;
	rc = KBS_OK;
out:
	if (rc != KBS_OK)
		kbs_errprefix(eb, "admin.public_keys %s", path);
	kbs_jwk_free(k);
	free(pem);
	return rc;
}

kbs_err
kbs_admin_auth_new(const kbs_admin_cfg *cfg, kbs_admin_auth **out,
		   kbs_errbuf *eb)
{
	kbs_admin_auth *a = calloc(1, sizeof(*a));
	kbs_err rc = KBS_OK;
	size_t i;

	if (a == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	a->cfg = cfg;
	for (i = 0; i < cfg->public_keys.n && rc == KBS_OK; i++)
		rc = load_key(a, cfg->public_keys.v[i], eb);
	if (rc == KBS_OK && cfg->single_use)
		rc = kbs_jti_store_memory((size_t)cfg->replay_cache_size, &a->jti,
					  eb);
	if (rc != KBS_OK) {
		kbs_admin_auth_free(a);
		return rc;
	}
	*out = a;
	return KBS_OK;
}

kbs_err
kbs_admin_auth_share_pg(kbs_admin_auth *a, struct kbs_pg *pg, kbs_errbuf *eb)
{
	if (!a->cfg->single_use)
		return KBS_OK;
	return kbs_jti_store_share_pg(&a->jti, KBS_REPLAY_SCOPE_ADMIN, pg,
				      eb);
}

void
kbs_admin_auth_describe(const kbs_admin_auth *a)
{
	const kbs_admin_cfg *cfg = a->cfg;

	if (cfg->insecure_allow_all)
		kbs_log_warn("admin.insecure_allow_all is ON: anyone who can "
			     "reach this server can use its admin API; never do "
			     "this in production");
	else if (a->n == 0)
		kbs_log_info("no admin.public_keys: the admin API is closed");
	else if (cfg->allow_long_lived && !cfg->single_use)
		kbs_log_warn("admin.allow_long_lived_tokens without "
			     "admin.single_use: a leaked admin token works "
			     "until its exp (docs/threat-model.md)");
}

/* 1 if the aud claim (string or array of strings) contains want. */
static int
aud_has(const json_t *aud, const char *want)
{
	const char *s = kbs_json_cstr(aud);
	json_t *v;
	size_t i;

	if (s != NULL)
		return strcmp(s, want) == 0;
	json_array_foreach(aud, i, v)
		if ((s = kbs_json_cstr(v)) != NULL && strcmp(s, want) == 0)
			return 1;
	return 0;
}

/* Claims whose values this code reads as C strings: a NUL is refused. */
static kbs_err
no_nul_claims(const json_t *claims, kbs_errbuf *eb)
{
	static const char *const names[] = {"iss", "sub", "role", "jti", NULL};
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (kbs_json_has_nul(json_object_get(claims, names[i])))
			return kbs_errf(eb, KBS_ERR_INVALID, "claim %s holds a "
					"NUL byte", names[i]);
	return KBS_OK;
}

static kbs_err
claims_check(const kbs_admin_auth *a, const json_t *claims, long long now,
	     kbs_errbuf *eb)
{
	const kbs_admin_cfg *cfg = a->cfg;
	const char *iss = kbs_json_str(claims, "iss");
	json_int_t exp;
	kbs_err rc;

	if ((rc = no_nul_claims(claims, eb)) != KBS_OK ||
	    (rc = kbs_jws_check_times(claims, now, LEEWAY, 1, eb)) != KBS_OK)
		return rc;
	if (!cfg->allow_long_lived &&
	    kbs_json_int(claims, "exp", &exp) == KBS_OK &&
	    exp - now > cfg->max_token_life)
		return kbs_errf(eb, KBS_ERR_DENIED, "admin token expires in "
				"%lld s, beyond admin.max_token_lifetime (%lld "
				"s); set admin.allow_long_lived_tokens to true "
				"to accept long-lived admin tokens such as "
				"trustee's setup.sh mints",
				(long long)(exp - now), cfg->max_token_life);
	if (cfg->audience != NULL &&
	    !aud_has(json_object_get(claims, "aud"), cfg->audience))
		return kbs_errf(eb, KBS_ERR_DENIED, "aud does not contain %s",
				cfg->audience);
	if (cfg->issuer != NULL && (iss == NULL || strcmp(iss, cfg->issuer) != 0))
		return kbs_errf(eb, KBS_ERR_DENIED, "iss is not %s", cfg->issuer);
	return KBS_OK;
}

/* One part of a fingerprint: its length (all ones: absent), its bytes. */
static int
fp_part(EVP_MD_CTX *c, const void *p, size_t len, int present)
{
	uint64_t v = present ? (uint64_t)len : UINT64_MAX;
	unsigned char n[8];
	int i;

	for (i = 0; i < 8; i++)
		n[i] = (unsigned char)(v >> (56 - 8 * i));
	return EVP_DigestUpdate(c, n, sizeof(n)) == 1 &&
	       (len == 0 || EVP_DigestUpdate(c, p, len) == 1);
}

/*
 * SHA-256 over method, raw path, query and body of req, each with its
 * length, so that no two requests share one.  The token is left out: the
 * jti already binds it.  1 on success.
 */
static int
fingerprint(const kbs_http_req *req, unsigned char fp[KBS_REPLAY_FP_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	     fp_part(c, req->method, strlen(req->method), 1) &&
	     fp_part(c, req->path, strlen(req->path), 1) &&
	     fp_part(c, req->query, req->query ? strlen(req->query) : 0,
		     req->query != NULL) &&
	     fp_part(c, req->body, req->body ? req->body_len : 0, 1) &&
	     EVP_DigestFinal_ex(c, fp, &n) == 1 && n == KBS_REPLAY_FP_LEN;
	EVP_MD_CTX_free(c);
	return ok;
}

/*
 * With admin.single_use: the jti is now used, for req when req runs under
 * kbs_admin_auth_run() (its outcome is recorded there), else for no
 * request (strictly once).  KBS_OK: go on; KBS_ERR_EXISTS: req was
 * answered *status before (replay.h, kbs_replay_use_request).
 */
static kbs_err
use_once(kbs_admin_auth *a, const json_t *claims, const kbs_http_req *req,
	 long long now, int *status, kbs_errbuf *eb)
{
	const char *jti = kbs_json_str(claims, "jti");
	struct admin_call *call = current_call;
	unsigned char fp[KBS_REPLAY_FP_LEN];
	json_int_t exp = 0;
	kbs_err rc;

	if (jti == NULL || jti[0] == '\0' || strlen(jti) > JTI_MAX)
		return kbs_errf(eb, KBS_ERR_INVALID, "admin.single_use: the "
				"token needs a jti (a string of 1..%d bytes)",
				JTI_MAX);
	if (req == NULL || call == NULL || call->req != req)
		call = NULL;
	if (call != NULL && !fingerprint(req, fp))
		return kbs_errf(eb, KBS_ERR_CRYPTO, "SHA-256 failed");
	kbs_json_int(claims, "exp", &exp); /* present: checked before */
	rc = a->jti.use(a->jti.impl, jti, strlen(jti), call ? fp : NULL,
			(long long)exp + LEEWAY, now, status, eb);
	if (rc == KBS_ERR_DENIED)
		return kbs_errf(eb, rc, "single-use admin token was already "
				"used (admin.single_use)");
	if (rc == KBS_OK && call != NULL) {
		call->a = a;
		memcpy(call->jti, jti, strlen(jti) + 1);
		memcpy(call->fp, fp, sizeof(fp));
	}
	return rc;
}

/* kbs_admin_auth_verify() for req (may be NULL), *status as use_once(). */
static kbs_err
verify(kbs_admin_auth *a, const char *token, const kbs_http_req *req,
       long long now, char **role, int *status, kbs_errbuf *eb)
{
	kbs_jws *j = NULL;
	const char *r;
	kbs_err rc;
	size_t i;

	if ((rc = kbs_jws_parse(token, strlen(token), &j, eb)) != KBS_OK)
		return rc;
	rc = KBS_ERR_VERIFY;
	for (i = 0; i < a->n && rc != KBS_OK; i++)
		rc = kbs_jws_verify(j, a->keys[i], NULL);
	if (rc != KBS_OK) {
		kbs_errf(eb, rc, "not signed by an admin key");
		goto out;
	}
	if ((rc = claims_check(a, kbs_jws_claims(j), now, eb)) != KBS_OK ||
	    (a->jti.use != NULL &&
	     (rc = use_once(a, kbs_jws_claims(j), req, now, status, eb)) !=
		     KBS_OK))
		goto out;
	r = kbs_json_str(kbs_jws_claims(j), "role");
	*role = NULL;
	if (r != NULL && (*role = strdup(r)) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
out:
	kbs_jws_free(j);
	return rc;
}

kbs_err
kbs_admin_auth_verify(kbs_admin_auth *a, const char *token, long long now,
		      char **role, kbs_errbuf *eb)
{
	int status = 0;

	return verify(a, token, NULL, now, role, &status, eb);
}

/* The recorded outcome of the same request again: its status, no body. */
static int
reply_replayed(kbs_http_resp *resp, int status)
{
	kbs_http_reply_bytes(resp, status, NULL, NULL, 0);
	kbs_http_resp_header(resp, "Idempotent-Replayed", "true");
	kbs_http_resp_note(resp, "single-use admin token: the same request "
			   "again, answered %d before; not run again", status);
	return 1;
}

int
kbs_admin_auth_check(kbs_admin_auth *a, const kbs_http_req *req,
		     long long now, char **role, kbs_http_resp *resp)
{
	const char *token = kbs_http_bearer(req);
	kbs_errbuf eb = {""};
	kbs_err rc;
	int status = 0;

	*role = NULL;
	if (a->cfg->insecure_allow_all) {
		kbs_log_warn("admin call %s %s allowed without authentication "
			     "(admin.insecure_allow_all)", req->method, req->path);
		return 0;
	}
	if (a->n == 0) {
		kbs_http_reply_error(resp, 401, "AdminAuthAccess",
				     "the admin API is closed here (no "
				     "admin.public_keys)");
		return -1;
	}
	if (token == NULL) {
		kbs_http_reply_error(resp, 401, "AdminAuthAccess",
				     "admin bearer token required");
		return -1;
	}
	rc = verify(a, token, req, now, role, &status, &eb);
	if (rc == KBS_ERR_EXISTS)
		return reply_replayed(resp, status);
	if (rc == KBS_ERR_NETWORK) {
		/* The shared single-use cache is unreachable: the token is
		 * neither accepted nor spent. */
		kbs_http_reply_error(resp, 503, "AdminAuthAccess",
				     "single-use check unavailable, retry");
		return -1;
	}
	if (rc != KBS_OK) {
		kbs_http_reply_error(resp, 401, "AdminAuthAccess",
				     "admin token rejected: %s", eb.msg);
		return -1;
	}
	return 0;
}

void
kbs_admin_auth_run(kbs_http_handler h, void *arg, const kbs_http_req *req,
		   kbs_http_resp *resp)
{
	struct admin_call call, *outer = current_call;
	kbs_errbuf eb = {""};
	kbs_admin_auth *a;

	memset(&call, 0, sizeof(call));
	call.req = req;
	current_call = &call;
	h(arg, req, resp);
	current_call = outer;
	/* A 5xx is no outcome (the store or database failed): the same
	 * request may be sent again and run. */
	if ((a = call.a) == NULL || resp->status < 100 || resp->status >= 500)
		return;
	if (a->jti.finish(a->jti.impl, call.jti, strlen(call.jti), call.fp,
			  resp->status, &eb) != KBS_OK)
		kbs_log_warn("single-use admin token: the outcome of %s %s was "
			     "not recorded (%s); the same request would run "
			     "again", req->method, req->path, eb.msg);
}

void
kbs_admin_auth_free(kbs_admin_auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		kbs_jwk_free(a->keys[i]);
	free(a->keys);
	kbs_jti_store_close(&a->jti);
	free(a);
}
