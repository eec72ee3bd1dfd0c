/*
 * intel_policies.c - /kbs/v1/key-transfer-policies (spec/intel-kbs.md
 * 2.4 and 3): create, list, get and delete Intel key-transfer policies.
 *
 * A policy is validated by the policy engine (kbs_policy_parse, kind
 * KBS_POLICY_INTEL: members, types, hex lengths, the object of its
 * attestation_type) exactly as it will be evaluated at transfer time, and
 * stored as <intel.state_dir>/key-transfer-policies/<uuid>.json.  The
 * server assigns "id" and "created_at"; values sent by the client are
 * replaced, as Intel's KBS does.  There is no update, as in Intel's API.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "intel.h"
#include "json.h"
#include "log.h"
#include "policy.h"

#define POLICIES_PATH "/kbs/v1/key-transfer-policies"

/* Validate doc as the engine will read it; 0, or 400 written. */
static int
policy_valid(const json_t *doc, kbs_http_resp *resp)
{
	char *text = kbs_json_dumps(doc);
	kbs_policy *p = NULL;
	kbs_errbuf eb = {""};
	kbs_err rc = KBS_ERR_NOMEM;

	if (text != NULL)
		rc = kbs_policy_parse(text, strlen(text), &p, &eb);
	free(text);
	if (rc == KBS_OK && kbs_policy_get_kind(p) != KBS_POLICY_INTEL) {
		rc = KBS_ERR_INVALID;
		snprintf(eb.msg, sizeof(eb.msg), "attestation_type is required");
	}
	kbs_policy_free(p);
	if (rc == KBS_OK)
		return 0;
	kbs_intel_reply_error(resp, rc == KBS_ERR_NOMEM ? 500 : 400,
			      "Invalid key transfer policy: %s", eb.msg);
	return -1;
}

static void
policy_create(kbs_broker *b, const kbs_http_req *req, kbs_http_resp *resp)
{
	json_t *doc = kbs_json_parse_object((const char *)req->body,
					    req->body_len,
					    KBS_POLICY_MAX_JSON_DEPTH, NULL);
	kbs_errbuf eb = {""};
	char id[37], now[40];
	kbs_err rc;

	if (doc == NULL) {
		kbs_intel_reply_error(resp, 400, "Invalid request body");
		return;
	}
	kbs_intel_now(now);
	if (kbs_intel_uuid_new(id, &eb) != KBS_OK ||
	    json_object_set_new(doc, "id", json_string(id)) != 0 ||
	    json_object_set_new(doc, "created_at", json_string(now)) != 0) {
		kbs_intel_reply_error(resp, 500, "Failed to create policy");
		goto out;
	}
	if (policy_valid(doc, resp) != 0)
		goto out;
	if ((rc = kbs_intel_doc_write(b->intel, KBS_INTEL_POLICY, id, doc,
				      &eb)) != KBS_OK) {
		kbs_log_error("intel policy create: %s", eb.msg);
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to create policy");
		goto out;
	}
	kbs_http_reply_json(resp, 201, json_incref(doc));
	snprintf(resp->note, sizeof(resp->note), "intel policy %s created", id);
out:
	json_decref(doc);
}

static int
list_one(const char *id, json_t *doc, void *arg)
{
	(void)id;
	json_array_append(arg, doc);
	return 0;
}

static void
policy_list(kbs_broker *b, kbs_http_resp *resp)
{
	json_t *out = json_array();
	kbs_err rc = KBS_ERR_NOMEM;

	if (out == NULL ||
	    (rc = kbs_intel_doc_foreach(b->intel, KBS_INTEL_POLICY, list_one, out,
					NULL)) != KBS_OK) {
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to search policies");
		json_decref(out);
		return;
	}
	kbs_http_reply_json(resp, 200, out);
}

static void
policy_get(kbs_broker *b, const char *id, kbs_http_resp *resp)
{
	json_t *doc = NULL;
	kbs_err rc = kbs_intel_policy_load(b->intel, id, &doc, NULL);

	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key transfer policy with "
				      "specified id does not exist");
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to retrieve policy");
	else
		kbs_http_reply_json(resp, 200, doc);
}

static void
policy_delete(kbs_broker *b, const char *id, kbs_http_resp *resp)
{
	kbs_intel *in = b->intel;
	kbs_errbuf eb = {""};
	json_t *doc = NULL;
	kbs_err rc;
	int used = 0;

	if ((rc = kbs_intel_lock_take(in, &eb)) != KBS_OK) {
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to delete policy");
		return;
	}
	rc = kbs_intel_policy_load(in, id, &doc, &eb);
	used = rc == KBS_OK ? kbs_intel_policy_in_use(in, id) : 0;
	if (rc == KBS_OK && used == 0)
		rc = kbs_intel_doc_remove(in, KBS_INTEL_POLICY, id, &eb);
	kbs_intel_unlock(in);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key transfer policy with "
				      "specified id does not exist");
	else if (rc != KBS_OK || used < 0)
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to delete policy");
	else if (used)
		kbs_intel_reply_error(resp, 400, "Key transfer policy is "
				      "associated with keys");
	else {
		kbs_http_reply_bytes(resp, 204, NULL, NULL, 0);
		snprintf(resp->note, sizeof(resp->note), "intel policy %s deleted",
			 id);
	}
	json_decref(doc);
}

void
kbs_intel_handle_policies(void *arg, const kbs_http_req *req,
			  kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	const char *rest = req->path + strlen(POLICIES_PATH), *m = req->method;

	if (*rest != '\0' && (*rest != '/' || !kbs_intel_uuid_ok(rest + 1,
								 strlen(rest + 1)))) {
		kbs_intel_reply_error(resp, 404, "Not found");
		return;
	}
	if (kbs_intel_admin(b, req, resp) != 0 ||
	    (strcmp(m, "DELETE") != 0 && !kbs_intel_media_ok(req, resp)))
		return;
	if (*rest == '\0' && strcmp(m, "POST") == 0)
		policy_create(b, req, resp);
	else if (*rest == '\0' && strcmp(m, "GET") == 0)
		policy_list(b, resp);
	else if (*rest == '\0')
		kbs_intel_reply_error(resp, 405, "Method not allowed");
	else if (strcmp(m, "GET") == 0)
		policy_get(b, rest + 1, resp);
	else if (strcmp(m, "DELETE") == 0)
		policy_delete(b, rest + 1, resp);
	else
		kbs_intel_reply_error(resp, 405, "Key transfer policies cannot "
				      "be updated; create a new one");
}
