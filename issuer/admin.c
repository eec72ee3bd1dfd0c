/*
 * admin.c - the issuer's admin API, as trustee's kbs-client calls it
 * (shared/spec/kbs-protocol.md section 5, docs/api.md):
 *
 *   POST /kbs/v0/attestation-policy {"type", "policy_id", "policy": b64url}
 *   GET  /kbs/v0/attestation-policy          stored ids, versions, refs
 *   POST /kbs/v0/reference-value {"version": "0.1.0", "type": "sample",
 *                                 "payload": std b64 of {name: value}}
 *   GET  /kbs/v0/reference-value[/{name}]
 *
 * Policies are kbs-c's JSON appraisal policies; a Rego body is refused
 * with 400 naming docs/policy-language.md (there is no Rego engine).
 * Reference values are the named "references" appraisal policies use.
 * Every change is validated by building the policy it would put in force
 * before it is stored.
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "issuer_int.h"
#include "json.h"
#include "log.h"

#define BODY_DEPTH 4
#define REF_DEPTH 16
#define RV_PREFIX "/kbs/v0/reference-value"

static int
admin_check(kbs_issuer *is, const kbs_http_req *req, kbs_http_resp *resp)
{
	char *role = NULL;
	int rc;

	if (is->admin_fn != NULL)
		return is->admin_fn(is->admin_arg, req, resp);
	rc = kbs_admin_auth_check(is->admin, req, kbs_clock_now(), &role, resp);
	free(role);
	return rc;
}

/* 1 if s is an id: [A-Za-z0-9_.-], 1..KBS_POLICY_MAX_ID bytes. */
static int
id_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > KBS_POLICY_MAX_ID)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
		      s[i] == '.'))
			return 0;
	return 1;
}

static void
reply_invalid(kbs_http_resp *resp, kbs_err rc, const kbs_errbuf *eb,
	      const char *what)
{
	if (rc == KBS_ERR_INVALID || rc == KBS_ERR_TOO_LARGE)
		kbs_http_reply_error(resp, 400, "ParsePolicyError", "%s", eb->msg);
	else if (rc == KBS_ERR_NETWORK) {
		kbs_log_error("%s: %s", what, eb->msg);
		kbs_http_reply_error(resp, 503, "PolicyEngineError",
				     "the %s store is unavailable, retry", what);
	} else {
		kbs_log_error("%s: %s", what, eb->msg);
		kbs_http_reply_error(resp, 500, "PolicyEngineError",
				     "cannot update the %s", what);
	}
}

/* Shared state brought up to date before an admin call reads or changes
 * it: 0, or the error reply written and -1. */
static int
synced(kbs_issuer *is, kbs_http_resp *resp)
{
	kbs_errbuf eb = {""};
	kbs_err rc = kbs_issuer_appraisal_sync(is, &eb);

	if (rc == KBS_OK)
		return 0;
	reply_invalid(resp, rc == KBS_ERR_INVALID ? KBS_ERR_IO : rc, &eb,
		      "appraisal policy");
	return -1;
}

