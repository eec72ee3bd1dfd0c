/*
 * resource.c - GET /kbs/v0/resource/{repository}/{type}/{tag}: verify the
 * token, apply the policy, release the secret wrapped to the TEE's key
 * (shared/spec/kbs-protocol.md section 3).
 *
 * Statuses follow the protocol document rather than trustee, which
 * answers 401 to everything: 400 bad path, 401 no or bad token, 403 policy
 * denial, 404 no such resource (docs/api.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "clock.h"
#include "json.h"
#include "jwe.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"

char *
kbs_broker_resource_path(const char *path)
{
	const char *p = path + strlen(KBS_RESOURCE_PREFIX);
	char *out = NULL, *seg = NULL;
	size_t cap = strlen(p) + 1, o = 0;
	int nseg = 0;

	if (strncmp(path, KBS_RESOURCE_PREFIX, strlen(KBS_RESOURCE_PREFIX)) != 0 ||
	    (out = malloc(cap)) == NULL)
		return NULL;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		/* Exactly three segments; a fourth (even empty) is refused. */
		if (++nseg > 3 || (seg = kbs_http_decode_segment(p, len)) == NULL ||
		    o + strlen(seg) + 1 > cap)
			goto bad;
		memcpy(out + o, seg, strlen(seg));
		o += strlen(seg);
		out[o++] = '/';
		free(seg);
		seg = NULL;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	out[o - 1] = '\0';
	if (nseg != 3 || !kbs_store_path_valid(out) ||
	    strncmp(out, KBS_INTEL_REPOSITORY "/",
		    strlen(KBS_INTEL_REPOSITORY "/")) == 0)
		goto bad;
	return out;
bad:
	free(seg);
	free(out);
	return NULL;
}

struct get_ctx {
	kbs_broker *b;
	char *path;
	char *token;
	json_t *claims;
	const char *issuer;
	kbs_policy_decision *decision;
	kbs_policy_ref pref; /* the policy that decided: id, version, sha256 */
	uint8_t *secret;
	size_t secret_len;
	kbs_jwk *teekey;     /* from the token's claims (trust.h), or NULL */
	kbs_trust_jti *jti;  /* a single-use token's, spent only by release() */
	char *jwe;
	kbs_errbuf eb;
};

/*
 * Log a decision with the policy that made it.  The full trace goes to
 * the log - info for a denial, debug for an allow - cut into pieces that
 * fit a log line (log.c writes at most 1 KiB per line); "[i/n]" and the
 * request id join them up again.
 */
#define TRACE_CHUNK 700

static void
log_decision(const struct get_ctx *c, const kbs_http_req *req, int allowed)
{
	kbs_log_level lvl = allowed ? KBS_LOG_DEBUG : KBS_LOG_INFO;
	const json_t *trace = kbs_policy_decision_trace(c->decision);
	const char *rule = kbs_policy_decision_rule(c->decision);
	char *t;
	size_t len, n, i;

	/* Allowed releases log at debug: not even the trace's text is made
	 * unless it will be written. */
	if (!kbs_log_enabled(lvl))
		return;
	t = trace ? kbs_json_dumps(trace) : NULL;
	len = t ? strlen(t) : 0;
	n = (len + TRACE_CHUNK - 1) / TRACE_CHUNK;
	kbs_log(lvl, "policy %s %s rid=%s policy=%s version=%lld sha256=%s "
		"rule=%s", allowed ? "allowed" : "denied", c->path,
		req->request_id ? req->request_id : "", c->pref.id,
		c->pref.version, c->pref.sha256, rule ? rule : "-");
	for (i = 0; i < n; i++)
		kbs_log(lvl, "policy trace rid=%s [%zu/%zu] %.*s",
			req->request_id ? req->request_id : "", i + 1, n,
			(int)(len - i * TRACE_CHUNK < TRACE_CHUNK
				      ? len - i * TRACE_CHUNK : TRACE_CHUNK),
			t + i * TRACE_CHUNK);
	free(t);
}

static void
deny(struct get_ctx *c, const kbs_http_req *req, kbs_http_resp *resp,
     kbs_err rc)
{
	const char *why = rc != KBS_OK ? c->eb.msg
			  : kbs_policy_decision_reason(c->decision);

	if (rc != KBS_OK)
		kbs_log_info("policy error %s policy=%s version=%lld sha256=%s: "
			     "%s", c->path, c->pref.id, c->pref.version,
			     c->pref.sha256, c->eb.msg);
	else
		log_decision(c, req, 0);
	kbs_http_reply_error(resp, 403, "PolicyDeny", "%s",
			     c->b->cfg->policy_explain && why
				 ? why : "denied by the resource policy");
	kbs_http_resp_note(resp, "denied %s policy=%s@%lld "
		 "sha256=%.16s", c->path, c->pref.id, c->pref.version,
		 c->pref.sha256);
}

