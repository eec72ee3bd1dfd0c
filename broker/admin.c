/*
 * admin.c - the admin API (shared/spec/kbs-protocol.md section 5, and
 * docs/api.md): write and delete resources, set, read, version, roll back,
 * bind and try out policies.  Every call carries a bearer JWT signed by
 * one of admin.public_keys, with an exp no further away than
 * admin.max_token_lifetime, the configured aud/iss, and - when
 * admin.roles is configured - a role claim that grants the method and
 * path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "broker_int.h"
#include "clock.h"
#include "json.h"
#include "jws.h"
#include "log.h"
#include "mem.h"

#define POLICIES_PATH "/kbs/v0/policies"
#define BODY_DEPTH 4
/* Claims of a token plus the evaluate envelope around them. */
#define EVALUATE_DEPTH (KBS_JSON_DEFAULT_DEPTH + 2)

static char *
admin_path(const kbs_http_req *req, kbs_http_resp *resp)
{
	char *path = kbs_broker_resource_path(req->path);

	if (path == NULL)
		kbs_http_reply_error(resp, 400, "InvalidRequestPath",
				     "resource path must be <repository>/<type>/"
				     "<tag>, each [A-Za-z0-9_-][A-Za-z0-9_.-]*");
	return path;
}

static void
run_put(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	kbs_errbuf eb = {""};
	kbs_err rc;
	char *path;

	if (kbs_authz_admin(b->authz, req, resp) != 0 ||
	    (path = admin_path(req, resp)) == NULL)
		return;
	if ((rc = kbs_store_put(b->store, path, req->body, req->body_len,
				&eb)) != KBS_OK) {
		kbs_log_error("store %s: %s", path, eb.msg);
		if (rc == KBS_ERR_READONLY)
			kbs_http_reply_error(resp, 409, "StoreReadOnly",
					     "cannot store the resource: %s",
					     eb.msg);
		else
			kbs_http_reply_error(resp, kbs_broker_store_status(rc),
					     "PluginInternalError",
					     "cannot store the resource");
	} else {
		kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
		kbs_http_resp_note(resp, "stored %s (%zu bytes)",
			 path, req->body_len);
	}
	free(path);
}

static void
run_delete(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	kbs_errbuf eb = {""};
	kbs_err rc;
	char *path;

	if (kbs_authz_admin(b->authz, req, resp) != 0 ||
	    (path = admin_path(req, resp)) == NULL)
		return;
	rc = kbs_store_del(b->store, path, &eb);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_http_reply_error(resp, 404, "ResourceNotFound",
				     "no resource %s", path);
	else if (rc != KBS_OK) {
		kbs_log_error("delete %s: %s", path, eb.msg);
		if (rc == KBS_ERR_READONLY)
			kbs_http_reply_error(resp, 409, "StoreReadOnly",
					     "cannot delete the resource: %s",
					     eb.msg);
		else
			kbs_http_reply_error(resp, kbs_broker_store_status(rc),
					     "PluginInternalError",
					     "cannot delete the resource");
	}
	else {
		kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
		kbs_http_resp_note(resp, "deleted %s", path);
	}
	free(path);
}

/* ---- policies ---- */

/* A store failure as an HTTP error; bad documents are ParsePolicyError. */
static void
reply_store_error(kbs_http_resp *resp, kbs_err rc, const kbs_errbuf *eb,
		  const char *bad_variant)
{
	switch (rc) {
	case KBS_ERR_NOT_FOUND:
		kbs_http_reply_error(resp, 404, "PolicyNotFound", "%s", eb->msg);
		break;
	case KBS_ERR_INVALID:
	case KBS_ERR_TOO_LARGE:
		kbs_http_reply_error(resp, 400, bad_variant, "%s", eb->msg);
		break;
	default:
		kbs_log_error("policy store: %s", eb->msg);
		/* The shared database down: 503, so clients retry later. */
		kbs_http_reply_error(resp, kbs_broker_store_status(rc),
				     "PolicyEngineError",
				     "cannot update the policy store");
	}
}

static json_t *
ref_json(const kbs_policy_ref *r)
{
	return json_pack("{s:s, s:I, s:s}", "id", r->id, "version",
			 (json_int_t)r->version, "sha256", r->sha256);
}

static void
note_ref(kbs_http_resp *resp, const char *what, const kbs_policy_ref *r)
{
	kbs_http_resp_note(resp, "%s policy=%s@%lld sha256=%s",
		 what, r->id, r->version, r->sha256);
}

