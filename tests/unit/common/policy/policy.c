/*
 * Unit tests for common/policy.c: loading (malformed and over-limit
 * documents rejected with a line), the shipped policies, rule semantics
 * (deny wins, every applicable rule must allow, no applicable rule is a
 * denial) and the content of traces and reasons.
 */
#include <string.h>

#include "policy.h"
#include "unit.h"

#define EAR(status, extra)                                                  \
	"{\"iss\":\"CoCo-Attestation-Service\",\"submods\":{\"cpu0\":{"      \
	"\"ear.status\":\"" status "\",\"ear.veraison.annotated-evidence\":{" \
	extra "}}}}"

static const char *ear_affirming_tdx = EAR("affirming", "\"tdx\":{\"quote\":{}}");
static const char *ear_affirming_sample = EAR("affirming", "\"sample\":{\"svn\":\"1\"}");
static const char *ear_contra_tdx = EAR("contraindicated", "\"tdx\":{}");

static kbs_policy *
load_text(const char *text)
{
	kbs_policy *p = NULL;
	kbs_errbuf eb = {{0}};

	if (kbs_policy_parse(text, strlen(text), &p, &eb) != KBS_OK)
		fprintf(stderr, "load: %s\n", eb.msg);
	return p;
}

static kbs_policy *
load_file(const char *rel)
{
	char path[1024], *text = NULL;
	kbs_policy *p = NULL;
	FILE *f = fopen(kbs_unit_src(rel, path, sizeof(path)), "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (text = malloc((size_t)n + 1)) == NULL ||
	    fread(text, 1, (size_t)n, f) != (size_t)n)
		goto out;
	text[n] = '\0';
	p = load_text(text);
out:
	free(text);
	if (f != NULL)
		fclose(f);
	return p;
}

/* Decision for claims (JSON text) and path; NULL on error. */
static kbs_policy_decision *
decide(const kbs_policy *p, const char *claims_text, const char *path)
{
	json_t *claims = json_loads(claims_text, 0, NULL);
	kbs_policy_ctx ctx = {path, NULL, "issuer-a", 1760000000, 0};
	kbs_policy_decision *d = NULL;

	if (p == NULL || claims == NULL ||
	    kbs_policy_eval(p, claims, &ctx, &d, NULL) != KBS_OK)
		d = NULL;
	json_decref(claims);
	return d;
}

/* 1 allow, 0 deny, -1 no decision; rule id compared when want_rule. */
static int
verdict(const kbs_policy *p, const char *claims, const char *path,
	const char *want_rule)
{
	kbs_policy_decision *d = decide(p, claims, path);
	const char *rule = kbs_policy_decision_rule(d);
	int r = d ? kbs_policy_decision_allowed(d) : -1;

	if (d != NULL && want_rule != NULL &&
	    (rule == NULL || strcmp(rule, want_rule) != 0))
		r = -2;
	kbs_policy_decision_free(d);
	return r;
}

