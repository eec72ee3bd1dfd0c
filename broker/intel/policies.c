/*
 * policies.c - /kbs/v1/key-transfer-policies (spec/intel-kbs.md
 * 2.4 and 3): create, list, get and delete Intel key-transfer policies.
 *
 * A policy is validated by the policy engine (kbs_policy_parse, kind
 * KBS_POLICY_INTEL: members, types, hex lengths, the object of its
 * attestation_type) exactly as it will be evaluated at transfer time, and
 * stored as a document (state.c).  The
 * server assigns "id" and "created_at"; values sent by the client are
 * replaced, as Intel's KBS does.  There is no update, as in Intel's API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intel_int.h"
#include "json.h"
#include "log.h"
#include "policy.h"

/* Validate doc as the engine will read it; 0, or 400 written. */
static int
policy_valid(const json_t *doc, kbs_http_resp *resp)
{
	kbs_policy *p = NULL;
	kbs_errbuf eb = {""};
	kbs_err rc = kbs_intel_policy_parse(doc, &p, &eb);

	kbs_policy_free(p);
	if (rc == KBS_OK)
		return 0;
	kbs_intel_reply_error(resp, rc == KBS_ERR_NOMEM ? 500 : 400,
			      "Invalid key transfer policy: %s", eb.msg);
	return -1;
}

void
kbs_intel_policy_create(kbs_intel *in, const kbs_http_req *req,
			kbs_http_resp *resp)
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
	if ((rc = kbs_intel_doc_write(in, KBS_INTEL_POLICY, id, doc,
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

void
kbs_intel_policy_list(kbs_intel *in, kbs_http_resp *resp)
{
	json_t *out = json_array();
	kbs_err rc = KBS_ERR_NOMEM;

	if (out == NULL ||
	    (rc = kbs_intel_doc_foreach(in, KBS_INTEL_POLICY, list_one, out,
					NULL)) != KBS_OK) {
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to search policies");
		json_decref(out);
		return;
	}
	kbs_http_reply_json(resp, 200, out);
}

void
kbs_intel_policy_get(kbs_intel *in, const char *id, kbs_http_resp *resp)
{
	json_t *doc = NULL;
	kbs_err rc = kbs_intel_policy_load(in, id, &doc, NULL);

	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key transfer policy with "
				      "specified id does not exist");
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to retrieve policy");
	else
		kbs_http_reply_json(resp, 200, doc);
}

void
kbs_intel_policy_delete(kbs_intel *in, const char *id,
			kbs_http_resp *resp)
{
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