/* The base64url "policy" member of a body, decoded; NULL after replying. */
static char *
body_policy(const kbs_http_req *req, size_t *len, kbs_http_resp *resp)
{
	json_t *doc;
	const char *b64;
	uint8_t *text = NULL;

	doc = kbs_json_parse_object((const char *)req->body, req->body_len,
				    BODY_DEPTH, NULL);
	b64 = doc ? kbs_json_str(doc, "policy") : NULL;
	if (b64 == NULL || kbs_b64_decode(b64, strlen(b64), KBS_B64_URL, &text,
					  len) != KBS_OK) {
		kbs_http_reply_error(resp, 400, "ParsePolicyError", "body must be "
				     "{\"policy\": \"<base64url, unpadded>\"}");
		text = NULL;
	}
	json_decref(doc);
	return (char *)text;
}

static void
policy_set(kbs_broker *b, const char *id, const kbs_http_req *req,
	   kbs_http_resp *resp, int reply_ref)
{
	kbs_errbuf eb = {""};
	kbs_policy_ref ref;
	char *text;
	size_t len = 0;
	kbs_err rc;

	if ((text = body_policy(req, &len, resp)) == NULL)
		return;
	rc = kbs_policystore_set(b->policy, id, text, len, &ref, &eb);
	if (rc != KBS_OK)
		reply_store_error(resp, rc, &eb, "ParsePolicyError");
	else if (reply_ref)
		kbs_http_reply_json(resp, 200, ref_json(&ref));
	else
		kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
	if (rc == KBS_OK)
		note_ref(resp, "set", &ref);
	free(text);
}

static void
policy_get(kbs_broker *b, const char *id, long long version,
	   kbs_http_resp *resp)
{
	kbs_errbuf eb = {""};
	kbs_policy_ref ref;
	char *text = NULL, *b64 = NULL;
	size_t len = 0;
	kbs_err rc;

	rc = kbs_policystore_get(b->policy, id, version, &text, &len, &ref, &eb);
	if (rc != KBS_OK) {
		reply_store_error(resp, rc, &eb, "PolicyEngineError");
		return;
	}
	if ((b64 = kbs_b64_encode((const uint8_t *)text, len, KBS_B64_URL)) == NULL)
		kbs_http_reply_error(resp, 500, "PolicyEngineError",
				     "cannot read the policy");
	else
		kbs_http_reply_json(resp, 200, json_pack("{s:s, s:I, s:s, s:s}",
			"id", ref.id, "version", (json_int_t)ref.version,
			"sha256", ref.sha256, "policy", b64));
	free(text);
	free(b64);
}

static void
run_policy_set(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;

	if (kbs_authz_admin(b->authz, req, resp) == 0)
		policy_set(b, KBS_POLICY_DEFAULT_ID, req, resp, 0);
}

static void
run_policy_get(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;

	if (kbs_authz_admin(b->authz, req, resp) == 0)
		policy_get(b, KBS_POLICY_DEFAULT_ID, -1, resp);
}

/* A decimal version 0..2^62; -1 if s is anything else. */
static long long
parse_version(const char *s)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' || v > (1LL << 62) ? -1 : v;
}

/* ?version=N, or -1 (current) when absent; -2 when malformed. */
static long long
query_version(const kbs_http_req *req)
{
	json_t *q = kbs_http_query_json(req->query);
	const char *s = kbs_json_str(q, "version");
	long long v = s == NULL ? -1 : parse_version(s);

	if (s != NULL && v < 0)
		v = -2;
	json_decref(q);
	return v;
}

static void
policy_rollback(kbs_broker *b, const char *id, const kbs_http_req *req,
		kbs_http_resp *resp)
{
	kbs_errbuf eb = {""};
	kbs_policy_ref ref;
	json_t *doc;
	json_int_t v = -1;
	kbs_err rc;

	doc = kbs_json_parse_object((const char *)req->body, req->body_len,
				    BODY_DEPTH, NULL);
	if (doc == NULL || kbs_json_int(doc, "version", &v) != KBS_OK || v < 0) {
		kbs_http_reply_error(resp, 400, "InvalidRequest", "body must be "
				     "{\"version\": <integer >= 0>}");
		json_decref(doc);
		return;
	}
	json_decref(doc);
	rc = kbs_policystore_rollback(b->policy, id, v, &ref, &eb);
	if (rc != KBS_OK) {
		reply_store_error(resp, rc, &eb, "InvalidRequest");
		return;
	}
	kbs_http_reply_json(resp, 200, json_pack("{s:s, s:I, s:s, s:I}", "id",
		ref.id, "version", (json_int_t)ref.version, "sha256",
		ref.sha256, "from", v));
	note_ref(resp, "rollback", &ref);
}