static void
test_shipped_policies(void)
{
	kbs_policy *def = load_file("policies/default.json");
	kbs_policy *demo = load_file("policies/demo.json");
	kbs_policy *all = load_file("policies/allow-all.json");
	kbs_policy *none = load_file("policies/deny-all.json");
	const char *two = "{\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\"},"
			  "\"gpu0\":{\"ear.status\":\"warning\"}}}";

	CU_ASSERT_PTR_NOT_NULL_FATAL(def);
	CU_ASSERT_PTR_NOT_NULL_FATAL(demo);
	CU_ASSERT_PTR_NOT_NULL_FATAL(all);
	CU_ASSERT_PTR_NOT_NULL_FATAL(none);
	CU_ASSERT_EQUAL(kbs_policy_get_kind(def), KBS_POLICY_RESOURCE);
	CU_ASSERT_STRING_EQUAL(kbs_policy_id(def), "default");
	CU_ASSERT_EQUAL(verdict(def, ear_affirming_tdx, "default/key/1", "affirming"), 1);
	CU_ASSERT_EQUAL(verdict(def, ear_affirming_sample, "default/key/1", "no-sample-tee"), 0);
	CU_ASSERT_EQUAL(verdict(def, ear_contra_tdx, "default/key/1", "affirming"), 0);
	CU_ASSERT_EQUAL(verdict(def, two, "default/key/1", "affirming"), 0);
	CU_ASSERT_EQUAL(verdict(def, "{}", "default/key/1", "affirming"), 0);
	CU_ASSERT_EQUAL(verdict(def, "{\"submods\":{}}", "default/key/1", "affirming"), 0);
	CU_ASSERT_EQUAL(verdict(demo, ear_affirming_sample, "default/key/1", "affirming"), 1);
	CU_ASSERT_EQUAL(verdict(demo, ear_contra_tdx, "default/key/1", "affirming"), 0);
	CU_ASSERT_EQUAL(verdict(demo, two, "default/key/1", "affirming"), 0);
	CU_ASSERT_EQUAL(verdict(all, "{}", "any/thing/at-all", "allow-all"), 1);
	CU_ASSERT_EQUAL(verdict(none, ear_affirming_tdx, "default/key/1", "deny-all"), 0);
	kbs_policy_free(def);
	kbs_policy_free(demo);
	kbs_policy_free(all);
	kbs_policy_free(none);
}

static const char *layered =
	"{\"version\":1,\"id\":\"layered\",\"references\":{\"tenants\":[\"tenant-a\",\"tenant-b\"]},"
	"\"rules\":["
	"{\"id\":\"base\",\"effect\":\"allow\",\"resources\":\"**\","
	" \"when\":{\"claim\":\"/submods/*/ear.status\",\"op\":\"eq\",\"value\":\"affirming\"}},"
	"{\"id\":\"tenant-a-tdx\",\"effect\":\"allow\",\"resources\":[\"tenant-a/**\"],"
	" \"when\":{\"claim\":\"/submods/*/ear.veraison.annotated-evidence/tdx\",\"op\":\"exists\"}},"
	"{\"id\":\"no-secrets-for-b\",\"effect\":\"deny\",\"resources\":\"tenant-b/secret/*\"},"
	"{\"id\":\"known-tenants\",\"effect\":\"deny\",\"resources\":\"*/**\","
	" \"when\":{\"all\":[{\"ctx\":\"/resource/repository\",\"op\":\"prefix\",\"value\":\"tenant-\"},"
	" {\"ctx\":\"/resource/repository\",\"op\":\"not_in\",\"ref\":\"tenants\"}]}}"
	"]}";

