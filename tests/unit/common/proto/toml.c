/* Unit tests for common/toml.c (and the init-data claims in proto.c). */
#include <string.h>

#include <openssl/evp.h>

#include "proto.h"
#include "toml.h"
#include "unit.h"

/* Parse text and compare with the JSON want (NULL: expect rc). */
static void
expect(const char *text, const char *want, kbs_err rc)
{
	json_t *got = NULL, *w;
	kbs_errbuf eb = {{0}};
	kbs_err r = kbs_toml_parse(text, strlen(text), &got, &eb);

	CU_ASSERT_EQUAL(r, rc);
	if (r != rc)
		fprintf(stderr, "\n%s -> %d %s\n", text, r, eb.msg);
	if (rc != KBS_OK) {
		CU_ASSERT_PTR_NULL(got);
		CU_ASSERT(strstr(eb.msg, "TOML") != NULL);
		return;
	}
	w = json_loads(want, JSON_DECODE_ANY, NULL);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(json_equal(got, w));
	if (!json_equal(got, w)) {
		char *s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(stderr, "\n%s -> %s\n", text, s);
		free(s);
	}
	json_decref(w);
	json_decref(got);
}

static void
test_strings(void)
{
	expect("a = \"tab\\there \\u00e9 \\U0001F600 \\\"q\\\" \\\\\"\n",
	       "{\"a\":\"tab\\there \\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\\"}", KBS_OK);
	expect("a = 'C:\\path'\n", "{\"a\":\"C:\\\\path\"}", KBS_OK);
	/* Multi-line basic: first newline trimmed, line-ending backslash,
	 * up to two quotes before the closing three. */
	expect("a = \"\"\"\nline1\\\n    line2\n  \"\"\nend\"\"\"\"\"\n",
	       "{\"a\":\"line1line2\\n  \\\"\\\"\\nend\\\"\\\"\"}", KBS_OK);
	expect("a = '''\nraw \\n'''\n", "{\"a\":\"raw \\\\n\"}", KBS_OK);
	expect("a = \"\"\"one\"\"two\"\"\"\n", "{\"a\":\"one\\\"\\\"two\"}", KBS_OK);
	expect("a = \"unterminated\n", NULL, KBS_ERR_INVALID);
	expect("a = \"bad \\q escape\"\n", NULL, KBS_ERR_INVALID);
	expect("a = \"\\ud800\"\n", NULL, KBS_ERR_INVALID);
	expect("a = \"ctl \x01\"\n", NULL, KBS_ERR_INVALID);
	expect("a = 'no\nnewline'\n", NULL, KBS_ERR_INVALID);
}

static void
test_numbers_and_booleans(void)
{
	expect("a = +1_000\nb = 0o17\nc = 0b101\nd = 0xDEAD_beef\ne = -7\n"
	       "f = true\ng = false\n",
	       "{\"a\":1000,\"b\":15,\"c\":5,\"d\":3735928559,\"e\":-7,"
	       "\"f\":true,\"g\":false}", KBS_OK);
	expect("a = 1e3\nb = -1.5E-2\nc = 3.14_15\nd = +inf\ne = nan\n",
	       "{\"a\":1000.0,\"b\":-0.015,\"c\":3.1415,\"d\":null,\"e\":null}",
	       KBS_OK);
	expect("a = 9223372036854775807\nb = -9223372036854775808\n",
	       "{\"a\":9223372036854775807,\"b\":-9223372036854775808}", KBS_OK);
	expect("a = 9223372036854775808\n", NULL, KBS_ERR_INVALID);
	expect("a = 01\n", NULL, KBS_ERR_INVALID);
	expect("a = 1__0\n", NULL, KBS_ERR_INVALID);
	expect("a = 0x_1\n", NULL, KBS_ERR_INVALID);
	expect("a = .5\n", NULL, KBS_ERR_INVALID);
	expect("a = 5.\n", NULL, KBS_ERR_INVALID);
	expect("a = truex\n", NULL, KBS_ERR_INVALID);
	expect("a = 1979-05-27T07:32:00Z\n", NULL, KBS_ERR_UNSUPPORTED);
	expect("a = 07:32:00\n", NULL, KBS_ERR_UNSUPPORTED);
}