static void
reply_list(kbs_broker *b, kbs_http_resp *resp)
{
	kbs_errbuf eb = {""};
	json_t *o = NULL;
	kbs_err rc = kbs_policystore_list(b->policy, &o, &eb);

	if (rc == KBS_OK)
		kbs_http_reply_json(resp, 200, o);
	else
		reply_store_error(resp, rc, &eb, "InvalidRequest");
}

static void
reply_versions(kbs_broker *b, const char *id, kbs_http_resp *resp)
{
	kbs_errbuf eb = {""};
	json_t *o = NULL;
	kbs_err rc = kbs_policystore_versions(b->policy, id, &o, &eb);

	if (rc == KBS_OK)
		kbs_http_reply_json(resp, 200, o);
	else
		reply_store_error(resp, rc, &eb, "InvalidRequest");
}

/* "/{id}[/versions|/rollback]" after POLICIES_PATH. */
static void
policy_item(kbs_broker *b, const char *rest, const kbs_http_req *req,
	    kbs_http_resp *resp)
{
	const char *slash = strchr(rest, '/'), *sub = slash ? slash + 1 : "";
	char *id = kbs_http_decode_segment(rest, slash ? (size_t)(slash - rest)
						       : strlen(rest));
	int get = strcmp(req->method, "GET") == 0;
	long long v;

	if (id == NULL || !kbs_broker_segment_ok(id, strlen(id)))
		kbs_http_reply_error(resp, 400, "InvalidRequestPath", "policy "
				     "ids match [A-Za-z0-9_-][A-Za-z0-9_.-]*");
	else if (*sub == '\0' && get && (v = query_version(req)) >= -1)
		policy_get(b, id, v, resp);
	else if (*sub == '\0' && get)
		kbs_http_reply_error(resp, 400, "InvalidRequest", "version must "
				     "be a non-negative integer");
	else if (*sub == '\0')
		policy_set(b, id, req, resp, 1);
	else if (strcmp(sub, "versions") == 0 && get)
		reply_versions(b, id, resp);
	else if (strncmp(sub, "versions/", 9) == 0 && get &&
		 (v = parse_version(sub + 9)) >= 0)
		policy_get(b, id, v, resp);
	else if (strcmp(sub, "rollback") == 0 && !get)
		policy_rollback(b, id, req, resp);
	else
		kbs_http_reply_error(resp, 404, "PluginNotFound", "no such "
				     "policy endpoint");
	free(id);
}

static void
run_policies(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	const char *rest = req->path + strlen(POLICIES_PATH);

	if (kbs_authz_admin(b->authz, req, resp) != 0)
		return;
	if (*rest == '\0' && strcmp(req->method, "GET") == 0)
		reply_list(b, resp);
	else if (*rest == '\0') {
		kbs_http_reply_error(resp, 405, "InvalidRequestPath", "POST "
				     "/kbs/v0/policies/{id} sets a policy");
		(void)kbs_http_resp_header(resp, "Allow", "GET");
	} else
		policy_item(b, rest + 1, req, resp);
}

/* ---- bindings ---- */

