/*
 * store_router.c - tests of common/store_router.c without a KMIP server:
 * pattern matching and validation, first-match order, the fallback, and
 * that every operation reaches the chosen backend (two filesystem stores
 * stand in for different backends).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "mem.h"
#include "store.h"
#include "tmpfile.h"
#include "unit.h"

static const char *
sub(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", kbs_unit_tmpdir(), name);
	return buf;
}

/* A router over fs "a" (fallback) and fs "b" with the given routes. */
static kbs_store *
router(const char *routes_json, kbs_err want, kbs_errbuf *eb)
{
	kbs_store *fs = NULL, *r = NULL;
	json_t *stores, *routes;
	char a[128], b[128];

	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(sub("a", a, sizeof(a)), &fs, eb),
			      KBS_OK);
	stores = json_pack("{s:{s:s,s:s}}", "b", "type", "fs", "dir",
			   sub("b", b, sizeof(b)));
	routes = json_loads(routes_json, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(routes);
	CU_ASSERT_EQUAL(kbs_store_router_from_json(fs, stores, routes, &r, eb),
			want);
	json_decref(stores);
	json_decref(routes);
	return r;
}

/* Which of the two directories got the file. */
static void
expect_in(const char *which, const char *path)
{
	char dir[128], full[256], other[256];

	snprintf(full, sizeof(full), "%s/%s", sub(which, dir, sizeof(dir)),
		 path);
	snprintf(other, sizeof(other), "%s/%s",
		 sub(which[0] == 'a' ? "b" : "a", dir, sizeof(dir)), path);
	CU_ASSERT_EQUAL(access(full, F_OK), 0);
	CU_ASSERT_NOT_EQUAL(access(other, F_OK), 0);
}