static void
policy_set(kbs_issuer *is, const kbs_http_req *req, kbs_http_resp *resp)
{
	json_t *doc = kbs_json_parse_object((const char *)req->body,
					    req->body_len, BODY_DEPTH, NULL);
	const char *id = kbs_json_str(doc, "policy_id");
	const char *b64 = kbs_json_str(doc, "policy");
	const json_t *type = json_object_get(doc, "type");
	kbs_policy *p = NULL;
	kbs_errbuf eb = {""};
	uint8_t *text = NULL;
	size_t len = 0;
	long long v = 0;
	char sha[65];
	kbs_err rc;

	/* "type" is ignored, as trustee does: kbs-client sends "rego" by
	 * default whatever the file holds. */
	if (!id_ok(id) || b64 == NULL || (type != NULL && !json_is_string(type)) ||
	    kbs_b64_decode(b64, strlen(b64), KBS_B64_URL, &text, &len) != KBS_OK) {
		kbs_http_reply_error(resp, 400, "InvalidRequest", "body must be "
				     "{\"type\": \"...\", \"policy_id\": \"<id>\", "
				     "\"policy\": \"<base64url, unpadded>\"}");
		goto out;
	}
	rc = kbs_issuer_build_appraisal(is->cfg, is->astore, (const char *)text,
					len, NULL, &p, sha, &eb);
	if (rc == KBS_OK)
		rc = kbs_astore_set_policy(is->astore, id, (const char *)text,
					   len, &v, &eb);
	if (rc == KBS_OK && strcmp(id, is->cfg->appraisal_policy_id) == 0)
		rc = kbs_issuer_reload_appraisal(is, &eb);
	if (rc != KBS_OK) {
		reply_invalid(resp, rc, &eb, "appraisal policy");
		goto out;
	}
	kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
	kbs_http_resp_note(resp, "appraisal policy=%s@%lld sha256=%s%s", id, v,
			   sha, strcmp(id, is->cfg->appraisal_policy_id) == 0 ?
			   " (in force)" : "");
out:
	kbs_policy_free(p);
	free(text);
	json_decref(doc);
}

static void
run_attestation_policy(void *arg, const kbs_http_req *req,
		       kbs_http_resp *resp)
{
	kbs_issuer *is = arg;
	char id[KBS_POLICY_MAX_ID + 1], sha[65];
	json_t *o;

	if (admin_check(is, req, resp) != 0 || synced(is, resp) != 0)
		return;
	if (strcmp(req->method, "POST") == 0) {
		policy_set(is, req, resp);
		return;
	}
	kbs_issuer_appraisal_ident(is, id, sha);
	if ((o = kbs_astore_list(is->astore)) == NULL ||
	    json_object_set_new(o, "in_force", json_pack("{s:s, s:s, s:s}",
			"policy_id", is->cfg->appraisal_policy_id, "id", id,
			"sha256", sha)) != 0) {
		json_decref(o);
		kbs_http_reply_error(resp, 500, "PolicyEngineError", "out of "
				     "memory");
		return;
	}
	kbs_http_reply_json(resp, 200, o);
}

/* The {name: value} object of a reference-value body; NULL after replying. */
static json_t *
rv_values(const kbs_http_req *req, kbs_http_resp *resp)
{
	json_t *doc = kbs_json_parse_object((const char *)req->body,
					    req->body_len, BODY_DEPTH, NULL);
	const char *version = kbs_json_str(doc, "version");
	const char *type = kbs_json_str(doc, "type");
	const char *payload = kbs_json_str(doc, "payload");
	json_t *values = NULL, *v;
	uint8_t *raw = NULL;
	const char *name;
	size_t len = 0;

	if (version == NULL || strcmp(version, "0.1.0") != 0 || type == NULL ||
	    payload == NULL) {
		kbs_http_reply_error(resp, 400, "InvalidRequest", "body must be "
				     "{\"version\": \"0.1.0\", \"type\": \"sample\", "
				     "\"payload\": \"<base64 of {name: value}>\"}");
	} else if (strcmp(type, "sample") != 0) {
		kbs_http_reply_error(resp, 400, "InvalidRequest", "provenance "
				     "type %.32s: kbs-c stores named reference "
				     "values, given as type \"sample\"", type);
	} else if (kbs_b64_decode(payload, strlen(payload), KBS_B64_STD, &raw,
				  &len) != KBS_OK ||
		   (values = kbs_json_parse_object((const char *)raw, len,
						   REF_DEPTH, NULL)) == NULL ||
		   json_object_size(values) == 0) {
		kbs_http_reply_error(resp, 400, "InvalidRequest", "payload must "
				     "be standard base64 of a non-empty JSON "
				     "object {\"<name>\": <value>}");
	} else {
		json_object_foreach(values, name, v) {
			if (!id_ok(name)) {
				kbs_http_reply_error(resp, 400, "InvalidRequest",
						     "reference value names match "
						     "[A-Za-z0-9_.-]{1,%d}",
						     KBS_POLICY_MAX_ID);
				json_decref(values);
				values = NULL;
				break;
			}
		}
	}
	free(raw);
	json_decref(doc);
	return values;
}