static void
binding_set(kbs_broker *b, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_errbuf eb = {""};
	const char *pat, *id;
	json_t *doc;
	kbs_err rc;

	doc = kbs_json_parse_object((const char *)req->body, req->body_len,
				    BODY_DEPTH, NULL);
	pat = doc ? kbs_json_str(doc, "resources") : NULL;
	id = doc ? kbs_json_str(doc, "policy") : NULL;
	if (pat == NULL || json_object_size(doc) != 2 ||
	    (id == NULL && !json_is_null(json_object_get(doc, "policy")))) {
		kbs_http_reply_error(resp, 400, "InvalidRequest", "body must be "
				     "{\"resources\": \"<pattern>\", \"policy\": "
				     "\"<id>\" | null}");
	} else if (id == NULL) {
		/* "policy": null unbinds: clients that cannot send a DELETE
		 * body (kbs-client's libcurl path) use this. */
		rc = kbs_policystore_unbind(b->policy, pat, &eb);
		if (rc != KBS_OK)
			kbs_http_reply_error(resp, rc == KBS_ERR_NOT_FOUND ? 404
					     : 400, rc == KBS_ERR_NOT_FOUND ?
					     "BindingNotFound" : "InvalidRequest",
					     "%s", eb.msg);
		else
			kbs_http_reply_json(resp, 200, json_pack("{s:s, s:n}",
					    "resources", pat, "policy"));
	} else if ((rc = kbs_policystore_bind(b->policy, pat, id, &eb)) != KBS_OK) {
		reply_store_error(resp, rc, &eb, "InvalidRequest");
	} else {
		kbs_http_reply_json(resp, 200, json_pack("{s:s, s:s}",
				    "resources", pat, "policy", id));
		kbs_http_resp_note(resp, "bound %.64s to %.64s",
			 pat, id);
	}
	json_decref(doc);
}

/*
 * The pattern to unbind: the body {"resources": P}, else the query
 * ?resources=P.  *q holds what the result borrows from.
 */
static const char *
unbind_pattern(const kbs_http_req *req, json_t **q)
{
	if (req->body_len > 0) {
		*q = kbs_json_parse_object((const char *)req->body,
					   req->body_len, BODY_DEPTH, NULL);
		return json_object_size(*q) == 1 ? kbs_json_str(*q, "resources")
						 : NULL;
	}
	*q = kbs_http_query_json(req->query);
	return kbs_json_str(*q, "resources");
}

static void
binding_delete(kbs_broker *b, const kbs_http_req *req, kbs_http_resp *resp)
{
	json_t *q = NULL;
	const char *pat = unbind_pattern(req, &q);
	kbs_errbuf eb = {""};
	kbs_err rc;

	if (pat == NULL)
		kbs_http_reply_error(resp, 400, "InvalidRequest", "DELETE "
				     "/kbs/v0/policy-bindings with body "
				     "{\"resources\": \"<pattern>\"}");
	else if ((rc = kbs_policystore_unbind(b->policy, pat, &eb)) != KBS_OK)
		kbs_http_reply_error(resp, rc == KBS_ERR_NOT_FOUND ? 404 : 400,
				     rc == KBS_ERR_NOT_FOUND ? "BindingNotFound"
							     : "InvalidRequest",
				     "%s", eb.msg);
	else {
		kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
		kbs_http_resp_note(resp, "unbound %.64s", pat);
	}
	json_decref(q);
}

static void
run_bindings(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	kbs_errbuf eb = {""};
	json_t *o = NULL, *bindings;
	kbs_err rc;

	if (kbs_authz_admin(b->authz, req, resp) != 0)
		return;
	if (strcmp(req->method, "POST") == 0) {
		binding_set(b, req, resp);
	} else if (strcmp(req->method, "DELETE") == 0) {
		binding_delete(b, req, resp);
	} else if ((rc = kbs_policystore_list(b->policy, &o, &eb)) != KBS_OK) {
		reply_store_error(resp, rc, &eb, "InvalidRequest");
	} else {
		bindings = json_incref(json_object_get(o, "bindings"));
		kbs_http_reply_json(resp, 200, json_pack("{s:o}", "bindings",
							 bindings));
		json_decref(o);
	}
}

/* ---- evaluate ---- */

struct eval_req {
	json_t *doc;
	const json_t *claims;
	const char *resource;
	const json_t *query;
	const char *issuer;
	char *text; /* inline policy, or NULL */
	size_t len;
};

