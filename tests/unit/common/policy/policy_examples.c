/*
 * Runs every example under policies/examples/: each directory holds
 * policy.json and cases.json ({"cases": [{"name", "claims": "<file>" or
 * {inline}, "resource", "query"?, "issuer"?, "expect": "allow"|"deny",
 * "rule": id|null}]}).  Appraisal examples give "tee" and expect an
 * ear.status, optionally with some "vector" values.
 */
#include <dirent.h>
#include <string.h>

#include "policy.h"
#include "unit.h"

static int ndirs, ncases;

static json_t *
claims_of(const char *dir, const json_t *c)
{
	const json_t *v = json_object_get(c, "claims");
	char path[1500];

	if (json_is_object(v))
		return json_incref((json_t *)v);
	snprintf(path, sizeof(path), "%s/%s", dir, json_string_value(v));
	return json_load_file(path, 0, NULL);
}

static int
same_rule(const char *got, const json_t *want)
{
	if (json_is_null(want) || want == NULL)
		return got == NULL;
	return got != NULL && strcmp(got, json_string_value(want)) == 0;
}

/* One resource case; 1 when the decision is the expected one. */
static int
run_resource(const kbs_policy *p, const json_t *c, json_t *claims)
{
	kbs_policy_ctx ctx = {
		json_string_value(json_object_get(c, "resource")),
		json_object_get(c, "query"),
		json_string_value(json_object_get(c, "issuer")), 1760426200, 0
	};
	kbs_policy_decision *d = NULL;
	kbs_errbuf eb = {{0}};
	const char *expect = json_string_value(json_object_get(c, "expect"));
	int ok;

	if (kbs_policy_eval(p, claims, &ctx, &d, &eb) != KBS_OK) {
		fprintf(stderr, "  eval: %s\n", eb.msg);
		return 0;
	}
	ok = expect != NULL &&
	     kbs_policy_decision_allowed(d) == (strcmp(expect, "allow") == 0) &&
	     same_rule(kbs_policy_decision_rule(d), json_object_get(c, "rule"));
	if (!ok)
		fprintf(stderr, "  got %s by %s: %s\n",
			kbs_policy_decision_allowed(d) ? "allow" : "deny",
			kbs_policy_decision_rule(d) ? kbs_policy_decision_rule(d) : "-",
			kbs_policy_decision_reason(d));
	kbs_policy_decision_free(d);
	/* The same without recording, as the broker evaluates a release. */
	d = NULL;
	ctx.untraced_allow = 1;
	if (kbs_policy_eval(p, claims, &ctx, &d, &eb) != KBS_OK ||
	    kbs_policy_decision_allowed(d) != (strcmp(expect ? expect : "", "allow") == 0) ||
	    !same_rule(kbs_policy_decision_rule(d), json_object_get(c, "rule"))) {
		fprintf(stderr, "  untraced: %s\n", kbs_policy_decision_reason(d));
		ok = 0;
	}
	kbs_policy_decision_free(d);
	return ok;
}

static int
run_appraisal(const kbs_policy *p, const json_t *c, json_t *claims)
{
	const json_t *want = json_object_get(c, "vector"), *v;
	json_t *ear = NULL, *tv;
	const char *key;
	int ok;

	if (kbs_policy_appraise(p, claims, json_string_value(json_object_get(c, "tee")),
				&ear, NULL) != KBS_OK)
		return 0;
	tv = json_object_get(ear, "ear.trustworthiness-vector");
	ok = json_equal(json_object_get(ear, "ear.status"), json_object_get(c, "expect"));
	json_object_foreach((json_t *)want, key, v)
		ok &= json_equal(json_object_get(tv, key), (json_t *)v);
	if (!ok) {
		char *s = json_dumps(ear, JSON_COMPACT);
		fprintf(stderr, "  got %s\n", s);
		free(s);
	}
	json_decref(ear);
	return ok;
}

static void
run_dir(const char *dir)
{
	char path[1500];
	kbs_policy *p = NULL;
	kbs_errbuf eb = {{0}};
	json_t *doc, *cases, *c;
	size_t i;
	FILE *f;
	char *text;
	long n;

	snprintf(path, sizeof(path), "%s/policy.json", dir);
	f = fopen(path, "rb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = malloc((size_t)n + 1);
	CU_ASSERT_EQUAL_FATAL(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	if (kbs_policy_parse(text, (size_t)n, &p, &eb) != KBS_OK)
		fprintf(stderr, "%s: %s\n", path, eb.msg);
	free(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	snprintf(path, sizeof(path), "%s/cases.json", dir);
	doc = json_load_file(path, 0, NULL);
	cases = json_object_get(doc, "cases");
	CU_ASSERT_TRUE(json_array_size(cases) > 0);
	json_array_foreach(cases, i, c) {
		json_t *claims = claims_of(dir, c);
		int ok = claims != NULL &&
			 (kbs_policy_get_kind(p) == KBS_POLICY_APPRAISAL ?
			  run_appraisal(p, c, claims) : run_resource(p, c, claims));

		if (!ok)
			fprintf(stderr, "FAIL %s: %s\n", dir,
				json_string_value(json_object_get(c, "name")));
		CU_ASSERT_TRUE(ok);
		ncases++;
		json_decref(claims);
	}
	json_decref(doc);
	kbs_policy_free(p);
	ndirs++;
}

static void
test_examples(void)
{
	char root[1024], dir[1400];
	DIR *d = opendir(kbs_unit_src("policies/examples", root, sizeof(root)));
	struct dirent *e;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", root, e->d_name);
		run_dir(dir);
	}
	closedir(d);
	printf("\n  %d example directories, %d cases\n", ndirs, ncases);
	CU_ASSERT_TRUE(ndirs >= 7);
	CU_ASSERT_TRUE(ncases >= 30);
}

static const kbs_unit_test tests[] = {
	{"every example case", test_examples},
	{NULL, NULL},
};

KBS_UNIT_MAIN("policy_examples", tests)
