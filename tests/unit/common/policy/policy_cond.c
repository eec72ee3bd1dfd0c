/*
 * Unit tests for common/policy_cond.c and common/policy_path.c: every
 * operator and combinator with true, false, missing and type-mismatch
 * cases, wildcard pointers with both quantifiers, the request context,
 * and resource path patterns.
 */
#include <string.h>

#include "policy.h"
#include "unit.h"

static const char *claims_json =
	"{\"s\":\"abc\",\"S\":\"ABC\",\"n\":5,\"r\":2.5,\"b\":true,\"nul\":null,"
	"\"arr\":[1,2,3],\"strs\":[\"x\",\"y\"],\"o\":{\"k\":\"v\"},"
	"\"ver\":\"1.2.10\",\"svn\":[3,5,0],\"hex\":\"03050000\",\"nsvn\":\"7\","
	"\"sub\":{\"a\":{\"st\":\"ok\",\"v\":1},\"b\":{\"st\":\"ok\",\"v\":2},"
	"\"c\":{\"st\":\"bad\"}},"
	"\"good\":{\"a\":{\"st\":\"ok\"},\"b\":{\"st\":\"ok\"}},"
	"\"part\":{\"a\":{\"st\":\"ok\"},\"b\":{}},"
	"\"empty\":{},\"list\":[{\"id\":\"p1\"},{\"id\":\"p2\"}],"
	"\"a/b\":{\"t~x\":1}}";

/* Decision of a one-rule policy whose condition is cond: 1, 0, or -1. */
static int
run(const char *cond, const char *claims_text, const char *path)
{
	char doc[4096];
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL, *lean = NULL;
	json_t *claims = json_loads(claims_text, 0, NULL);
	json_t *query = json_pack("{s:s}", "mode", "full");
	kbs_policy_ctx ctx = {path, query, "trusted-issuer", 1760000000, 0};
	kbs_errbuf eb = {{0}};
	int r = -1;

	snprintf(doc, sizeof(doc), "{\"version\":1,\"rules\":[{\"id\":\"r\","
		 "\"effect\":\"allow\",\"resources\":\"**\",\"when\":%s}]}",
		 cond);
	if (claims == NULL || kbs_policy_parse(doc, strlen(doc), &p, &eb))
		goto out;
	if (kbs_policy_eval(p, claims, &ctx, &d, &eb) == KBS_OK)
		r = kbs_policy_decision_allowed(d);
	/* Without recording (untraced_allow) the decision is the same, and
	 * only an allow comes without its trace. */
	ctx.untraced_allow = 1;
	if (r >= 0 && kbs_policy_eval(p, claims, &ctx, &lean, &eb) == KBS_OK) {
		CU_ASSERT_EQUAL(kbs_policy_decision_allowed(lean), r);
		CU_ASSERT_STRING_EQUAL(kbs_policy_decision_reason(lean),
				       kbs_policy_decision_reason(d));
		CU_ASSERT((kbs_policy_decision_trace(lean) == NULL) == (r == 1));
	} else if (r >= 0)
		CU_FAIL("untraced evaluation failed");
out:
	kbs_policy_decision_free(lean);
	if (r < 0)
		fprintf(stderr, "run(%s): %s\n", cond, eb.msg);
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	json_decref(claims);
	json_decref(query);
	return r;
}

static int
c(const char *cond)
{
	return run(cond, claims_json, "default/key/1");
}