/* Parse the evaluate body; 0, or -1 after replying. */
static int
eval_parse(const kbs_http_req *req, struct eval_req *e, kbs_http_resp *resp)
{
	json_t *q, *is, *pol;
	uint8_t *text = NULL;
	size_t len = 0;

	e->doc = kbs_json_parse_object((const char *)req->body, req->body_len,
				       EVALUATE_DEPTH, NULL);
	e->claims = json_object_get(e->doc, "claims");
	e->resource = kbs_json_str(e->doc, "resource");
	q = json_object_get(e->doc, "query");
	is = json_object_get(e->doc, "issuer");
	pol = json_object_get(e->doc, "policy");
	if (!json_is_object(e->claims) || e->resource == NULL ||
	    !kbs_store_path_valid(e->resource) || (q && !json_is_object(q)) ||
	    (is && !json_is_string(is)) || (pol && !json_is_string(pol))) {
		kbs_http_reply_error(resp, 400, "InvalidRequest", "body must be "
				     "{\"claims\": {..}, \"resource\": \"<repo>/"
				     "<type>/<tag>\"[, \"query\": {..}, \"issuer\": "
				     "\"<name>\", \"policy\": \"<base64url>\"]}");
		return -1;
	}
	e->query = q;
	e->issuer = is ? json_string_value(is) : NULL;
	if (pol != NULL && kbs_b64_decode(json_string_value(pol),
					  json_string_length(pol), KBS_B64_URL,
					  &text, &len) != KBS_OK) {
		kbs_http_reply_error(resp, 400, "ParsePolicyError", "\"policy\" "
				     "must be base64url, unpadded");
		return -1;
	}
	e->text = (char *)text;
	e->len = len;
	return 0;
}

static json_t *
decision_json(const kbs_policy_decision *d, json_t *policy)
{
	const char *rule = kbs_policy_decision_rule(d);

	return json_pack("{s:b, s:o, s:s, s:O, s:o}", "allowed",
			 kbs_policy_decision_allowed(d), "rule",
			 rule ? json_string(rule) : json_null(), "reason",
			 kbs_policy_decision_reason(d), "trace",
			 (json_t *)kbs_policy_decision_trace(d), "policy", policy);
}

/* Evaluate the inline policy; *policy describes it (no id/version). */
static kbs_err
eval_inline(const struct eval_req *e, const kbs_policy_ctx *pc,
	    kbs_policy_decision **d, json_t **policy, kbs_errbuf *eb)
{
	kbs_policy *p = NULL;
	char sha[65];
	kbs_err rc;

	if ((rc = kbs_policystore_parse(e->text, e->len, &p, sha, eb)) != KBS_OK)
		return rc;
	rc = kbs_policy_eval(p, e->claims, pc, d, eb);
	kbs_policy_free(p);
	if (rc == KBS_OK)
		*policy = json_pack("{s:n, s:n, s:s}", "id", "version",
				    "sha256", sha);
	return rc;
}

static void
run_evaluate(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	struct eval_req e = {0};
	kbs_policy_decision *d = NULL;
	kbs_policy_ctx pc;
	kbs_policy_ref ref;
	kbs_errbuf eb = {""};
	json_t *policy = NULL;
	kbs_err rc;

	if (kbs_authz_admin(b->authz, req, resp) != 0 ||
	    eval_parse(req, &e, resp) != 0)
		goto out;
	memset(&pc, 0, sizeof(pc));
	pc.resource_path = e.resource;
	pc.query = e.query;
	pc.issuer = e.issuer;
	pc.now = kbs_clock_now();
	if (e.text != NULL) {
		rc = eval_inline(&e, &pc, &d, &policy, &eb);
	} else {
		rc = kbs_policystore_eval(b->policy, e.claims, &pc, &d, &ref, &eb);
		policy = rc == KBS_OK ? ref_json(&ref) : NULL;
	}
	if (rc == KBS_ERR_INVALID || rc == KBS_ERR_TOO_LARGE)
		kbs_http_reply_error(resp, 400, "ParsePolicyError", "%s", eb.msg);
	else if (rc != KBS_OK)
		kbs_http_reply_error(resp, 500, "PolicyEngineError", "%s", eb.msg);
	else
		kbs_http_reply_json(resp, 200, decision_json(d, policy));
out:
	kbs_policy_decision_free(d);
	free(e.text);
	json_decref(e.doc);
}

/* ---- entry points ---- */

/*
 * Every admin route runs its handler through kbs_admin_auth_run(), so that
 * a single-use admin token is the idempotency key of its request
 * (admin_auth.h).
 */
KBS_ADMIN_HANDLER(kbs_broker_handle_put, run_put)
KBS_ADMIN_HANDLER(kbs_broker_handle_delete, run_delete)
KBS_ADMIN_HANDLER(kbs_broker_handle_policy_set, run_policy_set)
KBS_ADMIN_HANDLER(kbs_broker_handle_policy_get, run_policy_get)
KBS_ADMIN_HANDLER(kbs_broker_handle_policies, run_policies)
KBS_ADMIN_HANDLER(kbs_broker_handle_bindings, run_bindings)
KBS_ADMIN_HANDLER(kbs_broker_handle_evaluate, run_evaluate)
