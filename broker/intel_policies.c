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
	if (kbs_intel_doc_write(kbs_intel_policies_dir(b->intel), id, doc,
				&eb) != KBS_OK) {
		kbs_log_error("intel policy create: %s", eb.msg);
		kbs_intel_reply_error(resp, 500, "Failed to create policy");
		goto out;
	}
	kbs_http_reply_json(resp, 201, json_incref(doc));
	snprintf(resp->note, sizeof(resp->note), "intel policy %s created", id);
out:
	json_decref(doc);
}

static void
policy_list(kbs_broker *b, kbs_http_resp *resp)
{
	const char *dir = kbs_intel_policies_dir(b->intel);
	json_t *out = json_array(), *doc;
	DIR *d = opendir(dir);
	struct dirent *de;
	char id[37];

	if (d == NULL || out == NULL) {
		kbs_intel_reply_error(resp, 500, "Failed to search policies");
		json_decref(out);
		if (d != NULL)
			closedir(d);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 41 || strcmp(de->d_name + 36, ".json") != 0 ||
		    !kbs_intel_uuid_ok(de->d_name, 36))
			continue;
		memcpy(id, de->d_name, 36);
		id[36] = '\0';
		if (kbs_intel_doc_read(dir, id, &doc, NULL) == KBS_OK)
			json_array_append_new(out, doc);
	}
	closedir(d);
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
		kbs_intel_reply_error(resp, 500, "Failed to retrieve policy");
	else
		kbs_http_reply_json(resp, 200, doc);
}

static void
policy_delete(kbs_broker *b, const char *id, kbs_http_resp *resp)
{
	kbs_intel *in = b->intel;
	char name[48], *path = NULL;
	kbs_errbuf eb = {""};
	json_t *doc = NULL;
	kbs_err rc;
	int used;

	pthread_mutex_lock(kbs_intel_lock(in));
	rc = kbs_intel_policy_load(in, id, &doc, &eb);
	used = rc == KBS_OK ? kbs_intel_policy_in_use(in, id) : 0;
	if (rc == KBS_OK && used == 0) {
		snprintf(name, sizeof(name), "/%s.json", id);
		path = malloc(strlen(kbs_intel_policies_dir(in)) + sizeof(name));
		if (path == NULL)
			rc = KBS_ERR_NOMEM;
		else {
			memcpy(path, kbs_intel_policies_dir(in),
			       strlen(kbs_intel_policies_dir(in)) + 1);
			memcpy(path + strlen(path), name, strlen(name) + 1);
			rc = kbs_fs_remove(path, &eb);
		}
	}
	pthread_mutex_unlock(kbs_intel_lock(in));
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key transfer policy with "
				      "specified id does not exist");
	else if (rc != KBS_OK || used < 0)
		kbs_intel_reply_error(resp, 500, "Failed to delete policy");
	else if (used)
		kbs_intel_reply_error(resp, 400, "Key transfer policy is "
				      "associated with keys");
	else {
		kbs_http_reply_bytes(resp, 204, NULL, NULL, 0);
		snprintf(resp->note, sizeof(resp->note), "intel policy %s deleted",
			 id);
	}
	free(path);
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
