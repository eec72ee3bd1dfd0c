/*
 * admin.c - the admin API (shared/spec/kbs-protocol.md section 5): write
 * and delete resources, set and read the resource policy.  Every call
 * carries a bearer JWT signed by one of admin.public_keys, with an exp no
 * further away than admin.max_token_lifetime.
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "broker_int.h"
#include "clock.h"
#include "json.h"
#include "jws.h"
#include "log.h"
#include "mem.h"

#define ADMIN_LEEWAY 60

static kbs_err
admin_verify(const kbs_broker *b, const char *token, kbs_errbuf *eb)
{
	kbs_jws *j = NULL;
	kbs_err rc;
	json_int_t exp;
	size_t i;

	if ((rc = kbs_jws_parse(token, strlen(token), &j, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_VERIFY, "not signed by an admin key");
	for (i = 0; i < b->n_admin_keys && rc != KBS_OK; i++)
		rc = kbs_jws_verify(j, b->admin_keys[i], NULL);
	if (rc != KBS_OK) {
		kbs_errf(eb, rc, "not signed by an admin key");
		goto out;
	}
	rc = kbs_jws_check_times(kbs_jws_claims(j), kbs_clock_now(),
				 ADMIN_LEEWAY, 1, eb);
	if (rc != KBS_OK)
		goto out;
	if (kbs_json_int(kbs_jws_claims(j), "exp", &exp) == KBS_OK &&
	    exp - kbs_clock_now() > b->cfg->admin_max_token_life)
		rc = kbs_errf(eb, KBS_ERR_DENIED, "admin token lives longer "
			      "than admin.max_token_lifetime");
out:
	kbs_jws_free(j);
	return rc;
}

int
kbs_broker_admin_check(kbs_broker *b, const kbs_http_req *req,
		       kbs_http_resp *resp)
{
	const char *token = kbs_http_bearer(req);
	kbs_errbuf eb = {""};

	if (b->cfg->admin_insecure_allow_all) {
		kbs_log_warn("admin call %s %s allowed without authentication "
			     "(admin.insecure_allow_all)", req->method, req->path);
		return 0;
	}
	if (b->n_admin_keys == 0) {
		kbs_http_reply_error(resp, 401, "AdminAuthAccess",
				     "the admin API is closed on this broker");
		return -1;
	}
	if (token == NULL) {
		kbs_http_reply_error(resp, 401, "AdminAuthAccess",
				     "admin bearer token required");
		return -1;
	}
	if (admin_verify(b, token, &eb) != KBS_OK) {
		kbs_http_reply_error(resp, 401, "AdminAuthAccess",
				     "admin token rejected: %s", eb.msg);
		return -1;
	}
	return 0;
}

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

void
kbs_broker_handle_put(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	kbs_errbuf eb = {""};
	char *path;

	if (kbs_broker_admin_check(b, req, resp) != 0 ||
	    (path = admin_path(req, resp)) == NULL)
		return;
	if (kbs_store_put(b->store, path, req->body, req->body_len, &eb) != KBS_OK) {
		kbs_log_error("store %s: %s", path, eb.msg);
		kbs_http_reply_error(resp, 500, "PluginInternalError",
				     "cannot store the resource");
	} else {
		kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
		snprintf(resp->note, sizeof(resp->note), "stored %s (%zu bytes)",
			 path, req->body_len);
	}
	free(path);
}

void
kbs_broker_handle_delete(void *arg, const kbs_http_req *req,
			 kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	kbs_errbuf eb = {""};
	kbs_err rc;
	char *path;

	if (kbs_broker_admin_check(b, req, resp) != 0 ||
	    (path = admin_path(req, resp)) == NULL)
		return;
	rc = kbs_store_del(b->store, path, &eb);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_http_reply_error(resp, 404, "ResourceNotFound",
				     "no resource %s", path);
	else if (rc != KBS_OK)
		kbs_http_reply_error(resp, 500, "PluginInternalError",
				     "cannot delete the resource");
	else {
		kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
		snprintf(resp->note, sizeof(resp->note), "deleted %s", path);
	}
	free(path);
}

void
kbs_broker_handle_policy_set(void *arg, const kbs_http_req *req,
			     kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	kbs_errbuf eb = {""};
	json_t *doc = NULL;
	const char *b64;
	uint8_t *text = NULL;
	size_t len = 0;

	if (kbs_broker_admin_check(b, req, resp) != 0)
		return;
	doc = kbs_json_parse_object((const char *)req->body, req->body_len, 4, &eb);
	b64 = doc ? kbs_json_str(doc, "policy") : NULL;
	if (b64 == NULL || kbs_b64_decode(b64, strlen(b64), KBS_B64_URL, &text,
					  &len) != KBS_OK) {
		kbs_http_reply_error(resp, 400, "ParsePolicyError", "body must be "
				     "{\"policy\": \"<base64url, unpadded>\"}");
		goto out;
	}
	if (kbs_policyholder_set(b->policy, (const char *)text, len, &eb) != KBS_OK) {
		kbs_http_reply_error(resp, 400, "ParsePolicyError", "%s", eb.msg);
		goto out;
	}
	kbs_http_reply_bytes(resp, 200, NULL, NULL, 0);
	snprintf(resp->note, sizeof(resp->note), "resource policy replaced");
out:
	free(text);
	json_decref(doc);
}

void
kbs_broker_handle_policy_get(void *arg, const kbs_http_req *req,
			     kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	char *text = NULL, *b64 = NULL, sha[65];
	size_t len = 0;

	if (kbs_broker_admin_check(b, req, resp) != 0)
		return;
	if (kbs_policyholder_get(b->policy, &text, &len, sha) != KBS_OK ||
	    (b64 = kbs_b64_encode((const uint8_t *)text, len, KBS_B64_URL)) == NULL) {
		kbs_http_reply_error(resp, 500, "PolicyEngineError",
				     "cannot read the policy");
		goto out;
	}
	kbs_http_reply_json(resp, 200, json_pack("{s:s, s:s, s:s}", "id",
						 "resource-policy", "sha256", sha,
						 "policy", b64));
out:
	free(text);
	free(b64);
}
