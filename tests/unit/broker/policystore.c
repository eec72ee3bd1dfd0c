/* Tests for the versioned policy store (broker/policystore.c). */
#define _XOPEN_SOURCE 700
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "broker_int.h"
#include "fsutil.h"
#include "tmpfile.h"
#include "unit.h"

#define ALLOW "{\"version\": 1, \"id\": \"allow\", \"rules\": [{\"id\": \"all\", " \
	"\"effect\": \"allow\", \"resources\": \"**\"}]}"
#define DENY "{\"version\": 1, \"id\": \"deny\", \"rules\": []}"
#define KEYS_ONLY "{\"version\": 1, \"rules\": [{\"id\": \"keys\", " \
	"\"effect\": \"allow\", \"resources\": \"*/key/*\"}]}"
#define BROKEN "{\"version\": 1,\n \"rules\": [{\"id\": \"x\", \"effect\": " \
	"\"allow\", \"resources\": \"**\", \"wehn\": {}}]}"

static const char *dir;
static char file[128];

static void
fresh_dir(void)
{
	dir = kbs_unit_mkdtemp();
	snprintf(file, sizeof(file), "%s/policies.json", dir);
}

static kbs_policystore *
open_store(long long max_versions)
{
	kbs_policystore *s = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL(kbs_policystore_new(NULL, dir, max_versions, 1, &s, &eb),
			KBS_OK);
	if (s == NULL)
		fprintf(stderr, "open: %s\n", eb.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	return s;
}

/* 1 allowed, 0 denied, -1 no decision; *ref the policy used. */
static int
decide(kbs_policystore *s, const char *path, kbs_policy_ref *ref)
{
	kbs_policy_decision *d = NULL;
	kbs_policy_ctx ctx;
	json_t *claims = json_object();
	kbs_errbuf eb = {""};
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.resource_path = path;
	ctx.now = 1760000000;
	if (kbs_policystore_eval(s, claims, &ctx, &d, ref, &eb) != KBS_OK)
		r = -1;
	else
		r = kbs_policy_decision_allowed(d);
	kbs_policy_decision_free(d);
	json_decref(claims);
	return r;
}

static void
sha_hex(const char *t, char out[65])
{
	unsigned char md[32];
	size_t i;

	EVP_Digest(t, strlen(t), md, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static kbs_err
set(kbs_policystore *s, const char *id, const char *text, kbs_policy_ref *ref)
{
	kbs_errbuf eb = {""};

	return kbs_policystore_set(s, id, text, strlen(text), ref, &eb);
}

static size_t
count_entries(void)
{
	char cmd[160];
	FILE *p;
	size_t n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls -A %s", dir);
	if ((p = popen(cmd, "r")) == NULL)
		return 0;
	while ((c = fgetc(p)) != EOF)
		n += c == '\n';
	pclose(p);
	return n;
}

static void
test_baseline_then_set(void)
{
	kbs_policystore *s;
	kbs_policy_ref ref;
	char *text = NULL, sha[65];
	size_t len = 0;
	kbs_errbuf eb = {""};
	struct stat st;

	fresh_dir();
	s = open_store(50);
	/* Built-in default: version 0, denies a token without submodules. */
	CU_ASSERT_EQUAL(decide(s, "a/key/1", &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.id, "resource-policy");
	CU_ASSERT_EQUAL(ref.version, 0);
	sha_hex(kbs_broker_default_policy, sha);
	CU_ASSERT_STRING_EQUAL(ref.sha256, sha);
	CU_ASSERT_EQUAL(stat(file, &st), -1); /* nothing written yet */

	CU_ASSERT_EQUAL(set(s, "resource-policy", ALLOW, &ref), KBS_OK);
	CU_ASSERT_EQUAL(ref.version, 1);
	sha_hex(ALLOW, sha);
	CU_ASSERT_STRING_EQUAL(ref.sha256, sha);
	CU_ASSERT_EQUAL(decide(s, "a/key/1", &ref), 1);
	CU_ASSERT_EQUAL(ref.version, 1);
	CU_ASSERT_EQUAL_FATAL(stat(file, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(count_entries(), 1); /* one file, no temp files */

	CU_ASSERT_EQUAL(kbs_policystore_get(s, "resource-policy", -1, &text,
					    &len, &ref, &eb), KBS_OK);
	CU_ASSERT(len == strlen(ALLOW) && memcmp(text, ALLOW, len) == 0);
	free(text);
	CU_ASSERT_EQUAL(kbs_policystore_get(s, "resource-policy", 0, &text,
					    &len, &ref, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(text, kbs_broker_default_policy);
	CU_ASSERT_EQUAL(ref.version, 0);
	free(text);
	CU_ASSERT_EQUAL(kbs_policystore_get(s, "resource-policy", 7, &text,
					    &len, &ref, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_policystore_get(s, "nope", -1, &text, &len, &ref,
					    &eb), KBS_ERR_NOT_FOUND);
	kbs_policystore_free(s);
}

static void
test_broken_document_keeps_the_old(void)
{
	kbs_policystore *s;
	kbs_policy_ref ref;
	kbs_errbuf eb = {""};
	uint8_t *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;
	static const char *const bad[] = {BROKEN, "{", "", "{\"version\": 2, "
		"\"rules\": []}", "{\"version\": 1, \"kind\": \"appraisal\", "
		"\"trust_vector\": {\"hardware\": [{\"value\": 2}]}}", NULL};
	size_t i;

	fresh_dir();
	s = open_store(50);
	CU_ASSERT_EQUAL(set(s, "resource-policy", ALLOW, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_fs_read(file, 1 << 20, &before, &blen, NULL), KBS_OK);
	for (i = 0; bad[i] != NULL; i++) {
		kbs_err rc = kbs_policystore_set(s, "resource-policy", bad[i],
						 strlen(bad[i]), &ref, &eb);
		CU_ASSERT(rc == KBS_ERR_INVALID || rc == KBS_ERR_TOO_LARGE);
	}
	/* The reason names line and member. */
	kbs_policystore_set(s, "resource-policy", BROKEN, strlen(BROKEN), &ref, &eb);
	CU_ASSERT(strstr(eb.msg, "line 2") != NULL);
	CU_ASSERT(strstr(eb.msg, "wehn") != NULL);
	CU_ASSERT_EQUAL(decide(s, "a/key/1", &ref), 1);
	CU_ASSERT_EQUAL(ref.version, 1);
	CU_ASSERT_EQUAL(kbs_fs_read(file, 1 << 20, &after, &alen, NULL), KBS_OK);
	CU_ASSERT(alen == blen && memcmp(before, after, alen) == 0);
	/* Bad ids never reach the file either. */
	CU_ASSERT_EQUAL(set(s, "../x", ALLOW, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(set(s, "", ALLOW, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(set(s, ".hidden", ALLOW, NULL), KBS_ERR_INVALID);
	free(before);
	free(after);
	kbs_policystore_free(s);
}

static void
test_versions_and_rollback(void)
{
	kbs_policystore *s;
	kbs_policy_ref ref;
	kbs_errbuf eb = {""};
	json_t *v = NULL;
	char sha_allow[65];

	fresh_dir();
	s = open_store(50);
	sha_hex(ALLOW, sha_allow);
	CU_ASSERT_EQUAL(set(s, "resource-policy", ALLOW, NULL), KBS_OK);
	CU_ASSERT_EQUAL(set(s, "resource-policy", DENY, &ref), KBS_OK);
	CU_ASSERT_EQUAL(ref.version, 2);
	CU_ASSERT_EQUAL(decide(s, "a/key/1", NULL), 0);

	CU_ASSERT_EQUAL(kbs_policystore_rollback(s, "resource-policy", 1, &ref,
						 &eb), KBS_OK);
	/* A new version with the old text. */
	CU_ASSERT_EQUAL(ref.version, 3);
	CU_ASSERT_STRING_EQUAL(ref.sha256, sha_allow);
	CU_ASSERT_EQUAL(decide(s, "a/key/1", &ref), 1);
	CU_ASSERT_EQUAL(ref.version, 3);

	CU_ASSERT_EQUAL(kbs_policystore_versions(s, "resource-policy", &v, &eb),
			KBS_OK);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(v, "current")), 3);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(v, "versions")), 4);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(
		json_object_get(v, "versions"), 3), "action")), "rollback");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(
		json_object_get(v, "versions"), 3), "from")), 1);
	json_decref(v);

	/* Back to the baseline (version 0): the built-in default denies. */
	CU_ASSERT_EQUAL(kbs_policystore_rollback(s, "resource-policy", 0, &ref,
						 &eb), KBS_OK);
	CU_ASSERT_EQUAL(ref.version, 4);
	CU_ASSERT_EQUAL(decide(s, "a/key/1", NULL), 0);
	CU_ASSERT_EQUAL(kbs_policystore_rollback(s, "resource-policy", 99, &ref,
						 &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_policystore_rollback(s, "nope", 1, &ref, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_policystore_versions(s, "nope", &v, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(ref.version, 4); /* untouched by the failures */
	kbs_policystore_free(s);
}

static void
test_bindings(void)
{
	kbs_policystore *s;
	kbs_policy_ref ref;
	kbs_errbuf eb = {""};
	json_t *l = NULL;

	fresh_dir();
	s = open_store(50);
	CU_ASSERT_EQUAL(set(s, "resource-policy", DENY, NULL), KBS_OK);
	CU_ASSERT_EQUAL(set(s, "tenant-a", ALLOW, NULL), KBS_OK);
	CU_ASSERT_EQUAL(set(s, "keys-only", KEYS_ONLY, NULL), KBS_OK);
	CU_ASSERT_EQUAL(decide(s, "tenant-a/key/1", &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.id, "resource-policy");

	CU_ASSERT_EQUAL(kbs_policystore_bind(s, "tenant-a/**", "tenant-a", &eb),
			KBS_OK);
	CU_ASSERT_EQUAL(decide(s, "tenant-a/key/1", &ref), 1);
	CU_ASSERT_STRING_EQUAL(ref.id, "tenant-a");
	CU_ASSERT_EQUAL(decide(s, "tenant-b/key/1", &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.id, "resource-policy");

	/* The more specific binding wins, whatever the order of binding. */
	CU_ASSERT_EQUAL(kbs_policystore_bind(s, "tenant-a/cert/*", "keys-only",
					     &eb), KBS_OK);
	CU_ASSERT_EQUAL(decide(s, "tenant-a/cert/1", &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.id, "keys-only");
	CU_ASSERT_EQUAL(decide(s, "tenant-a/key/1", &ref), 1);
	CU_ASSERT_STRING_EQUAL(ref.id, "tenant-a");

	/* Rebinding a pattern replaces it. */
	CU_ASSERT_EQUAL(kbs_policystore_bind(s, "tenant-a/cert/*", "tenant-a",
					     &eb), KBS_OK);
	CU_ASSERT_EQUAL(decide(s, "tenant-a/cert/1", &ref), 1);
	CU_ASSERT_EQUAL(kbs_policystore_list(s, &l, &eb), KBS_OK);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(l, "bindings")), 2);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(l, "policies")), 3);
	json_decref(l);

	CU_ASSERT_EQUAL(kbs_policystore_bind(s, "x/**", "nope", &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_policystore_bind(s, "x/**/y", "tenant-a", &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_policystore_bind(s, "key-*", "tenant-a", &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_policystore_unbind(s, "tenant-a/**", &eb), KBS_OK);
	CU_ASSERT_EQUAL(decide(s, "tenant-a/key/1", &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.id, "resource-policy");
	CU_ASSERT_EQUAL(kbs_policystore_unbind(s, "tenant-a/**", &eb),
			KBS_ERR_NOT_FOUND);
	/* Binding the default id before its first set: the baseline. */
	CU_ASSERT_EQUAL(kbs_policystore_bind(s, "z/**", "resource-policy", &eb),
			KBS_OK);
	kbs_policystore_free(s);
}

static void
test_restart_and_replicas(void)
{
	kbs_policystore *a, *b;
	kbs_policy_ref ref;
	kbs_errbuf eb = {""};
	uint8_t *doc = NULL;
	size_t len = 0;
	char *p;

	fresh_dir();
	a = open_store(50);
	b = open_store(50);
	CU_ASSERT_EQUAL(set(a, "tenant-a", ALLOW, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_policystore_bind(a, "tenant-a/**", "tenant-a", &eb),
			KBS_OK);
	/* b sees a's change at its next decision (one stat). */
	CU_ASSERT_EQUAL(decide(b, "tenant-a/key/1", &ref), 1);
	CU_ASSERT_STRING_EQUAL(ref.id, "tenant-a");
	/* b writes on top of a's change, not over it. */
	CU_ASSERT_EQUAL(set(b, "tenant-a", DENY, &ref), KBS_OK);
	CU_ASSERT_EQUAL(ref.version, 2);
	CU_ASSERT_EQUAL(decide(a, "tenant-a/key/1", &ref), 0);
	CU_ASSERT_EQUAL(ref.version, 2);

	/* A tampered text (hash mismatch) is refused; a and b keep theirs. */
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(file, 1 << 20, &doc, &len, NULL), KBS_OK);
	p = strstr((char *)doc, "\\\"rules\\\": []");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(p + 2, "RULES", 5);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(file, doc, len, 0600, NULL), KBS_OK);
	CU_ASSERT_EQUAL(decide(a, "tenant-a/key/1", &ref), 0);
	CU_ASSERT_EQUAL(ref.version, 2);
	/* Garbage too. */
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(file, (const uint8_t *)"{]", 2, 0600,
					    NULL), KBS_OK);
	CU_ASSERT_EQUAL(decide(b, "tenant-a/key/1", &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.id, "tenant-a");
	/* ... but a broken store does not start. */
	kbs_policystore_free(b);
	b = NULL;
	CU_ASSERT_NOT_EQUAL(kbs_policystore_new(NULL, dir, 50, 1, &b, &eb), KBS_OK);
	CU_ASSERT_PTR_NULL(b);
	/* Restore, restart: the same versions and bindings. */
	memcpy(p + 2, "rules", 5);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(file, doc, len, 0600, NULL), KBS_OK);
	kbs_policystore_free(a);
	a = open_store(50);
	CU_ASSERT_EQUAL(decide(a, "tenant-a/key/1", &ref), 0);
	CU_ASSERT_STRING_EQUAL(ref.id, "tenant-a");
	CU_ASSERT_EQUAL(ref.version, 2);
	free(doc);
	kbs_policystore_free(a);
}

static void
test_pruning(void)
{
	kbs_policystore *s;
	kbs_policy_ref ref;
	kbs_errbuf eb = {""};
	json_t *v = NULL, *doc;
	char *text = NULL;
	size_t len = 0;
	int i;

	fresh_dir();
	s = open_store(3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(set(s, "p", ALLOW, NULL), KBS_OK);
		CU_ASSERT_EQUAL(set(s, "p", DENY, NULL), KBS_OK);
	}
	CU_ASSERT_EQUAL(kbs_policystore_versions(s, "p", &v, &eb), KBS_OK);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(v, "versions")), 3);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(v, "current")), 6);
	json_decref(v);
	CU_ASSERT_EQUAL(kbs_policystore_get(s, "p", 1, &text, &len, &ref, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_policystore_get(s, "p", 4, &text, &len, &ref, &eb),
			KBS_OK);
	free(text);
	CU_ASSERT_EQUAL(kbs_policystore_rollback(s, "p", 2, &ref, &eb),
			KBS_ERR_NOT_FOUND);
	/* Texts are shared by hash: two distinct texts, not six. */
	doc = json_load_file(file, 0, NULL);
	CU_ASSERT_EQUAL(json_object_size(json_object_get(doc, "texts")), 2);
	json_decref(doc);
	kbs_policystore_free(s);
}

static void
test_legacy_state_file(void)
{
	kbs_policystore *s;
	kbs_policy_ref ref;
	char legacy[160];
	struct stat st;

	fresh_dir();
	snprintf(legacy, sizeof(legacy), "%s/resource-policy.json", dir);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(legacy, (const uint8_t *)ALLOW,
					    strlen(ALLOW), 0600, NULL), KBS_OK);
	s = open_store(50);
	CU_ASSERT_EQUAL(decide(s, "a/key/1", &ref), 1);
	CU_ASSERT_EQUAL(ref.version, 1);
	CU_ASSERT_EQUAL(set(s, "other", DENY, NULL), KBS_OK);
	/* Folded into policies.json on the first write. */
	CU_ASSERT_EQUAL(stat(legacy, &st), -1);
	CU_ASSERT_EQUAL(count_entries(), 1);
	kbs_policystore_free(s);
	s = open_store(50);
	CU_ASSERT_EQUAL(decide(s, "a/key/1", &ref), 1);
	CU_ASSERT_EQUAL(ref.version, 1);
	kbs_policystore_free(s);
}

static const kbs_unit_test tests[] = {
	{"baseline_then_set", test_baseline_then_set},
	{"broken_document_keeps_the_old", test_broken_document_keeps_the_old},
	{"versions_and_rollback", test_versions_and_rollback},
	{"bindings", test_bindings},
	{"restart_and_replicas", test_restart_and_replicas},
	{"pruning", test_pruning},
	{"legacy_state_file", test_legacy_state_file},
	{NULL, NULL},
};

KBS_UNIT_MAIN("broker_policystore", tests)
