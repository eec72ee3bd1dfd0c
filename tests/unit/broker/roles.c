/* Tests for path patterns and the admin role table (broker/roles.c). */
#include <string.h>

#include "broker_int.h"
#include "unit.h"

static void
test_pattern_valid(void)
{
	static const char *const good[] = {
		"**", "*", "a", "tenant-a/**", "*/key/*", "a/b/c", "a.b/_c/-d",
		"kbs/v0/resource/tenant-a/**", NULL,
	};
	static const char *const bad[] = {
		"", "/a", "a/", "a//b", "**/a", "a/**/b", "key-*", "*a", "..",
		"a/../b", ".hidden", "a/%2F/b", "a b", "a/***", NULL,
	};
	char long_pat[128];
	size_t i;

	for (i = 0; good[i] != NULL; i++)
		CU_ASSERT_EQUAL(kbs_broker_pattern_valid(good[i]), 1);
	for (i = 0; bad[i] != NULL; i++) {
		CU_ASSERT_EQUAL(kbs_broker_pattern_valid(bad[i]), 0);
		if (kbs_broker_pattern_valid(bad[i]))
			fprintf(stderr, "accepted %s\n", bad[i]);
	}
	CU_ASSERT_EQUAL(kbs_broker_pattern_valid(NULL), 0);
	/* 33 segments: over the bound. */
	for (i = 0; i < 33; i++)
		memcpy(long_pat + 2 * i, "a/", 2);
	long_pat[2 * 33 - 1] = '\0';
	CU_ASSERT_EQUAL(kbs_broker_pattern_valid(long_pat), 0);
}

static void
test_pattern_match(void)
{
	static const struct {
		const char *pat, *path;
		int want;
	} t[] = {
		{"**", "a/b/c", 1},
		{"tenant-a/**", "tenant-a/key/1", 1},
		{"tenant-a/**", "tenant-b/key/1", 0},
		{"tenant-a/**", "tenant-a", 1},
		{"tenant-a/**", "tenant-ab/key/1", 0},
		{"*/key/*", "x/key/1", 1},
		{"*/key/*", "x/cert/1", 0},
		{"*/key/*", "x/key/1/2", 0},
		{"*/key/*", "x/key", 0},
		{"a/b/c", "a/b/c", 1},
		{"a/b/c", "a/b/cd", 0},
		{"a/b/cd", "a/b/c", 0},
		{"*", "", 0},
		{"*/*", "a//b", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = kbs_broker_pattern_match(t[i].pat, t[i].path);
		CU_ASSERT_EQUAL(got, t[i].want);
		if (got != t[i].want)
			fprintf(stderr, "%s ~ %s: %d\n", t[i].pat, t[i].path, got);
	}
}

static void
test_pattern_specificity(void)
{
	CU_ASSERT(kbs_broker_pattern_cmp("a/b/**", "a/**") < 0);
	CU_ASSERT(kbs_broker_pattern_cmp("a/**", "a/b/**") > 0);
	CU_ASSERT(kbs_broker_pattern_cmp("a/b/c", "a/b/*") < 0);
	CU_ASSERT(kbs_broker_pattern_cmp("*/*/*", "**") < 0);
	CU_ASSERT(kbs_broker_pattern_cmp("a/*/c", "*/b/c") < 0);
	CU_ASSERT(kbs_broker_pattern_cmp("tenant-a/**", "**") < 0);
	CU_ASSERT(kbs_broker_pattern_cmp("a/b", "a/b") == 0);
	/* Different literals: a fixed, antisymmetric order. */
	CU_ASSERT(kbs_broker_pattern_cmp("a/**", "b/**") ==
		  -kbs_broker_pattern_cmp("b/**", "a/**"));
	CU_ASSERT(kbs_broker_pattern_cmp("a/**", "b/**") != 0);
}

static kbs_roles *
roles_from(const char *text)
{
	json_error_t jerr;
	json_t *cfg = json_loads(text, 0, &jerr);
	kbs_roles *r = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(kbs_roles_parse(cfg, &r, &eb), KBS_OK);
	json_decref(cfg);
	return r;
}

static void
test_roles_table(void)
{
	kbs_roles *r = roles_from(
		"{\"admin\": [{\"method\": \"*\", \"path\": \"/kbs/v0/**\"}],"
		" \"tenant-a\": ["
		"  {\"method\": \"POST\", \"path\": \"/kbs/v0/resource/tenant-a/**\"},"
		"  {\"method\": \"DELETE\", \"path\": \"/kbs/v0/resource/tenant-a/**\"}],"
		" \"reader\": [{\"method\": \"GET\", \"path\": \"/kbs/v0/policies/*\"}]}");
	static const struct {
		const char *role, *method, *path;
		int want;
	} t[] = {
		{"admin", "POST", "/kbs/v0/resource-policy", 1},
		{"admin", "DELETE", "/kbs/v0/resource/x/y/z", 1},
		{"admin", "GET", "/metrics", 0},
		{"tenant-a", "POST", "/kbs/v0/resource/tenant-a/key/1", 1},
		{"tenant-a", "DELETE", "/kbs/v0/resource/tenant-a/key/1", 1},
		{"tenant-a", "GET", "/kbs/v0/resource/tenant-a/key/1", 0},
		{"tenant-a", "POST", "/kbs/v0/resource/tenant-b/key/1", 0},
		{"tenant-a", "POST", "/kbs/v0/resource-policy", 0},
		{"tenant-a", "POST", "/kbs/v0/policies/tenant-a", 0},
		/* Encoded forms are matched decoded, and odd ones refused. */
		{"tenant-a", "POST", "/kbs/v0/resource/%74enant-a/key/1", 1},
		{"tenant-a", "POST", "/kbs/v0/resource/tenant-a%2F..%2Ftenant-b/key/1", 0},
		{"tenant-a", "POST", "/kbs/v0/resource/tenant-a/../tenant-b/k", 0},
		{"tenant-a", "POST", "/kbs/v0/resource/tenant-a/key/%", 0},
		{"reader", "GET", "/kbs/v0/policies/p1", 1},
		{"reader", "GET", "/kbs/v0/policies/p1/versions", 0},
		{"reader", "POST", "/kbs/v0/policies/p1", 0},
		{"nobody", "GET", "/kbs/v0/policies/p1", 0},
		{"", "GET", "/kbs/v0/policies/p1", 0},
	};
	size_t i;

	CU_ASSERT_EQUAL(kbs_roles_count(r), 3);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = kbs_roles_allows(r, t[i].role, t[i].method, t[i].path);
		CU_ASSERT_EQUAL(got, t[i].want);
		if (got != t[i].want)
			fprintf(stderr, "%s %s %s: %d\n", t[i].role, t[i].method,
				t[i].path, got);
	}
	CU_ASSERT_EQUAL(kbs_roles_allows(NULL, "admin", "GET", "/kbs/v0/x"), 0);
	kbs_roles_free(r);
	kbs_roles_free(NULL);
}