/* The note of the first seen slot of the first leaf of rule 0. */
static int
note_is(const char *cond, const char *want)
{
	char doc[2048];
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL;
	json_t *claims = json_loads(claims_json, 0, NULL);
	kbs_policy_ctx ctx = {"a/b/c", NULL, NULL, 0, 0};
	const json_t *leaf, *slot;
	const char *note;
	int ok = 0;

	snprintf(doc, sizeof(doc), "{\"version\":1,\"rules\":[{\"id\":\"r\","
		 "\"effect\":\"allow\",\"resources\":\"**\",\"when\":%s}]}",
		 cond);
	if (kbs_policy_parse(doc, strlen(doc), &p, NULL) == KBS_OK &&
	    kbs_policy_eval(p, claims, &ctx, &d, NULL) == KBS_OK) {
		leaf = json_array_get(json_object_get(json_array_get(
			json_object_get(kbs_policy_decision_trace(d), "rules"),
			0), "conditions"), 0);
		slot = json_array_get(json_object_get(leaf, "seen"), 0);
		note = json_string_value(json_object_get(slot ? slot : leaf,
							 "note"));
		ok = note != NULL && strcmp(note, want) == 0;
	}
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	json_decref(claims);
	return ok;
}

static void
test_eq_ne(void)
{
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"eq\",\"value\":\"abc\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"eq\",\"value\":\"abd\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"eq\",\"value\":5}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"eq\",\"value\":5.0}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/b\",\"op\":\"eq\",\"value\":true}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/b\",\"op\":\"eq\",\"value\":false}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/nul\",\"op\":\"eq\",\"value\":null}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/o\",\"op\":\"eq\",\"value\":{\"k\":\"v\"}}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/arr\",\"op\":\"eq\",\"value\":[1,2,3]}"), 1);
	/* type mismatch: "5" is not 5, and ne is false too */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"eq\",\"value\":\"5\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"ne\",\"value\":\"5\"}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/n\",\"op\":\"eq\",\"value\":\"5\"}",
			  "type mismatch"));
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"ne\",\"value\":\"abd\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"ne\",\"value\":\"abc\"}"), 0);
	/* missing claims are false for eq and ne alike */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/zz\",\"op\":\"eq\",\"value\":\"abc\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/zz\",\"op\":\"ne\",\"value\":\"abc\"}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/zz\",\"op\":\"eq\",\"value\":1}",
			  "missing"));
	/* case folding only when asked for */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/S\",\"op\":\"eq\",\"value\":\"abc\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/S\",\"op\":\"eq\",\"value\":\"abc\","
			  "\"ignore_case\":true}"), 1);
}

static void
test_in_not_in(void)
{
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"in\",\"value\":[\"x\",\"abc\"]}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"in\",\"value\":[\"x\",\"y\"]}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"in\",\"value\":[4,5]}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"in\",\"value\":[\"5\"]}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/n\",\"op\":\"in\",\"value\":[\"5\"]}",
			  "type mismatch"));
	CU_ASSERT_EQUAL(c("{\"claim\":\"/S\",\"op\":\"in\",\"value\":[\"abc\"],"
			  "\"ignore_case\":true}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"not_in\",\"value\":[\"x\"]}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"not_in\",\"value\":[\"abc\"]}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"not_in\",\"value\":[\"x\"]}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/zz\",\"op\":\"not_in\",\"value\":[\"x\"]}"), 0);
}

static void
test_numeric(void)
{
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"gt\",\"value\":4}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"gt\",\"value\":5}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"ge\",\"value\":5}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"ge\",\"value\":5.5}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"lt\",\"value\":6}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"lt\",\"value\":5}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/r\",\"op\":\"le\",\"value\":2.5}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/r\",\"op\":\"le\",\"value\":2}"), 0);
	/* "7" is a string, not a number */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/nsvn\",\"op\":\"ge\",\"value\":1}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/nsvn\",\"op\":\"ge\",\"value\":1}",
			  "type mismatch"));
	CU_ASSERT_EQUAL(c("{\"claim\":\"/b\",\"op\":\"gt\",\"value\":0}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/zz\",\"op\":\"lt\",\"value\":10}"), 0);
}

