/*
 * Unit tests for common/policy_appraise.c: appraisal policies turning
 * verifier claims into an AR4SI trustworthiness vector and ear.status.
 */
#include <string.h>

#include "policy.h"
#include "unit.h"

static kbs_policy *
load_file(const char *rel)
{
	char path[1024], *text = NULL;
	kbs_policy *p = NULL;
	kbs_errbuf eb = {{0}};
	FILE *f = fopen(kbs_unit_src(rel, path, sizeof(path)), "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (text = malloc((size_t)n + 1)) == NULL ||
	    fread(text, 1, (size_t)n, f) != (size_t)n)
		goto out;
	if (kbs_policy_parse(text, (size_t)n, &p, &eb) != KBS_OK)
		fprintf(stderr, "%s: %s\n", rel, eb.msg);
out:
	free(text);
	if (f != NULL)
		fclose(f);
	return p;
}

/*
 * ear.status of claims (JSON text) under p for tee; NULL on error.  The
 * untraced appraisal (which records nothing) must come to the same EAR as
 * the traced one.
 */
static json_t *
appraise(const kbs_policy *p, const char *claims_text, const char *tee)
{
	json_t *claims = json_loads(claims_text, 0, NULL), *ear = NULL;
	json_t *ear2 = NULL, *trace = NULL;
	kbs_errbuf eb = {{0}};

	if (claims == NULL || kbs_policy_appraise(p, claims, tee, &ear, &eb) != KBS_OK)
		fprintf(stderr, "appraise: %s\n", eb.msg);
	CU_ASSERT(kbs_policy_appraise_traced(p, claims, tee, &ear2, &trace,
					     &eb) == KBS_OK);
	CU_ASSERT(json_equal(ear, ear2));
	CU_ASSERT(json_is_object(json_object_get(trace, "trust_vector")));
	json_decref(ear2);
	json_decref(trace);
	json_decref(claims);
	return ear;
}

static const char *
status(const json_t *ear)
{
	const char *s = json_string_value(json_object_get(ear, "ear.status"));

	return s ? s : "(none)";
}

static json_int_t
tv(const json_t *ear, const char *claim)
{
	return json_integer_value(json_object_get(json_object_get(ear,
		"ear.trustworthiness-vector"), claim));
}

static void
test_sample(void)
{
	kbs_policy *p = load_file("policies/appraisal-default.json");
	json_t *ear;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(kbs_policy_get_kind(p), KBS_POLICY_APPRAISAL);
	ear = appraise(p, "{\"sample\":{\"svn\":\"1\",\"launch_digest\":\"abcde\","
		       "\"platform_version\":{\"major\":1,\"minor\":4},\"debug\":false}}",
		       "sample");
	CU_ASSERT_STRING_EQUAL(status(ear), "affirming");
	CU_ASSERT_EQUAL(tv(ear, "executables"), 2);
	CU_ASSERT_EQUAL(tv(ear, "hardware"), 2);
	CU_ASSERT_EQUAL(tv(ear, "configuration"), 2);
	CU_ASSERT_EQUAL(tv(ear, "instance-identity"), 0);
	CU_ASSERT_EQUAL(json_object_size(json_object_get(ear, "ear.trustworthiness-vector")), 8);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ear,
		"ear.appraisal-policy-id")), "default");
	json_decref(ear);
	/* unknown digest: executables 33 is a warning */
	ear = appraise(p, "{\"sample\":{\"svn\":\"2\",\"launch_digest\":\"fffff\",\"debug\":false}}",
		       "sample");
	CU_ASSERT_STRING_EQUAL(status(ear), "warning");
	CU_ASSERT_EQUAL(tv(ear, "executables"), 33);
	json_decref(ear);
	/* debug: contraindicated whatever else holds */
	ear = appraise(p, "{\"sample\":{\"svn\":\"1\",\"launch_digest\":\"abcde\",\"debug\":true}}",
		       "sample");
	CU_ASSERT_STRING_EQUAL(status(ear), "contraindicated");
	CU_ASSERT_EQUAL(tv(ear, "configuration"), 96);
	json_decref(ear);
	/* svn too low, and an svn that is not a version */
	ear = appraise(p, "{\"sample\":{\"svn\":\"0\",\"launch_digest\":\"abcde\",\"debug\":false}}",
		       "sample");
	CU_ASSERT_STRING_EQUAL(status(ear), "contraindicated");
	CU_ASSERT_EQUAL(tv(ear, "hardware"), 97);
	json_decref(ear);
	/* claims of another TEE do not count under the wrong tee name */
	ear = appraise(p, "{\"sample\":{\"svn\":\"1\",\"launch_digest\":\"abcde\",\"debug\":false}}",
		       "tdx");
	CU_ASSERT_STRING_EQUAL(status(ear), "contraindicated");
	json_decref(ear);
	/* nothing at all */
	ear = appraise(p, "{}", "sample");
	CU_ASSERT_STRING_EQUAL(status(ear), "contraindicated");
	CU_ASSERT_EQUAL(tv(ear, "configuration"), 32);
	json_decref(ear);
	kbs_policy_free(p);
}

