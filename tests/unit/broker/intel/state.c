/*
 * Tests for broker/intel/state.c: the replies every /kbs/v1 handler shares
 * (Intel's error body, the media-type check, the admin check re-worded in
 * Intel's body) and the file-backed document store (read, write, remove,
 * list, which policies keys use).  The database backing (pg.c) is
 * covered by tests/blackbox/test_ha.py against a real PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "intel_int.h"
#include "tmpfile.h"
#include "unit.h"

#define K1 "7b5f0e2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
#define K2 "0d1e2f3a-4b5c-4d6e-9f80-112233445566"
#define P1 "37965f5f-ccaf-4cdc-a356-a8ed5268a5bf"

/* The JSON body of resp as an object (new reference), or NULL. */
static json_t *
body(const kbs_http_resp *resp)
{
	return resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL)
			  : NULL;
}

static void
expect_error(kbs_http_resp *resp, int status, const char *msg)
{
	json_t *b = body(resp);
	const char *e = json_string_value(json_object_get(b, "error"));
	char want[512];

	snprintf(want, sizeof(want), "%d: %s", status, msg);
	CU_ASSERT_EQUAL(resp->status, status);
	CU_ASSERT(e != NULL && strcmp(e, want) == 0);
	if (e == NULL || strcmp(e, want) != 0)
		fprintf(stderr, "error %s, want %s\n", e ? e : "(none)", want);
	/* Only "error": Intel's clients decode it strictly. */
	CU_ASSERT_EQUAL(json_object_size(b), 1);
	json_decref(b);
	kbs_http_resp_clear(resp);
}

static void
test_reply_error(void)
{
	kbs_http_resp resp = {0};
	char big[1000];

	kbs_intel_reply_error(&resp, 404, "Key %s does not exist", "k");
	CU_ASSERT(strcmp(resp.note, "404: Key k does not exist") == 0);
	expect_error(&resp, 404, "Key k does not exist");
	/* A long message is cut, never overflows. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kbs_intel_reply_error(&resp, 400, "%s", big);
	CU_ASSERT_EQUAL(resp.status, 400);
	CU_ASSERT(resp.body != NULL && resp.body_len < sizeof(big));
	kbs_http_resp_clear(&resp);
	CU_ASSERT_EQUAL(kbs_intel_store_status(KBS_ERR_NETWORK), 503);
	CU_ASSERT_EQUAL(kbs_intel_store_status(KBS_ERR_IO), 500);
	CU_ASSERT_EQUAL(kbs_intel_store_status(KBS_ERR_NOT_FOUND), 500);
}

static int
media(const char *accept, const char *ctype, const char *data)
{
	kbs_http_kv h[2];
	kbs_http_req req = {0};
	kbs_http_resp resp = {0};
	size_t n = 0;
	int ok;

	if (accept != NULL)
		h[n++] = (kbs_http_kv){"Accept", accept};
	if (ctype != NULL)
		h[n++] = (kbs_http_kv){"Content-Type", ctype};
	req.method = "POST";
	req.path = "/kbs/v1/keys";
	req.headers = h;
	req.n_headers = n;
	req.body = (const uint8_t *)data;
	req.body_len = data ? strlen(data) : 0;
	ok = kbs_intel_media_ok(&req, &resp);
	CU_ASSERT_EQUAL(resp.status, ok ? 0 : 415);
	kbs_http_resp_clear(&resp);
	return ok;
}

static void
test_media(void)
{
	CU_ASSERT_EQUAL(media("application/json", NULL, NULL), 1);
	CU_ASSERT_EQUAL(media("application/json", "application/json", "{}"), 1);
	CU_ASSERT_EQUAL(media(NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(media("*/*", NULL, NULL), 0);
	CU_ASSERT_EQUAL(media("application/json; charset=utf-8", NULL, NULL), 0);
	CU_ASSERT_EQUAL(media("application/json", NULL, "{}"), 0);
	CU_ASSERT_EQUAL(media("application/json", "text/plain", "{}"), 0);
}

