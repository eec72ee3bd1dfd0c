/*
 * Unit tests for common/base/json_write.c: kbs_json_dumps must give what
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) gives, byte for byte
 * (tokens are signed over that text), and fail where jansson fails.
 */
#include <stdint.h>

#include "json.h"
#include "unit.h"

#define JANSSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* Both writers on v; fails the test unless they give the same text. */
static void
same(const json_t *v)
{
	char *a = kbs_json_dumps(v), *b = json_dumps(v, JANSSON_FLAGS);

	if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
		fprintf(stderr, "\nwriters differ: ours %s, jansson %s\n",
			a ? a : "(fail)", b ? b : "(fail)");
		CU_FAIL("json_write and jansson differ");
	}
	free(a);
	free(b);
}

/* Parse text with jansson and compare the writers on it. */
static void
same_text(const char *text)
{
	json_t *v = json_loadb(text, strlen(text),
			       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	same(v);
	json_decref(v);
}

static void
test_documents(void)
{
	static const char *const docs[] = {
		"{}", "[]", "\"\"", "0", "-1", "true", "false", "null",
		"9223372036854775807", "-9223372036854775808",
		"{\"b\":1,\"a\":[1,2,{\"c\":null}],\"\":{}}",
		"[[],[[]],{\"x\":[{}]}]",
		"\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\\u007f\"",
		"\"\\u00e9\\u20ac\\ud83d\\ude00 \xc3\xa9\xf0\x9f\x98\x80\"",
		"{\"\\u00e9\\n\":\"k\"}",
		"[0.5,1.0,-0.0,1e300,1e-7,123456789.123,2.5e-308,1.7976931348623157e308]",
		"{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		same_text(docs[i]);
}

/* Every byte value alone in a string: escapes, ASCII, and the lone
 * bytes that are not UTF-8 (both writers fail those). */
static void
test_every_byte(void)
{
	char s[3] = {'a', 0, 'b'};
	json_t *v;
	int c;

	for (c = 0; c < 256; c++) {
		s[1] = (char)c;
		v = json_stringn_nocheck(s, sizeof(s));
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		same(v);
		if (c >= 0x80)
			CU_ASSERT_PTR_NULL(kbs_json_dumps(v));
		json_decref(v);
	}
}

/* Overlong forms, surrogates and values past U+10FFFF fail, as in
 * jansson (strings set unchecked, as a caller could). */
static void
test_bad_utf8(void)
{
	static const char *const bad[] = {
		"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xf0\x9f\x98", "\xc3",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *v = json_string_nocheck(bad[i]);
		char *d = kbs_json_dumps(v);
		CU_ASSERT_PTR_NULL(d);
		same(v);
		free(d);
		json_decref(v);
	}
}

/*
 * A key that is not UTF-8 fails the text.  jansson ignores its own
 * failure there and writes a broken text; ours must not.
 */
static void
test_bad_key(void)
{
	json_t *o = json_object();

	CU_ASSERT_EQUAL(json_object_set_new_nocheck(o, "a\xff", json_true()), 0);
	CU_ASSERT_PTR_NULL(kbs_json_dumps(o));
	json_decref(o);
}

/* Deeper than the bound fails; a cycle (which the bound stands in for
 * jansson's check of) fails instead of running away. */
static void
test_depth_and_cycle(void)
{
	json_t *root = json_array(), *cur = root, *a, *b;
	char *d;
	int i;

	for (i = 0; i < KBS_JSON_WRITE_MAX_DEPTH; i++) {
		json_t *n = json_array();
		json_array_append_new(cur, n);
		cur = n;
	}
	d = kbs_json_dumps(root);
	CU_ASSERT_PTR_NOT_NULL(d);
	CU_ASSERT_EQUAL(strlen(d), 2 * (KBS_JSON_WRITE_MAX_DEPTH + 1));
	free(d);
	json_array_append_new(cur, json_array());
	CU_ASSERT_PTR_NULL(kbs_json_dumps(root));
	json_decref(root);

	/* jansson refuses an array appended to itself, not a longer loop */
	a = json_array();
	b = json_array();
	CU_ASSERT_EQUAL(json_array_append_new(a, b), 0);
	CU_ASSERT_EQUAL(json_array_append(b, a), 0);
	CU_ASSERT_PTR_NULL(kbs_json_dumps(a));
	CU_ASSERT_PTR_NULL(json_dumps(a, JANSSON_FLAGS));
	json_array_clear(b);
	json_decref(a);
}

/* A text that outgrows the buffer several times over. */
static void
test_large(void)
{
	json_t *o = json_object();
	char key[16];
	int i;

	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(o, key, json_pack("[is]", i, "v\n\"x\xc3\xa9"));
	}
	same(o);
	json_decref(o);
}

/* Random values from a fixed seed: what the fuzz driver does unbounded. */
static json_t *
random_value(uint64_t *x, int depth)
{
	static const char *const strs[] = {
		"", "a", "\"", "\\", "\n\t", "\x01\x1f", "\xc3\xa9", "\xf0\x9f\x98\x80",
		"/", "\x7f", "tee-pubkey",
	};
	json_t *v;
	int i, n;

	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	switch (depth > 5 ? 2 + *x % 5 : *x % 7) {
	case 0:
		v = json_object();
		n = (int)(*x >> 8) % 4;
		for (i = 0; i < n; i++)
			json_object_set_new(v, strs[(*x >> (12 + i)) % 11],
					    random_value(x, depth + 1));
		return v;
	case 1:
		v = json_array();
		n = (int)(*x >> 8) % 4;
		for (i = 0; i < n; i++)
			json_array_append_new(v, random_value(x, depth + 1));
		return v;
	case 2: return json_string(strs[(*x >> 9) % 11]);
	case 3: return json_integer((json_int_t)(*x >> 3) - (json_int_t)(*x >> 2));
	case 4: return json_real((double)(int64_t)*x / (double)((*x >> 40) + 1));
	case 5: return json_boolean(*x & 256);
	default: return json_null();
	}
}

static void
test_random(void)
{
	uint64_t x = 88172645463325252ULL;
	int i;

	for (i = 0; i < 3000; i++) {
		json_t *v = random_value(&x, 0);
		same(v);
		json_decref(v);
	}
}

static const kbs_unit_test tests[] = {
	{"documents", test_documents},
	{"every_byte", test_every_byte},
	{"bad_utf8", test_bad_utf8},
	{"bad_key", test_bad_key},
	{"depth_and_cycle", test_depth_and_cycle},
	{"large", test_large},
	{"random", test_random},
	{NULL, NULL},
};

KBS_UNIT_MAIN("json_write", tests)