static void
test_tdx_vector(void)
{
	kbs_policy *p = load_file("policies/appraisal-default.json");
	char path[1024];
	json_t *body = json_load_file(kbs_unit_vector("tdx/parse_tdx_claims_expected.json",
						     path, sizeof(path)), 0, NULL);
	json_t *claims = json_pack("{s:O}", "tdx", body), *ear = NULL, *trace = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	CU_ASSERT_EQUAL_FATAL(kbs_policy_appraise_traced(p, claims, "tdx", &ear, &trace, NULL),
			      KBS_OK);
	/* the vector's TD has DEBUG set (tests/vectors/README.md) */
	CU_ASSERT_STRING_EQUAL(status(ear), "contraindicated");
	CU_ASSERT_EQUAL(tv(ear, "executables"), 2);
	CU_ASSERT_EQUAL(tv(ear, "hardware"), 2);
	CU_ASSERT_EQUAL(tv(ear, "configuration"), 96);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(json_object_get(
		trace, "trust_vector"), "configuration"), "rule")), "debug-enabled");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(json_object_get(
		trace, "trust_vector"), "executables"), "rule")), "tdx-known-mrtd");
	json_decref(ear);
	json_decref(trace);
	/* the same TD without DEBUG is affirming */
	json_object_set_new(json_object_get(body, "td_attributes"), "debug", json_false());
	CU_ASSERT_EQUAL_FATAL(kbs_policy_appraise(p, claims, "tdx", &ear, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(status(ear), "affirming");
	json_decref(ear);
	/* an older TCB component fails the component-wise minimum */
	json_object_set_new(json_object_get(body, "quote") ? json_object_get(json_object_get(
		body, "quote"), "body") : NULL, "tcb_svn",
		json_string("03000400000000000000000000000000"));
	CU_ASSERT_EQUAL_FATAL(kbs_policy_appraise(p, claims, "tdx", &ear, NULL), KBS_OK);
	CU_ASSERT_EQUAL(tv(ear, "hardware"), 97);
	json_decref(ear);
	json_decref(claims);
	json_decref(body);
	kbs_policy_free(p);
}

static void
test_snp(void)
{
	kbs_policy *p = load_file("policies/appraisal-default.json");
	json_t *ear;
	const char *good = "{\"snp\":{\"measurement\":\"6E1C9D3F0B3B5B0F1FA1E2F3C7A4B8D9"
		"E0A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F\","
		"\"policy_debug_allowed\":\"false\",\"reported_tcb_bootloader\":\"3\","
		"\"reported_tcb_tee\":\"0\",\"reported_tcb_snp\":\"20\","
		"\"reported_tcb_microcode\":\"209\"}}";

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	ear = appraise(p, good, "snp");
	CU_ASSERT_STRING_EQUAL(status(ear), "affirming");
	json_decref(ear);
	ear = appraise(p, "{\"snp\":{\"measurement\":\"00\",\"policy_debug_allowed\":\"true\","
		       "\"reported_tcb_bootloader\":\"3\",\"reported_tcb_snp\":\"7\","
		       "\"reported_tcb_microcode\":\"209\"}}", "snp");
	CU_ASSERT_STRING_EQUAL(status(ear), "contraindicated");
	CU_ASSERT_EQUAL(tv(ear, "executables"), 33);
	CU_ASSERT_EQUAL(tv(ear, "hardware"), 97);
	CU_ASSERT_EQUAL(tv(ear, "configuration"), 96);
	json_decref(ear);
	kbs_policy_free(p);
}

static kbs_policy *
load_text(const char *t)
{
	kbs_policy *p = NULL;
	kbs_errbuf eb = {{0}};

	if (kbs_policy_parse(t, strlen(t), &p, &eb) != KBS_OK)
		fprintf(stderr, "load: %s\n", eb.msg);
	return p;
}

static void
test_shapes(void)
{
	kbs_policy *empty = load_text("{\"version\":1,\"kind\":\"appraisal\",\"id\":\"e\","
				      "\"trust_vector\":{}}");
	kbs_policy *neg = load_text("{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":"
				    "{\"sourced-data\":[{\"value\":-2}],\"storage-opaque\":"
				    "[{\"value\":\"warning\"}]}}");
	kbs_policy *res = load_text("{\"version\":1,\"rules\":[]}");
	json_t *claims = json_object(), *ear = (json_t *)&ear;
	const char *bad[] = {
		"{\"version\":1,\"kind\":\"appraisal\"}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":[]}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"firmware\":[{\"value\":2}]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"hardware\":[]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"hardware\":[{\"value\":128}]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"hardware\":[{\"value\":\"great\"}]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"hardware\":[{}]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"hardware\":[1]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"hardware\":[{\"value\":2,\"x\":1}]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"trust_vector\":{\"hardware\":[{\"value\":2,"
		"\"when\":{\"claim\":\"/a\",\"op\":\"bogus\"}}]}}",
		"{\"version\":1,\"kind\":\"appraisal\",\"rules\":[],\"trust_vector\":{}}",
		NULL
	};
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(empty);
	CU_ASSERT_PTR_NOT_NULL_FATAL(neg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	CU_ASSERT_EQUAL_FATAL(kbs_policy_appraise(empty, claims, "sample", &ear, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(status(ear), "none");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ear,
		"ear.appraisal-policy-id")), "e");
	json_decref(ear);
	CU_ASSERT_EQUAL_FATAL(kbs_policy_appraise(neg, claims, NULL, &ear, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(status(ear), "warning");
	CU_ASSERT_EQUAL(tv(ear, "sourced-data"), -2);
	CU_ASSERT_EQUAL(tv(ear, "storage-opaque"), 32);
	json_decref(ear);
	ear = (json_t *)&ear;
	CU_ASSERT_EQUAL(kbs_policy_appraise(res, claims, "sample", &ear, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_policy_appraise(empty, NULL, "sample", &ear, NULL), KBS_ERR_INVALID);
	CU_ASSERT_PTR_EQUAL(ear, (json_t *)&ear);
	for (i = 0; bad[i] != NULL; i++) {
		kbs_policy *p = NULL;
		CU_ASSERT_NOT_EQUAL(kbs_policy_parse(bad[i], strlen(bad[i]), &p, NULL), KBS_OK);
		CU_ASSERT_PTR_NULL(p);
	}
	json_decref(claims);
	kbs_policy_free(empty);
	kbs_policy_free(neg);
	kbs_policy_free(res);
}

static void
test_tiers(void)
{
	static const struct { long long v; const char *t; } cases[] = {
		{0, "none"}, {-1, "none"}, {1, "none"}, {2, "affirming"},
		{31, "affirming"}, {-2, "affirming"}, {-32, "affirming"},
		{32, "warning"}, {95, "warning"}, {-33, "warning"}, {-96, "warning"},
		{96, "contraindicated"}, {127, "contraindicated"},
		{-97, "contraindicated"}, {-128, "contraindicated"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_STRING_EQUAL(kbs_policy_ar4si_tier(cases[i].v), cases[i].t);
}

static const kbs_unit_test tests[] = {
	{"sample claims", test_sample},
	{"TDX test vector claims", test_tdx_vector},
	{"SNP claims", test_snp},
	{"document shapes", test_shapes},
	{"AR4SI tiers", test_tiers},
	{NULL, NULL},
};

KBS_UNIT_MAIN("policy_appraise", tests)