static void
test_routing(void)
{
	kbs_errbuf eb = {{0}};
	kbs_store *r = router("[{\"pattern\": \"kmip/**\", \"store\": \"b\"},"
			      " {\"pattern\": \"*/keys/*\", \"store\": \"b\"},"
			      " {\"pattern\": \"x/y/z\", \"store\": \"b\"},"
			      " {\"pattern\": \"x/*/*\", \"store\": \"fs\"},"
			      " {\"pattern\": \"x/**\", \"store\": \"b\"}]",
			      KBS_OK, &eb);
	static const char *const to_b[] = {"kmip/a/b", "any/keys/k", "x/y/z"};
	static const char *const to_a[] = {"kmipx/a/b", "any/key/k", "x/y/w",
					   "other/a/b"};
	uint8_t *out = NULL;
	size_t i, len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (i = 0; i < sizeof(to_b) / sizeof(to_b[0]); i++) {
		CU_ASSERT_EQUAL(kbs_store_put(r, to_b[i], (const uint8_t *)"v",
					      1, &eb), KBS_OK);
		expect_in("b", to_b[i]);
	}
	for (i = 0; i < sizeof(to_a) / sizeof(to_a[0]); i++) {
		CU_ASSERT_EQUAL(kbs_store_put(r, to_a[i], (const uint8_t *)"w",
					      1, &eb), KBS_OK);
		expect_in("a", to_a[i]);
	}
	CU_ASSERT_EQUAL(kbs_store_get(r, "kmip/a/b", &out, &len, &eb), KBS_OK);
	CU_ASSERT(len == 1 && out[0] == 'v');
	kbs_freezero(out, len);
	CU_ASSERT_EQUAL(kbs_store_del(r, "kmip/a/b", &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_get(r, "kmip/a/b", &out, &len, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_store_put(r, "kmip/../b", (const uint8_t *)"v", 1,
				      &eb), KBS_ERR_INVALID);
	CU_ASSERT_STRING_EQUAL(kbs_store_router_pick(r, "kmip/a/b"), "fs");
	CU_ASSERT_PTR_NULL(kbs_store_router_pick(r, "kmip/a"));
	CU_ASSERT_PTR_NULL(kbs_store_router_pick(r, "kmip/../b"));
	kbs_store_free(r);
}

static void
test_bad_config(void)
{
	kbs_errbuf eb = {{0}};
	static const char *const bad[] = {
		"[{\"pattern\": \"kmip/../x\", \"store\": \"b\"}]",
		"[{\"pattern\": \"**/x\", \"store\": \"b\"}]",
		"[{\"pattern\": \"a/b/c/d\", \"store\": \"b\"}]",
		"[{\"pattern\": \"\", \"store\": \"b\"}]",
		"[{\"pattern\": \"a//b\", \"store\": \"b\"}]",
		"[{\"pattern\": \"a/.b/c\", \"store\": \"b\"}]",
		"[{\"pattern\": \"kmip/**\", \"store\": \"nosuch\"}]",
		"[{\"pattern\": \"kmip/**\"}]",
		"[{\"pattern\": \"kmip/**\", \"store\": \"b\", \"x\": 1}]",
		"[\"kmip/**\"]",
		"{}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		eb.msg[0] = '\0';
		CU_ASSERT_PTR_NULL(router(bad[i], KBS_ERR_CONFIG, &eb));
		CU_ASSERT(eb.msg[0] != '\0');
	}
	/* A store of unknown type, and one defined with the fallback name. */
	{
		kbs_store *fs = NULL, *r = NULL;
		char a[128];
		json_t *st = json_pack("{s:{s:s}}", "v", "type", "vault");

		CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(sub("a", a, sizeof(a)),
						       &fs, &eb), KBS_OK);
		CU_ASSERT_EQUAL(kbs_store_router_from_json(fs, st, NULL, &r,
							   &eb),
				KBS_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(r);
		json_decref(st);
		st = json_pack("{s:{s:s,s:s}}", "fs", "type", "fs", "dir", a);
		CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(a, &fs, &eb), KBS_OK);
		CU_ASSERT_EQUAL(kbs_store_router_from_json(fs, st, NULL, &r,
							   &eb),
				KBS_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(r);
		json_decref(st);
	}
}

/* A spend that counts its calls and answers rc. */
struct spend_rec {
	int calls;
	kbs_err rc;
};

static kbs_err
spend_rec(void *arg, kbs_errbuf *eb)
{
	struct spend_rec *s = arg;

	s->calls++;
	return s->rc == KBS_OK ? KBS_OK : kbs_errf(eb, s->rc, "already used");
}

/* kbs_store_get_spend through a router to filesystem stores (no database
 * for the jti): spent first, then read; a failed spend reads nothing. */
static void
test_get_spend(void)
{
	kbs_errbuf eb = {{0}};
	kbs_store *r = router("[{\"pattern\": \"s/**\", \"store\": \"b\"}]",
			      KBS_OK, &eb);
	struct spend_rec rec = {0, KBS_OK};
	kbs_store_jti j;
	uint8_t *out = NULL;
	size_t len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	memset(&j, 0, sizeof(j));
	j.spend = spend_rec;
	j.arg = &rec;
	CU_ASSERT_EQUAL(kbs_store_put(r, "s/k/1", (const uint8_t *)"v", 1, &eb),
			KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_get_spend(r, "s/k/1", &j, &out, &len, &eb),
			KBS_OK);
	CU_ASSERT(len == 1 && out[0] == 'v' && rec.calls == 1 && !j.failed);
	kbs_freezero(out, len);
	out = NULL;
	/* Spent before the read, so also for a resource that is missing. */
	CU_ASSERT_EQUAL(kbs_store_get_spend(r, "s/k/2", &j, &out, &len, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT(rec.calls == 2 && !j.failed && out == NULL);
	rec.rc = KBS_ERR_DENIED;
	CU_ASSERT_EQUAL(kbs_store_get_spend(r, "s/k/1", &j, &out, &len, &eb),
			KBS_ERR_DENIED);
	CU_ASSERT(rec.calls == 3 && j.failed && out == NULL);
	/* Nothing to spend: a plain get; a bad path spends nothing. */
	CU_ASSERT_EQUAL(kbs_store_get_spend(r, "s/k/1", NULL, &out, &len, &eb),
			KBS_OK);
	kbs_freezero(out, len);
	CU_ASSERT_EQUAL(kbs_store_get_spend(r, "s/../1", &j, &out, &len, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT(rec.calls == 3);
	kbs_store_free(r);
}

static const kbs_unit_test tests[] = {
	{"routing", test_routing},
	{"bad_config", test_bad_config},
	{"get_spend", test_get_spend},
	{NULL, NULL},
};

KBS_UNIT_MAIN("store_router", tests)