static void
test_rule_semantics(void)
{
	kbs_policy *p = load_text(layered);
	kbs_policy *only_a = load_text(
		"{\"version\":1,\"rules\":[{\"id\":\"a\",\"effect\":\"allow\","
		"\"resources\":\"tenant-a/**\"},{\"id\":\"d\",\"effect\":\"deny\","
		"\"resources\":\"tenant-b/**\",\"when\":{\"claim\":\"/x\",\"op\":"
		"\"exists\"}}]}");
	kbs_policy_decision *d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(only_a);
	/* every applicable allow rule must hold */
	CU_ASSERT_EQUAL(verdict(p, ear_affirming_tdx, "tenant-a/key/1", "base"), 1);
	CU_ASSERT_EQUAL(verdict(p, ear_affirming_sample, "tenant-a/key/1", "tenant-a-tdx"), 0);
	CU_ASSERT_EQUAL(verdict(p, ear_affirming_sample, "default/key/1", "base"), 1);
	/* an unconditional deny rule wins over a satisfied allow */
	CU_ASSERT_EQUAL(verdict(p, ear_affirming_tdx, "tenant-b/secret/1", "no-secrets-for-b"), 0);
	/* a conditional deny (with a reference) fires only when it holds */
	CU_ASSERT_EQUAL(verdict(p, ear_affirming_tdx, "tenant-c/key/1", "known-tenants"), 0);
	CU_ASSERT_EQUAL(verdict(p, ear_affirming_tdx, "tenant-b/key/1", "base"), 1);
	/* no applicable allow rule is a denial, even if deny rules pass */
	d = decide(only_a, "{}", "tenant-b/key/1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_FALSE(kbs_policy_decision_allowed(d));
	CU_ASSERT_PTR_NULL(kbs_policy_decision_rule(d));
	CU_ASSERT_PTR_NOT_NULL(strstr(kbs_policy_decision_reason(d), "no allow rule"));
	kbs_policy_decision_free(d);
	CU_ASSERT_EQUAL(verdict(only_a, "{}", "tenant-c/key/1", NULL), 0);
	CU_ASSERT_EQUAL(verdict(only_a, "{}", "tenant-a/key/1", "a"), 1);
	kbs_policy_free(p);
	kbs_policy_free(only_a);
}

static void
test_trace(void)
{
	kbs_policy *p = load_text(layered);
	kbs_policy_decision *d = decide(p, ear_contra_tdx, "tenant-a/key/1");
	const json_t *t = kbs_policy_decision_trace(d), *rules, *r0, *leaf, *slot;
	const char *reason = kbs_policy_decision_reason(d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_FALSE(kbs_policy_decision_allowed(d));
	CU_ASSERT_STRING_EQUAL(kbs_policy_decision_rule(d), "base");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(t, "decision")), "deny");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(t, "rule")), "base");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(t, "policy")), "layered");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(t, "resource")), "tenant-a/key/1");
	rules = json_object_get(t, "rules");
	CU_ASSERT_EQUAL(json_array_size(rules), 4);
	r0 = json_array_get(rules, 0);
	CU_ASSERT(json_is_true(json_object_get(r0, "applies")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r0, "result")), "deny");
	CU_ASSERT(json_is_true(json_object_get(json_array_get(rules, 1), "applies")));
	CU_ASSERT(json_is_false(json_object_get(json_array_get(rules, 2), "applies")));
	leaf = json_array_get(json_object_get(r0, "conditions"), 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(leaf, "at")), "/rules/0/when");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(leaf, "expected")), "affirming");
	slot = json_array_get(json_object_get(leaf, "seen"), 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(slot, "path")),
			       "/submods/cpu0/ear.status");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(slot, "value")), "contraindicated");
	/* the reason names rule, condition, seen and expected */
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "rule \"base\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "/rules/0/when"));
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "saw \"contraindicated\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "eq \"affirming\""));
	kbs_policy_decision_free(d);
	/* a fired deny rule under "not" names the negated condition */
	d = decide(p, ear_affirming_tdx, "tenant-c/key/1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_PTR_NOT_NULL(strstr(kbs_policy_decision_reason(d), "known-tenants"));
	CU_ASSERT_PTR_NOT_NULL(strstr(kbs_policy_decision_reason(d), "saw \"tenant-c\""));
	kbs_policy_decision_free(d);
	/* allow decisions have a trace and a reason too */
	d = decide(p, ear_affirming_tdx, "default/key/1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_TRUE(kbs_policy_decision_allowed(d));
	CU_ASSERT_STRING_EQUAL(kbs_policy_decision_reason(d), "allowed by rule \"base\"");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
		kbs_policy_decision_trace(d), "decision")), "allow");
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
}

static void
test_negated_reason(void)
{
	kbs_policy *p = load_text(
		"{\"version\":1,\"rules\":[{\"id\":\"no-sample\",\"effect\":\"allow\","
		"\"resources\":\"**\",\"when\":{\"not\":{\"claim\":"
		"\"/submods/*/ear.veraison.annotated-evidence/sample\",\"op\":\"exists\","
		"\"match\":\"any\"}}}]}");
	kbs_policy_decision *d = decide(p, ear_affirming_sample, "a/b/c");

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_FALSE(kbs_policy_decision_allowed(d));
	CU_ASSERT_PTR_NOT_NULL(strstr(kbs_policy_decision_reason(d), "NOT /submods/*/"));
	CU_ASSERT_PTR_NOT_NULL(strstr(kbs_policy_decision_reason(d),
		"at /submods/cpu0/ear.veraison.annotated-evidence/sample"));
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
}