static void
test_versions(void)
{
	CU_ASSERT_EQUAL(c("{\"claim\":\"/ver\",\"op\":\"version_ge\",\"value\":\"1.2.9\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/ver\",\"op\":\"version_ge\",\"value\":\"1.10\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/ver\",\"op\":\"version_le\",\"value\":\"1.10\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/ver\",\"op\":\"version_le\",\"value\":\"1.2\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/ver\",\"op\":\"version_eq\",\"value\":\"1.2.10.0\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/ver\",\"op\":\"version_eq\",\"value\":[1,2,10]}"), 1);
	/* numeric strings and integers are one-component versions */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/nsvn\",\"op\":\"version_ge\",\"value\":7}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/nsvn\",\"op\":\"version_ge\",\"value\":\"8\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"version_le\",\"value\":\"5\"}"), 1);
	/* not versions: false, shown as such */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"version_ge\",\"value\":\"1\"}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/s\",\"op\":\"version_ge\",\"value\":\"1\"}",
			  "not a version"));
	CU_ASSERT_EQUAL(c("{\"claim\":\"/o\",\"op\":\"version_ge\",\"value\":\"1\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/zz\",\"op\":\"version_ge\",\"value\":\"1\"}"), 0);
}

static void
test_tcb(void)
{
	/* component-wise: [3,5,0] >= [3,4,0] but not >= [4,0,0] */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/svn\",\"op\":\"tcb_ge\",\"value\":[3,4,0]}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/svn\",\"op\":\"tcb_ge\",\"value\":[4,0,0]}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/svn\",\"op\":\"tcb_le\",\"value\":[4,5,0]}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/svn\",\"op\":\"tcb_le\",\"value\":[4,4,9]}"), 0);
	/* hex byte vectors */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/hex\",\"op\":\"tcb_ge\",\"value\":\"03040000\","
			  "\"format\":\"hex\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/hex\",\"op\":\"tcb_ge\",\"value\":\"03060000\","
			  "\"format\":\"hex\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/hex\",\"op\":\"tcb_ge\",\"value\":[3,5,0,0],"
			  "\"format\":\"hex\"}"), 1);
	/* different lengths never compare */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/svn\",\"op\":\"tcb_ge\",\"value\":[1,1]}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/svn\",\"op\":\"tcb_ge\",\"value\":[1,1]}",
			  "component count differs"));
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"tcb_ge\",\"value\":[1]}"), 0);
}

static void
test_exists_prefix_contains(void)
{
	CU_ASSERT_EQUAL(c("{\"claim\":\"/nul\",\"op\":\"exists\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/zz\",\"op\":\"exists\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"not\":{\"claim\":\"/zz\",\"op\":\"exists\"}}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"prefix\",\"value\":\"ab\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"prefix\",\"value\":\"abcd\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/S\",\"op\":\"prefix\",\"value\":\"ab\","
			  "\"ignore_case\":true}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/n\",\"op\":\"prefix\",\"value\":\"5\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/strs\",\"op\":\"contains\",\"value\":\"y\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/strs\",\"op\":\"contains\",\"value\":\"z\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/arr\",\"op\":\"contains\",\"value\":2}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/s\",\"op\":\"contains\",\"value\":\"a\"}"), 0);
}

static void
test_combinators(void)
{
	const char *t = "{\"claim\":\"/n\",\"op\":\"eq\",\"value\":5}";
	const char *f = "{\"claim\":\"/n\",\"op\":\"eq\",\"value\":6}";
	char buf[512];

	snprintf(buf, sizeof(buf), "{\"all\":[%s,%s]}", t, t);
	CU_ASSERT_EQUAL(c(buf), 1);
	snprintf(buf, sizeof(buf), "{\"all\":[%s,%s]}", t, f);
	CU_ASSERT_EQUAL(c(buf), 0);
	snprintf(buf, sizeof(buf), "{\"any\":[%s,%s]}", f, t);
	CU_ASSERT_EQUAL(c(buf), 1);
	snprintf(buf, sizeof(buf), "{\"any\":[%s,%s]}", f, f);
	CU_ASSERT_EQUAL(c(buf), 0);
	snprintf(buf, sizeof(buf), "{\"not\":%s}", f);
	CU_ASSERT_EQUAL(c(buf), 1);
	snprintf(buf, sizeof(buf), "{\"not\":%s}", t);
	CU_ASSERT_EQUAL(c(buf), 0);
	snprintf(buf, sizeof(buf), "{\"not\":{\"not\":%s}}", t);
	CU_ASSERT_EQUAL(c(buf), 1);
	snprintf(buf, sizeof(buf), "{\"all\":[%s,{\"any\":[%s,{\"not\":%s}]}]}",
		 t, f, f);
	CU_ASSERT_EQUAL(c(buf), 1);
	/* type mismatch under not is still "not equal": documented */
	CU_ASSERT_EQUAL(c("{\"not\":{\"claim\":\"/n\",\"op\":\"eq\",\"value\":\"5\"}}"), 1);
}