static void
test_tables_and_keys(void)
{
	expect("a.b.c = 1\na.b.d = \"x\"\n[x]\ny = {z = 1, w = [1, [2, 3], {q = \"r\"}]}\n",
	       "{\"a\":{\"b\":{\"c\":1,\"d\":\"x\"}},\"x\":{\"y\":{\"z\":1,"
	       "\"w\":[1,[2,3],{\"q\":\"r\"}]}}}", KBS_OK);
	expect("[[fruit]]\nname = \"apple\"\n[fruit.physical]\ncolor = \"red\"\n"
	       "[[fruit.variety]]\nname = \"rd\"\n[[fruit]]\nname = \"banana\"\n",
	       "{\"fruit\":[{\"name\":\"apple\",\"physical\":{\"color\":\"red\"},"
	       "\"variety\":[{\"name\":\"rd\"}]},{\"name\":\"banana\"}]}", KBS_OK);
	expect("\"quoted key\" = 1\n'lit.key' = 2\nbare-key_1 = 3\n",
	       "{\"quoted key\":1,\"lit.key\":2,\"bare-key_1\":3}", KBS_OK);
	expect("[a.b]\nc = 1\n[a]\nd = 2\n", "{\"a\":{\"b\":{\"c\":1},\"d\":2}}",
	       KBS_OK);
	expect("a = 1 # comment\n# full\n\n  b = \"x\" # c\r\nc = [\n 1, # one\n 2,\n]\n",
	       "{\"a\":1,\"b\":\"x\",\"c\":[1,2]}", KBS_OK);
	expect("a = {}\nb = []\n", "{\"a\":{},\"b\":[]}", KBS_OK);
	expect("", "{}", KBS_OK);
	/* Defined twice, extending closed values, stray text. */
	expect("a = 1\na = 2\n", NULL, KBS_ERR_INVALID);
	expect("[a]\nb = 1\n[a]\nc = 2\n", NULL, KBS_ERR_INVALID);
	expect("a = {b = 1}\na.c = 2\n", NULL, KBS_ERR_INVALID);
	expect("a = [1]\n[[a]]\n", NULL, KBS_ERR_INVALID);
	expect("[fruit]\napple.color = \"red\"\n[fruit.apple]\n", NULL,
	       KBS_ERR_INVALID);
	expect("= 1\n", NULL, KBS_ERR_INVALID);
	expect("a = 1 b = 2\n", NULL, KBS_ERR_INVALID);
	expect("[a\nb = 1\n", NULL, KBS_ERR_INVALID);
	expect("\"k\\u0000\" = 1\n", NULL, KBS_ERR_INVALID);
}