/* Parse must fail with code, mention want, and leave *out alone. */
static int
rejects(const char *text, size_t len, kbs_err code, const char *want)
{
	kbs_policy *sentinel = (kbs_policy *)&sentinel, *p = sentinel;
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_policy_parse(text, len, &p, &eb);
	int ok = rc == code && p == sentinel &&
		 (want == NULL || strstr(eb.msg, want) != NULL);

	if (!ok)
		fprintf(stderr, "rejects: rc=%d msg=%s (want %s)\n", rc, eb.msg,
			want ? want : "-");
	if (rc == KBS_OK)
		kbs_policy_free(p);
	return ok;
}

#define REJ(text, code, want) rejects(text, strlen(text), code, want)

static void
test_malformed_lines(void)
{
	const char *syntax = "{\n  \"version\": 1,\n  \"rules\": [\n    {\"id\": }\n  ]\n}";
	const char *badop =
		"{\n"
		"  \"version\": 1,\n"
		"  \"rules\": [\n"
		"    {\"id\": \"a\", \"effect\": \"allow\", \"resources\": \"**\"},\n"
		"    {\"id\": \"b\", \"effect\": \"allow\", \"resources\": \"**\",\n"
		"     \"when\": {\"all\": [\n"
		"        {\"claim\": \"/x\", \"op\": \"eq\", \"value\": 1},\n"
		"        {\"claim\": \"/y\", \"op\": \"equals\", \"value\": 1}\n"
		"     ]}}\n"
		"  ]\n"
		"}\n";
	const char *badpat =
		"{\"version\": 1,\n \"rules\": [{\"id\": \"a\", \"effect\": \"allow\",\n"
		"  \"resources\": [\"ok/*\",\n                \"**/bad\"]}]}";

	CU_ASSERT(REJ(syntax, KBS_ERR_INVALID, "line 4"));
	CU_ASSERT(REJ(badop, KBS_ERR_INVALID, "line 8 column 9"));
	CU_ASSERT(REJ(badop, KBS_ERR_INVALID, "unknown op \"equals\""));
	CU_ASSERT(REJ(badop, KBS_ERR_INVALID, "/rules/1/when/all/1"));
	CU_ASSERT(REJ(badpat, KBS_ERR_INVALID, "line 4 column 17"));
	CU_ASSERT(REJ("{\"version\":1,\n\"rules\":[],\n\"extra\":1}", KBS_ERR_INVALID,
		      "unknown member \"extra\""));
}