static void
test_wildcards(void)
{
	/* all-of (default): one bad submod fails it, a gap fails it */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/good/*/st\",\"op\":\"eq\",\"value\":\"ok\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/sub/*/st\",\"op\":\"eq\",\"value\":\"ok\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/part/*/st\",\"op\":\"eq\",\"value\":\"ok\"}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/part/*/st\",\"op\":\"eq\",\"value\":\"nope\"}",
			  "type mismatch") == 0);
	/* all-of over zero matches is false: fail closed */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/empty/*/st\",\"op\":\"eq\",\"value\":\"ok\"}"), 0);
	CU_ASSERT(note_is("{\"claim\":\"/empty/*/st\",\"op\":\"eq\",\"value\":\"ok\"}",
			  "no match"));
	CU_ASSERT_EQUAL(c("{\"claim\":\"/zz/*/st\",\"op\":\"eq\",\"value\":\"ok\"}"), 0);
	/* any-of */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/sub/*/st\",\"op\":\"eq\",\"value\":\"bad\","
			  "\"match\":\"any\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/sub/*/st\",\"op\":\"eq\",\"value\":\"gone\","
			  "\"match\":\"any\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/sub/*/v\",\"op\":\"exists\",\"match\":\"any\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/sub/*/v\",\"op\":\"exists\"}"), 0);
	/* arrays and several wildcards */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/list/*/id\",\"op\":\"prefix\",\"value\":\"p\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/list/1/id\",\"op\":\"eq\",\"value\":\"p2\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/list/01/id\",\"op\":\"exists\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"claim\":\"/*/*/st\",\"op\":\"eq\",\"value\":\"bad\","
			  "\"match\":\"any\"}"), 1);
	/* RFC 6901 escapes */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/a~1b/t~0x\",\"op\":\"eq\",\"value\":1}"), 1);
}

static void
test_wildcard_overflow(void)
{
	json_t *claims = json_object(), *sub = json_object();
	char key[16], *text;
	int i;

	for (i = 0; i < KBS_POLICY_MAX_MATCHES + 1; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		json_object_set_new(sub, key, json_pack("{s:s}", "st", "ok"));
	}
	json_object_set_new(claims, "sub", sub);
	text = json_dumps(claims, JSON_COMPACT);
	/* too many matches is an error, and not() keeps it an error: deny */
	CU_ASSERT_EQUAL(run("{\"claim\":\"/sub/*/st\",\"op\":\"eq\",\"value\":\"ok\"}",
			    text, "a/b/c"), 0);
	CU_ASSERT_EQUAL(run("{\"not\":{\"claim\":\"/sub/*/st\",\"op\":\"eq\","
			    "\"value\":\"bad\"}}", text, "a/b/c"), 0);
	free(text);
	json_decref(claims);
}