static void
test_roles_bad_config(void)
{
	static const char *const bad[] = {
		"[]", "{\"a\": {}}", "{\"a\": [1]}",
		"{\"a\": [{\"method\": \"GET\"}]}",
		"{\"a\": [{\"method\": \"FETCH\", \"path\": \"/kbs/v0/**\"}]}",
		"{\"a\": [{\"method\": \"get\", \"path\": \"/kbs/v0/**\"}]}",
		"{\"a\": [{\"method\": \"GET\", \"path\": \"kbs/v0/**\"}]}",
		"{\"a\": [{\"method\": \"GET\", \"path\": \"/kbs/**/x\"}]}",
		"{\"a\": [{\"method\": \"GET\", \"path\": \"/kbs/v0/**\", \"x\": 1}]}",
		"{\"ok\": [{\"method\": \"GET\", \"path\": \"/kbs/v0/**\"}],"
		" \"bad\": [{\"method\": \"GET\", \"path\": \"/\"}]}",
		NULL,
	};
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		json_t *cfg = json_loads(bad[i], 0, NULL);
		kbs_roles *r = NULL;
		kbs_errbuf eb = {""};

		CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
		CU_ASSERT_EQUAL(kbs_roles_parse(cfg, &r, &eb), KBS_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(r);
		CU_ASSERT(strstr(eb.msg, "admin.roles") != NULL);
		json_decref(cfg);
	}
}

static const kbs_unit_test tests[] = {
	{"pattern_valid", test_pattern_valid},
	{"pattern_match", test_pattern_match},
	{"pattern_specificity", test_pattern_specificity},
	{"roles_table", test_roles_table},
	{"roles_bad_config", test_roles_bad_config},
	{NULL, NULL},
};

KBS_UNIT_MAIN("broker_roles", tests)