static void
test_bounds(void)
{
	char deep[200], big[KBS_TOML_MAX_LEN + 2];
	json_t *j = NULL;
	size_t i, n = 0;

	n += (size_t)snprintf(deep, sizeof(deep), "a = ");
	for (i = 0; i < 20; i++)
		deep[n++] = '[';
	for (i = 0; i < 20; i++)
		deep[n++] = ']';
	deep[n++] = '\n';
	deep[n] = '\0';
	CU_ASSERT_EQUAL(kbs_toml_parse(deep, n, &j, NULL), KBS_ERR_TOO_LARGE);
	memset(big, ' ', sizeof(big));
	CU_ASSERT_EQUAL(kbs_toml_parse(big, sizeof(big), &j, NULL), KBS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kbs_toml_parse("a = 1\0", 6, &j, NULL), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(j);
}

/* The document guests send (guest-components' example init-data). */
static const char initdata[] =
	"algorithm = \"sha384\"\n"
	"version = \"0.1.0\"\n"
	"\n"
	"[data]\n"
	"\"aa.toml\" = '''\n"
	"[token_configs]\n"
	"[token_configs.kbs]\n"
	"url = 'http://127.0.0.1:8080'\n"
	"cert = \"\"\"\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\"\"\"\n"
	"'''\n"
	"\"cdh.toml\" = '''\n"
	"socket = 'unix:///run/confidential-containers/cdh.sock'\n"
	"credentials = []\n"
	"[kbc]\nname = 'cc_kbc'\nurl = 'http://1.2.3.4:8080'\n"
	"'''\n"
	"\"policy.rego\" = '''\n"
	"package agent_policy\n"
	"default AllowRequestsFailingPolicy := false\n"
	"policy_data := {\n  \"containers\": [1, 2]\n}\n"
	"'''\n"
	"\"other\" = \"kept as is\"\n";

static void
test_initdata_claims(void)
{
	uint8_t d[KBS_PROTO_DIGEST_MAX], want[48];
	size_t n = 0;
	json_t *c = NULL;

	CU_ASSERT_EQUAL_FATAL(kbs_proto_initdata_parse(initdata, strlen(initdata),
						       d, &n, &c, NULL), KBS_OK);
	CU_ASSERT_EQUAL(n, 48);
	EVP_Digest(initdata, strlen(initdata), want, NULL, EVP_sha384(), NULL);
	CU_ASSERT(memcmp(d, want, 48) == 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(
		json_object_get(json_object_get(c, "aa.toml"), "token_configs"),
		"kbs"), "url")), "http://127.0.0.1:8080");
	CU_ASSERT(json_is_array(json_object_get(json_object_get(c, "cdh.toml"),
						"credentials")));
	CU_ASSERT_PTR_NULL(json_object_get(c, "policy.rego"));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(c,
		"agent_policy_claims"), "containers")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "other")),
			       "kept as is");
	json_decref(c);
}

static void
test_initdata_refusals(void)
{
	static const char *const bad[] = {
		"algorithm = \"sha384\"\n[data]\n",                      /* no version */
		"version = \"0.1.0\"\n[data]\n",                        /* no algorithm */
		"algorithm = \"sha384\"\nversion = \"0.1.0\"\n",        /* no data */
		"algorithm = \"sha384\"\nversion = \"0.1.0\"\n[data]\nk = 1\n",
		"algorithm = \"sha384\"\nversion = \"0.1.0\"\n[data\n", /* not TOML */
		"algorithm = sha384\nversion = \"0.1.0\"\n[data]\n",
		NULL,
	};
	uint8_t d[KBS_PROTO_DIGEST_MAX];
	size_t i, n;
	json_t *c = NULL;
	kbs_errbuf eb = {{0}};

	for (i = 0; bad[i] != NULL; i++) {
		CU_ASSERT_EQUAL(kbs_proto_initdata_parse(bad[i], strlen(bad[i]), d,
							 &n, &c, &eb), KBS_ERR_INVALID);
		CU_ASSERT(strstr(eb.msg, "init-data") != NULL);
	}
	CU_ASSERT_PTR_NULL(c);
	/* A policy.rego whose policy_data is not the last thing stays text;
	 * an aa.toml that is not TOML stays a string. */
	{
		static const char doc[] = "algorithm = \"sha256\"\nversion = \"0.1.0\"\n"
			"[data]\n\"policy.rego\" = 'policy_data := {\"a\": 1} x'\n"
			"\"aa.toml\" = '[broken'\n";
		CU_ASSERT_EQUAL_FATAL(kbs_proto_initdata_parse(doc, strlen(doc), d, &n,
							       &c, NULL), KBS_OK);
		CU_ASSERT_EQUAL(n, 32);
		CU_ASSERT(json_is_string(json_object_get(c, "policy.rego")));
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "aa.toml")),
				       "[broken");
		json_decref(c);
	}
}

static const kbs_unit_test tests[] = {
	{"strings", test_strings},
	{"numbers_and_booleans", test_numbers_and_booleans},
	{"tables_and_keys", test_tables_and_keys},
	{"bounds", test_bounds},
	{"initdata_claims", test_initdata_claims},
	{"initdata_refusals", test_initdata_refusals},
	{NULL, NULL},
};

KBS_UNIT_MAIN("toml", tests)