static void
test_ctx(void)
{
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/resource/repository\",\"op\":\"eq\",\"value\":\"default\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/resource/type\",\"op\":\"eq\",\"value\":\"key\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/resource/tag\",\"op\":\"eq\",\"value\":\"2\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/resource/segments/2\",\"op\":\"eq\",\"value\":\"1\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/resource/path\",\"op\":\"prefix\",\"value\":\"default/\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/query/mode\",\"op\":\"eq\",\"value\":\"full\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/query/other\",\"op\":\"exists\"}"), 0);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/issuer\",\"op\":\"eq\",\"value\":\"trusted-issuer\"}"), 1);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/now\",\"op\":\"lt\",\"value\":1800000000}"), 1);
	CU_ASSERT_EQUAL(c("{\"ctx\":\"/now\",\"op\":\"gt\",\"value\":1800000000}"), 0);
	/* a claim pointer does not see the context */
	CU_ASSERT_EQUAL(c("{\"claim\":\"/issuer\",\"op\":\"exists\"}"), 0);
}

/* Patterns, through rules that apply or not. */
static int
pat(const char *pattern, const char *path)
{
	char doc[512];
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL;
	json_t *claims = json_object();
	kbs_policy_ctx ctx = {path, NULL, NULL, 0, 0};
	int r = -1;

	snprintf(doc, sizeof(doc), "{\"version\":1,\"rules\":[{\"id\":\"r\","
		 "\"effect\":\"allow\",\"resources\":[\"%s\"]}]}", pattern);
	if (kbs_policy_parse(doc, strlen(doc), &p, NULL) == KBS_OK &&
	    kbs_policy_eval(p, claims, &ctx, &d, NULL) == KBS_OK)
		r = kbs_policy_decision_allowed(d);
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	json_decref(claims);
	return r;
}

static void
test_patterns(void)
{
	CU_ASSERT_EQUAL(pat("default/key/1", "default/key/1"), 1);
	CU_ASSERT_EQUAL(pat("default/key/1", "default/key/2"), 0);
	CU_ASSERT_EQUAL(pat("default/key/*", "default/key/2"), 1);
	CU_ASSERT_EQUAL(pat("default/key/*", "default/cert/2"), 0);
	CU_ASSERT_EQUAL(pat("default/key/*", "default/key"), 0);
	CU_ASSERT_EQUAL(pat("*/key/*", "tenant-a/key/x.pem"), 1);
	CU_ASSERT_EQUAL(pat("tenant-a/**", "tenant-a/key/1"), 1);
	CU_ASSERT_EQUAL(pat("tenant-a/**", "tenant-b/key/1"), 0);
	CU_ASSERT_EQUAL(pat("tenant-a/**", "tenant-ab/key/1"), 0);
	CU_ASSERT_EQUAL(pat("**", "x/y/z"), 1);
	CU_ASSERT_EQUAL(pat("a/*", "a/b/c"), 0);
	CU_ASSERT_EQUAL(pat("a/b/c", "a/b/c/d"), 0);
	CU_ASSERT_EQUAL(pat("*/*/*", "a//c"), 0);
	/* invalid patterns never load */
	CU_ASSERT_EQUAL(pat("**/key", "a/key"), -1);
	CU_ASSERT_EQUAL(pat("a/../b", "a/b"), -1);
	CU_ASSERT_EQUAL(pat("a//b", "a/b"), -1);
	CU_ASSERT_EQUAL(pat("/a/b", "a/b"), -1);
	CU_ASSERT_EQUAL(pat("a/k*y/c", "a/key/c"), -1);
	CU_ASSERT_EQUAL(pat("", "a/b/c"), -1);
}

static const kbs_unit_test tests[] = {
	{"eq and ne", test_eq_ne},
	{"in and not_in", test_in_not_in},
	{"numeric comparisons", test_numeric},
	{"version comparisons", test_versions},
	{"tcb comparisons", test_tcb},
	{"exists, prefix, contains", test_exists_prefix_contains},
	{"all, any, not", test_combinators},
	{"wildcard pointers and quantifiers", test_wildcards},
	{"wildcard match limit is an error", test_wildcard_overflow},
	{"request context", test_ctx},
	{"resource path patterns", test_patterns},
	{NULL, NULL},
};

KBS_UNIT_MAIN("policy_cond", tests)