static void
test_malformed_shapes(void)
{
#define R(rule) "{\"version\":1,\"rules\":[" rule "]}"
#define W(cond) R("{\"id\":\"r\",\"effect\":\"allow\",\"resources\":\"**\",\"when\":" cond "}")
	CU_ASSERT(rejects("", 0, KBS_ERR_INVALID, NULL));
	CU_ASSERT(rejects(NULL, 0, KBS_ERR_INVALID, NULL));
	CU_ASSERT(REJ("[]", KBS_ERR_INVALID, NULL));
	CU_ASSERT(REJ("{\"version\":1,\"rules\":[]} x", KBS_ERR_INVALID, NULL));
	CU_ASSERT(REJ("{\"version\":1,\"rules\":[],\"rules\":[]}", KBS_ERR_INVALID, NULL));
	CU_ASSERT(REJ("{\"rules\":[]}", KBS_ERR_INVALID, "version"));
	CU_ASSERT(REJ("{\"version\":2,\"rules\":[]}", KBS_ERR_INVALID, "version"));
	CU_ASSERT(REJ("{\"version\":1}", KBS_ERR_INVALID, "\"rules\" is required"));
	CU_ASSERT(REJ("{\"version\":1,\"kind\":\"x\",\"rules\":[]}", KBS_ERR_INVALID, "kind"));
	CU_ASSERT(REJ("{\"version\":1,\"rules\":{}}", KBS_ERR_INVALID, NULL));
	CU_ASSERT(REJ("{\"version\":1,\"rules\":[],\"trust_vector\":{}}", KBS_ERR_INVALID, NULL));
	CU_ASSERT(REJ("{\"version\":1,\"rules\":[],\"references\":[]}", KBS_ERR_INVALID, NULL));
	CU_ASSERT(REJ(R("1"), KBS_ERR_INVALID, "rule must be an object"));
	CU_ASSERT(REJ(R("{\"effect\":\"allow\",\"resources\":\"**\"}"), KBS_ERR_INVALID, "\"id\""));
	CU_ASSERT(REJ(R("{\"id\":\"r\",\"resources\":\"**\"}"), KBS_ERR_INVALID, "effect"));
	CU_ASSERT(REJ(R("{\"id\":\"r\",\"effect\":\"permit\",\"resources\":\"**\"}"),
		      KBS_ERR_INVALID, "effect"));
	CU_ASSERT(REJ(R("{\"id\":\"r\",\"effect\":\"allow\"}"), KBS_ERR_INVALID, "resources"));
	CU_ASSERT(REJ(R("{\"id\":\"r\",\"effect\":\"allow\",\"resources\":[]}"),
		      KBS_ERR_INVALID, "resources"));
	CU_ASSERT(REJ(R("{\"id\":\"r\",\"effect\":\"allow\",\"resources\":[1]}"),
		      KBS_ERR_INVALID, "pattern"));
	CU_ASSERT(REJ(R("{\"id\":\"r\",\"effect\":\"allow\",\"resources\":\"**\"},"
			"{\"id\":\"r\",\"effect\":\"deny\",\"resources\":\"**\"}"),
		      KBS_ERR_INVALID, "duplicate rule id"));
	CU_ASSERT(REJ(W("[]"), KBS_ERR_INVALID, "object"));
	CU_ASSERT(REJ(W("{\"all\":[]}"), KBS_ERR_INVALID, "non-empty"));
	CU_ASSERT(REJ(W("{\"any\":{}}"), KBS_ERR_INVALID, "non-empty"));
	CU_ASSERT(REJ(W("{\"not\":[]}"), KBS_ERR_INVALID, "object"));
	CU_ASSERT(REJ(W("{\"all\":[{\"claim\":\"/a\",\"op\":\"exists\"}],\"op\":\"x\"}"),
		      KBS_ERR_INVALID, "unknown member"));
	CU_ASSERT(REJ(W("{\"op\":\"exists\"}"), KBS_ERR_INVALID, "exactly one"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"ctx\":\"/b\",\"op\":\"exists\"}"),
		      KBS_ERR_INVALID, "exactly one"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\"}"), KBS_ERR_INVALID, "\"op\""));
	CU_ASSERT(REJ(W("{\"claim\":\"a\",\"op\":\"exists\"}"), KBS_ERR_INVALID, "pointer"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a~2\",\"op\":\"exists\"}"), KBS_ERR_INVALID, "escape"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"exists\",\"value\":1}"),
		      KBS_ERR_INVALID, "takes no value"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"eq\"}"), KBS_ERR_INVALID, "exactly one"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"eq\",\"value\":1,\"ref\":\"x\"}"),
		      KBS_ERR_INVALID, "exactly one"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"eq\",\"ref\":\"nope\"}"),
		      KBS_ERR_INVALID, "unknown reference"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"in\",\"value\":\"x\"}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"in\",\"value\":[]}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"gt\",\"value\":\"1\"}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"prefix\",\"value\":1}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"version_ge\",\"value\":\"1..2\"}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"version_ge\",\"value\":\"v1\"}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"tcb_ge\",\"value\":[1,-1]}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"tcb_ge\",\"value\":\"0x\",\"format\":\"hex\"}"),
		      KBS_ERR_INVALID, "does not suit"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"gt\",\"value\":1,\"ignore_case\":true}"),
		      KBS_ERR_INVALID, "ignore_case"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"eq\",\"value\":1,\"format\":\"hex\"}"),
		      KBS_ERR_INVALID, "format"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"eq\",\"value\":1,\"match\":\"some\"}"),
		      KBS_ERR_INVALID, "match"));
	CU_ASSERT(REJ(W("{\"claim\":\"/a\",\"op\":\"eq\",\"value\":1,\"extra\":1}"),
		      KBS_ERR_INVALID, "unknown member"));