/* The token refused (rc: kbs_trust_verify_unspent's or the spend's). */
static void
token_refused(struct get_ctx *c, kbs_http_resp *resp, kbs_err rc)
{
	if (rc == KBS_ERR_NETWORK) {
		/* The shared single-use cache is unreachable: the token is
		 * neither accepted nor condemned; try again later. */
		kbs_log_error("resource %s: %s", c->path, c->eb.msg);
		kbs_http_reply_error(resp, 503, "TokenVerifierError",
				     "single-use check unavailable, retry");
		return;
	}
	kbs_metrics_token_failure(rc);
	kbs_http_reply_error(resp, 401, "TokenVerifierError",
			     "token rejected: %s", c->eb.msg);
}

/* Token then policy; 0 to go on, else the response is written. */
static int
authorise(struct get_ctx *c, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_policy_ctx pc;
	json_t *query;
	kbs_err rc;
	int store_down = 0;

	if ((c->token = kbs_authz_request_token(c->b->authz, req,
						    &store_down)) == NULL &&
	    store_down) {
		kbs_http_reply_error(resp, 503, "TokenNotFound",
				     "the attested session store or the key "
				     "process is unavailable, retry");
		return -1;
	}
	if (c->token == NULL) {
		kbs_http_reply_error(resp, 401, "TokenNotFound",
				     "no bearer token or attested session");
		return -1;
	}
	/* A single-use token's jti is spent by release(), after the policy
	 * allowed: a denied request leaves it unspent (docs/api.md). */
	rc = kbs_trust_verify_unspent(kbs_broker_trust(c->b), c->token,
				      strlen(c->token), kbs_clock_now(),
				      &c->claims, &c->issuer, &c->teekey,
				      &c->jti, &c->eb);
	if (rc != KBS_OK) {
		token_refused(c, resp, rc);
		return -1;
	}
	query = kbs_http_query_json(req->query);
	memset(&pc, 0, sizeof(pc));
	pc.resource_path = c->path;
	pc.query = query;
	pc.issuer = c->issuer;
	pc.now = kbs_clock_now();
	/* An allow's trace is only ever logged at debug (log_decision). */
	pc.untraced_allow = !kbs_log_enabled(KBS_LOG_DEBUG);
	rc = kbs_policystore_eval(c->b->policy, c->claims, &pc, &c->decision,
				  &c->pref, &c->eb);
	json_decref(query);
	if (rc != KBS_OK || !kbs_policy_decision_allowed(c->decision)) {
		kbs_metrics_decision(rc != KBS_OK ? "error" : "deny", c->pref.id,
				     rc != KBS_OK ? NULL
				     : kbs_policy_decision_rule(c->decision));
		deny(c, req, resp, rc);
		return -1;
	}
	kbs_metrics_decision("allow", c->pref.id,
			     kbs_policy_decision_rule(c->decision));
	log_decision(c, req, 1);
	return 0;
}

/* The release metric names repository and type, never the tag. */
static void
count_release(const char *path)
{
	const char *a = strchr(path, '/'), *b = a ? strchr(a + 1, '/') : NULL;
	char repo[KBS_METRICS_MAX_VALUE + 1], type[KBS_METRICS_MAX_VALUE + 1];

	if (b == NULL)
		return;
	snprintf(repo, sizeof(repo), "%.*s", (int)(a - path), path);
	snprintf(type, sizeof(type), "%.*s", (int)(b - a - 1), a + 1);
	kbs_metrics_release(repo, type);
}

/* kbs_store_jti's spend: the jti through its issuer's cache. */
static kbs_err
spend_jti(void *jti, kbs_errbuf *eb)
{
	return kbs_trust_jti_spend(jti, eb);
}

/*
 * The secret, read by a store that spends a single-use token's jti first
 * (in the same statement when the store and the jti are in one database).
 */
static kbs_err
read_spending(struct get_ctx *c, int *spend_failed)
{
	kbs_store_jti sj;
	kbs_err rc;

	*spend_failed = 0;
	if (c->jti == NULL)
		return kbs_store_get(c->b->store, c->path, &c->secret,
				     &c->secret_len, &c->eb);
	memset(&sj, 0, sizeof(sj));
	sj.pg = kbs_trust_jti_db(c->jti, &sj.scope, sj.digest, &sj.expires_at,
				 &sj.now);
	sj.spend = spend_jti;
	sj.arg = c->jti;
	rc = kbs_store_get_spend(c->b->store, c->path, &sj, &c->secret,
				 &c->secret_len, &c->eb);
	/* The store's statement found the jti used: say so as the spend
	 * through the issuer's cache would have. */
	if (sj.failed && rc == KBS_ERR_DENIED)
		kbs_trust_jti_used(c->jti, &c->eb);
	*spend_failed = sj.failed;
	return rc;
}