static void
rv_set(kbs_issuer *is, const kbs_http_req *req, kbs_http_resp *resp)
{
	json_t *values = rv_values(req, resp), *refs = NULL;
	kbs_policy *p = NULL;
	kbs_errbuf eb = {""};
	long long v = 0;
	char sha[65];
	kbs_err rc = KBS_ERR_NOMEM;

	if (values == NULL)
		return;
	/* What the policy in force would see: config, stored, then these. */
	if ((refs = kbs_astore_references(is->astore)) == NULL)
		refs = json_object();
	if (refs != NULL && json_is_object(is->cfg->appraisal_references)) {
		json_t *all = json_deep_copy(is->cfg->appraisal_references);
		if (all != NULL)
			json_object_update(all, refs);
		json_decref(refs);
		refs = all;
	}
	if (refs != NULL && json_object_update(refs, values) == 0)
		rc = kbs_issuer_build_appraisal(is->cfg, is->astore, NULL, 0,
						refs, &p, sha, &eb);
	if (rc == KBS_OK)
		rc = kbs_astore_add_references(is->astore, values, &v, &eb);
	if (rc == KBS_OK)
		rc = kbs_issuer_reload_appraisal(is, &eb);
	if (rc != KBS_OK)
		reply_invalid(resp, rc, &eb, "reference values");
	else {
		kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
		kbs_http_resp_note(resp, "reference values version %lld (%zu "
				   "names set)", v, json_object_size(values));
	}
	kbs_policy_free(p);
	json_decref(refs);
	json_decref(values);
}

static void
rv_get(kbs_issuer *is, const char *name, kbs_http_resp *resp)
{
	json_t *o = kbs_astore_list(is->astore);
	json_t *refs = json_object_get(o, "references");
	json_t *values = json_object_get(refs, "values"), *v;

	if (o == NULL) {
		kbs_http_reply_error(resp, 500, "RvpsError", "out of memory");
	} else if (name == NULL) {
		kbs_http_reply_json(resp, 200, json_is_object(refs) ?
				    json_incref(refs) : json_pack(
					"{s:i, s:{}}", "version", 0, "values"));
	} else if ((v = json_object_get(values, name)) == NULL) {
		kbs_http_reply_error(resp, 404, "ReferenceValueNotFound", "no "
				     "reference value %s set through the admin "
				     "API", name);
	} else {
		kbs_http_reply_json(resp, 200, json_pack("{s:s, s:O, s:O}",
				    "name", name, "value", v, "version",
				    json_object_get(refs, "version")));
	}
	json_decref(o);
}

static void
run_reference_value(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_issuer *is = arg;
	const char *rest = req->path + strlen(RV_PREFIX);
	char *name = NULL;

	if (admin_check(is, req, resp) != 0 || synced(is, resp) != 0)
		return;
	if (strcmp(req->method, "POST") == 0) {
		if (*rest != '\0') {
			kbs_http_reply_error(resp, 405, "InvalidRequestPath",
					     "POST " RV_PREFIX " sets values");
			(void)kbs_http_resp_header(resp, "Allow", "GET");
		} else
			rv_set(is, req, resp);
		return;
	}
	if (*rest == '\0') {
		rv_get(is, NULL, resp);
		return;
	}
	name = kbs_http_decode_segment(rest + 1, strlen(rest + 1));
	if (*rest != '/' || !id_ok(name))
		kbs_http_reply_error(resp, 400, "InvalidRequestPath", "reference "
				     "value names match [A-Za-z0-9_.-]{1,%d}",
				     KBS_POLICY_MAX_ID);
	else
		rv_get(is, name, resp);
	free(name);
}

/* Through kbs_admin_auth_run(): a single-use admin token is the
 * idempotency key of its request (admin_auth.h). */
KBS_ADMIN_HANDLER(kbs_issuer_handle_attestation_policy, run_attestation_policy)
KBS_ADMIN_HANDLER(kbs_issuer_handle_reference_value, run_reference_value)