#undef W
#undef R
}

/* A document of n rules, each "r<i>", allow, "**". */
static char *
many_rules(size_t n)
{
	size_t cap = 64 + n * 64, off, i;
	char *s = malloc(cap);

	off = (size_t)snprintf(s, cap, "{\"version\":1,\"rules\":[");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "%s{\"id\":\"r%zu\","
			"\"effect\":\"allow\",\"resources\":\"**\"}", i ? "," : "", i);
	snprintf(s + off, cap - off, "]}");
	return s;
}

/* A condition of depth nots around a leaf. */
static char *
nested_nots(size_t depth)
{
	size_t cap = 256 + depth * 16, off = 0, i;
	char *s = malloc(cap);

	off += (size_t)snprintf(s, cap, "{\"version\":1,\"rules\":[{\"id\":\"r\","
		"\"effect\":\"allow\",\"resources\":\"**\",\"when\":");
	for (i = 1; i < depth; i++)
		off += (size_t)snprintf(s + off, cap - off, "{\"not\":");
	off += (size_t)snprintf(s + off, cap - off, "{\"claim\":\"/a\",\"op\":\"exists\"}");
	for (i = 1; i < depth; i++)
		off += (size_t)snprintf(s + off, cap - off, "}");
	snprintf(s + off, cap - off, "}]}");
	return s;
}

/* One rule whose "all" has n leaves. */
static char *
wide_all(size_t n)
{
	size_t cap = 256 + n * 40, off, i;
	char *s = malloc(cap);

	off = (size_t)snprintf(s, cap, "{\"version\":1,\"rules\":[{\"id\":\"r\","
		"\"effect\":\"allow\",\"resources\":\"**\",\"when\":{\"all\":[");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off,
			"%s{\"claim\":\"/a\",\"op\":\"exists\"}", i ? "," : "");
	snprintf(s + off, cap - off, "]}}]}");
	return s;
}

static void
test_limits(void)
{
	char *s, *big;
	kbs_policy *p;
	size_t i;

	s = many_rules(KBS_POLICY_MAX_RULES);
	p = load_text(s);
	CU_ASSERT_PTR_NOT_NULL(p);
	kbs_policy_free(p);
	free(s);
	s = many_rules(KBS_POLICY_MAX_RULES + 1);
	CU_ASSERT(REJ(s, KBS_ERR_TOO_LARGE, "more than 1024 rules"));
	free(s);
	/* condition depth: 16 loads, 17 does not */
	s = nested_nots(KBS_POLICY_MAX_COND_DEPTH);
	p = load_text(s);
	CU_ASSERT_PTR_NOT_NULL(p);
	kbs_policy_free(p);
	free(s);
	s = nested_nots(KBS_POLICY_MAX_COND_DEPTH + 1);
	CU_ASSERT(REJ(s, KBS_ERR_TOO_LARGE, "nested deeper"));
	free(s);
	/* conditions per rule: the all node plus 255 leaves is the limit */
	s = wide_all(KBS_POLICY_MAX_RULE_CONDS - 1);
	p = load_text(s);
	CU_ASSERT_PTR_NOT_NULL(p);
	kbs_policy_free(p);
	free(s);
	s = wide_all(KBS_POLICY_MAX_RULE_CONDS);
	CU_ASSERT(REJ(s, KBS_ERR_TOO_LARGE, "conditions"));
	free(s);
	/* JSON depth over the limit, with its line */
	s = malloc(4096);
	i = (size_t)snprintf(s, 4096, "{\"version\":1,\n\"rules\":[],\n\"references\":{\"x\":");
	for (int k = 0; k < 40; k++)
		s[i++] = '[';
	for (int k = 0; k < 40; k++)
		s[i++] = ']';
	snprintf(s + i, 4096 - i, "}}");
	CU_ASSERT(REJ(s, KBS_ERR_TOO_LARGE, "line 3"));
	free(s);
	/* document size */
	big = malloc(KBS_POLICY_MAX_SIZE + 2);
	memset(big, ' ', KBS_POLICY_MAX_SIZE + 1);
	memcpy(big, "{\"version\":1,\"rules\":[]}", 24);
	CU_ASSERT(rejects(big, KBS_POLICY_MAX_SIZE + 1, KBS_ERR_TOO_LARGE, "limit"));
	p = NULL;
	CU_ASSERT_EQUAL(kbs_policy_parse(big, KBS_POLICY_MAX_SIZE, &p, NULL), KBS_OK);
	kbs_policy_free(p);
	/* string length */
	s = malloc(KBS_POLICY_MAX_STRING + 128);
	i = (size_t)snprintf(s, 128, "{\"version\":1,\"rules\":[],\"description\":\"");
	memset(s + i, 'a', KBS_POLICY_MAX_STRING + 1);
	snprintf(s + i + KBS_POLICY_MAX_STRING + 1, 16, "\"}");
	CU_ASSERT(REJ(s, KBS_ERR_TOO_LARGE, "/description"));
	free(big);
	free(s);
	/* pointer segments and wildcards */
	CU_ASSERT(REJ("{\"version\":1,\"rules\":[{\"id\":\"r\",\"effect\":\"allow\","
		      "\"resources\":\"**\",\"when\":{\"claim\":\"/*/*/*/*/*\",\"op\":\"exists\"}}]}",
		      KBS_ERR_TOO_LARGE, "wildcards"));
	CU_ASSERT(REJ("{\"version\":1,\"rules\":[{\"id\":\"r\",\"effect\":\"allow\","
		      "\"resources\":\"**\",\"when\":{\"claim\":\"/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a"
		      "/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a\",\"op\":\"exists\"}}]}",
		      KBS_ERR_TOO_LARGE, "segments"));
}