static void
release(struct get_ctx *c, kbs_http_resp *resp)
{
	kbs_err rc;
	int spend_failed;

	rc = read_spending(c, &spend_failed);
	if (spend_failed) {
		token_refused(c, resp, rc);
		return;
	}
	if (rc == KBS_ERR_NOT_FOUND) {
		kbs_http_reply_error(resp, 404, "ResourceNotFound",
				     "no resource %s", c->path);
		return;
	}
	if (rc != KBS_OK) {
		kbs_metrics_backend_error(rc == KBS_ERR_NETWORK ? "kms" : "store",
					  kbs_metrics_reason(rc));
		kbs_log_error("resource %s: %s", c->path, c->eb.msg);
		kbs_http_reply_error(resp, kbs_broker_store_status(rc),
				     "PluginInternalError",
				     "resource store failure");
		return;
	}
	if (c->teekey == NULL) {
		kbs_http_reply_error(resp, 401, "TokenVerifierError",
				     "the token carries no usable tee-pubkey");
		return;
	}
	rc = kbs_jwe_encrypt(c->teekey, c->secret, c->secret_len,
			     c->b->cfg->jwe_allow_rsa1_5, &c->jwe, &c->eb);
	if (rc != KBS_OK) {
		kbs_http_reply_error(resp, rc == KBS_ERR_UNSUPPORTED ? 401 : 500,
				     "JweError", "%s", c->eb.msg);
		return;
	}
	kbs_http_reply_bytes(resp, 200, "application/json", c->jwe,
			     strlen(c->jwe));
	count_release(c->path);
	kbs_http_resp_note(resp, "released %s issuer=%s "
		 "policy=%s@%lld sha256=%.16s", c->path,
		 c->issuer ? c->issuer : "", c->pref.id, c->pref.version,
		 c->pref.sha256);
}

/* Members of annotated evidence that are not a TEE's claims. */
static int
not_a_tee(const char *k)
{
	return strcmp(k, "runtime_data_claims") == 0 || strcmp(k, "init_data") == 0 ||
	       strcmp(k, "init_data_claims") == 0 || strcmp(k, "report_data") == 0;
}

/* The TEE a token speaks for, for the audit log; "" if it does not say. */
static const char *
claims_tee(const json_t *claims)
{
	const json_t *ae = kbs_json_pointer(claims, "/submods/cpu0/ear.veraison."
					    "annotated-evidence");
	const char *k, *t = kbs_json_str(claims, "attester_type");
	json_t *v;

	json_object_foreach((json_t *)ae, k, v)
		if (!not_a_tee(k) && json_is_object(v))
			return k;
	return t ? t : "";
}

/* The audit record of a release decision (never a token, key or secret). */
static json_t *
audit_fields(const struct get_ctx *c, const kbs_http_req *req,
	     const kbs_http_resp *resp)
{
	const char *rule = c->decision ? kbs_policy_decision_rule(c->decision) : NULL;
	json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}",
			      "event", "release", "request_id", req->request_id,
			      "client", req->remote_addr, "resource", c->path,
			      "decision", resp->status == 200 ? "allow" : "deny",
			      "issuer", c->issuer ? c->issuer : "",
			      "tee", c->claims ? claims_tee(c->claims) : "",
			      "status", resp->status);
	const char *jti = kbs_json_str(c->claims, "jti");

	if (f == NULL)
		return NULL;
	if ((jti != NULL && json_object_set_new(f, "jti", json_string(jti)) != 0) ||
	    (c->decision != NULL &&
	     (json_object_set_new(f, "policy_id", json_string(c->pref.id)) != 0 ||
	      json_object_set_new(f, "policy_version",
				  json_integer(c->pref.version)) != 0 ||
	      json_object_set_new(f, "policy_sha256",
				  json_string(c->pref.sha256)) != 0)) ||
	    (rule != NULL && json_object_set_new(f, "rule", json_string(rule)) != 0) ||
	    (resp->status != 200 &&
	     json_object_set_new(f, "reason", json_string(resp->note)) != 0)) {
		json_decref(f);
		return NULL;
	}
	return f;
}

/* A release that could not be recorded: 500, or 503 when the audit
 * chain's database is unreachable (a retry may succeed). */
static void
withhold(kbs_http_resp *resp, kbs_err rc)
{
	kbs_http_reply_error(resp, kbs_broker_store_status(rc),
			     "PluginInternalError",
			     "the audit log is unavailable");
}

void
kbs_broker_handle_get(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	struct get_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		kbs_http_reply_error(resp, 500, "HTTPFailed", "out of memory");
		return;
	}
	c->b = arg;
	if ((c->path = kbs_broker_resource_path(req->path)) == NULL)
		kbs_http_reply_error(resp, 400, "InvalidRequestPath",
				     "resource path must be <repository>/<type>/"
				     "<tag>, each [A-Za-z0-9_-][A-Za-z0-9_.-]*");
	else {
		if (authorise(c, req, resp) == 0)
			release(c, resp);
		if (c->b->audit != NULL)
			kbs_broker_audit_release(c->b->audit,
						 audit_fields(c, req, resp),
						 "resource", c->path, resp,
						 withhold);
	}
	free(c->path);
	kbs_strfreezero(c->token);
	json_decref(c->claims);
	kbs_policy_decision_free(c->decision);
	kbs_freezero(c->secret, c->secret_len);
	kbs_jwk_free(c->teekey);
	kbs_trust_jti_free(c->jti);
	free(c->jwe);
	free(c);
}