/* The admin refusal of authz.h, in Intel's body with its status. */
static void
test_admin_reworded(void)
{
	static kbs_admin_cfg closed = {.max_token_life = 3600};
	static kbs_admin_cfg open = {.insecure_allow_all = 1,
				     .max_token_life = 3600};
	kbs_http_kv h = {"Authorization", "Bearer not.a.token"};
	kbs_http_req req = {0};
	kbs_http_resp resp = {0}, passed = {0};
	kbs_intel in;
	json_t *b;
	const char *e;

	memset(&in, 0, sizeof(in));
	CU_ASSERT_EQUAL_FATAL(kbs_authz_new(&closed, NULL, &in.authz, NULL),
			      KBS_OK);
	req.method = "GET";
	req.path = "/kbs/v1/keys";
	req.headers = &h;
	req.n_headers = 1;
	CU_ASSERT_EQUAL(kbs_intel_admin(&in, &req, &resp), -1);
	CU_ASSERT_EQUAL(resp.status, 401);
	b = body(&resp);
	e = json_string_value(json_object_get(b, "error"));
	/* Intel's shape, not the KBS protocol's: no "type", no variant. */
	CU_ASSERT(e != NULL && strncmp(e, "401: ", 5) == 0 &&
		  strstr(e, "AdminAuthAccess") == NULL);
	CU_ASSERT_PTR_NULL(json_object_get(b, "type"));
	json_decref(b);
	kbs_http_resp_clear(&resp);
	kbs_authz_free(in.authz);
	CU_ASSERT_EQUAL_FATAL(kbs_authz_new(&open, NULL, &in.authz, NULL),
			      KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_admin(&in, &req, &passed), 0);
	CU_ASSERT_EQUAL(passed.status, 0);
	CU_ASSERT_PTR_NULL(passed.body);
	kbs_authz_free(in.authz);
}

static kbs_intel docs;

static void
open_docs(void)
{
	memset(&docs, 0, sizeof(docs));
	pthread_mutex_init(&docs.lock, NULL);
	docs.keys_dir = kbs_fs_path(kbs_unit_tmpdir(), "keys");
	docs.pol_dir = kbs_fs_path(kbs_unit_tmpdir(), "key-transfer-policies");
	CU_ASSERT_FATAL(docs.keys_dir != NULL && docs.pol_dir != NULL);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_mkdirs(docs.keys_dir, 0700, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_mkdirs(docs.pol_dir, 0700, NULL), KBS_OK);
}

static int
count(const char *id, json_t *doc, void *arg)
{
	(void)id;
	(void)doc;
	++*(int *)arg;
	return 0;
}

static void
test_documents(void)
{
	json_t *k1 = json_pack("{s:s, s:s}", "id", K1, "transfer_policy_id", P1);
	json_t *k2 = json_pack("{s:s}", "id", K2);
	json_t *p1 = json_pack("{s:s, s:s}", "id", P1, "attestation_type", "SGX");
	json_t *got = NULL;
	char path[64], *junk;
	int n = 0;

	open_docs();
	CU_ASSERT_EQUAL(kbs_intel_doc_write(&docs, KBS_INTEL_KEY, K1, k1, NULL),
			KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_doc_write(&docs, KBS_INTEL_KEY, K2, k2, NULL),
			KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_doc_write(&docs, KBS_INTEL_POLICY, P1, p1,
					    NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_key_load(&docs, K1, &got, NULL), KBS_OK);
	CU_ASSERT(json_equal(got, k1));
	json_decref(got);
	got = NULL;
	/* Kinds are apart: a key id is no policy. */
	CU_ASSERT_EQUAL(kbs_intel_policy_load(&docs, K1, &got, NULL),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_intel_policy_load(&docs, "../keys/" K1, &got, NULL),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(got);
	CU_ASSERT_EQUAL(kbs_intel_policy_in_use(&docs, P1), 1);
	CU_ASSERT_EQUAL(kbs_intel_policy_in_use(&docs, K2), 0);
	/* Files that are not <uuid>.json are not documents. */
	junk = kbs_fs_path(docs.keys_dir, "notes.json");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(junk, (const uint8_t *)"{}", 2, 0600,
					    NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_doc_foreach(&docs, KBS_INTEL_KEY, count, &n,
					      NULL), KBS_OK);
	CU_ASSERT_EQUAL(n, 2);
	unlink(junk);
	free(junk);
	CU_ASSERT_EQUAL(kbs_intel_doc_remove(&docs, KBS_INTEL_KEY, K1, NULL),
			KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_doc_remove(&docs, KBS_INTEL_KEY, K1, NULL),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_intel_key_load(&docs, K1, &got, NULL),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_intel_policy_in_use(&docs, P1), 0);
	kbs_intel_key_path(K2, path);
	CU_ASSERT_STRING_EQUAL(path, KBS_INTEL_REPOSITORY "/key/" K2);
	/* The lock without a database is the mutex alone. */
	CU_ASSERT_EQUAL(kbs_intel_lock_take(&docs, NULL), KBS_OK);
	kbs_intel_unlock(&docs);
	free(docs.keys_dir);
	free(docs.pol_dir);
	pthread_mutex_destroy(&docs.lock);
	json_decref(k1);
	json_decref(k2);
	json_decref(p1);
}

static const kbs_unit_test tests[] = {
	{"Intel's error body and store statuses", test_reply_error},
	{"Accept and Content-Type", test_media},
	{"admin refusals in Intel's body", test_admin_reworded},
	{"documents in files", test_documents},
	{NULL, NULL},
};

KBS_UNIT_MAIN("intel_state", tests)