static void
test_eval_misuse(void)
{
	kbs_policy *p = load_file("policies/default.json");
	kbs_policy *ap = load_text("{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{}}");
	json_t *claims = json_object(), *arr = json_array();
	kbs_policy_ctx ctx = {"a/b/c", NULL, NULL, 0, 0};
	kbs_policy_decision *d = (kbs_policy_decision *)&d;
	kbs_errbuf eb;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ap);
	CU_ASSERT_EQUAL(kbs_policy_eval(p, NULL, &ctx, &d, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_policy_eval(p, arr, &ctx, &d, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_policy_eval(p, claims, NULL, &d, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_policy_eval(NULL, claims, &ctx, &d, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_policy_eval(ap, claims, &ctx, &d, &eb), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_EQUAL(d, (kbs_policy_decision *)&d);
	CU_ASSERT_FALSE(kbs_policy_decision_allowed(NULL));
	CU_ASSERT_PTR_NULL(kbs_policy_decision_rule(NULL));
	CU_ASSERT_PTR_NULL(kbs_policy_decision_trace(NULL));
	kbs_policy_decision_free(NULL);
	kbs_policy_free(NULL);
	/* a NULL resource path matches only "**" and still decides */
	ctx.resource_path = NULL;
	CU_ASSERT_EQUAL(kbs_policy_eval(p, claims, &ctx, &d, &eb), KBS_OK);
	CU_ASSERT_FALSE(kbs_policy_decision_allowed(d));
	kbs_policy_decision_free(d);
	json_decref(claims);
	json_decref(arr);
	kbs_policy_free(p);
	kbs_policy_free(ap);
}

static const kbs_unit_test tests[] = {
	{"shipped policies", test_shipped_policies},
	{"rule semantics", test_rule_semantics},
	{"trace and reason", test_trace},
	{"reason under not", test_negated_reason},
	{"malformed documents carry lines", test_malformed_lines},
	{"malformed shapes", test_malformed_shapes},
	{"limits", test_limits},
	{"evaluation misuse", test_eval_misuse},
	{NULL, NULL},
};

KBS_UNIT_MAIN("policy", tests)
