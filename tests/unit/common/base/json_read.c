/*
 * Unit tests for common/base/json_read.c: every case is also parsed by
 * jansson (kbs_json_parse, then a check for an object), and the two must
 * agree on accepting it and, when they do, on the values and their
 * member order.  Also kbs_json_parse_object, which reads with the one
 * and explains a refusal with the other.
 */
#include "json.h"
#include "unit.h"

/* The compact dump of v (member order kept), or NULL. */
static char *
dump(const json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)
		 : NULL;
}

/* jansson's reading of buf as an object (the reference), or NULL. */
static json_t *
jansson_object(const char *buf, size_t len, size_t depth, kbs_errbuf *eb)
{
	json_t *v = kbs_json_parse(buf, len, depth, eb);

	if (v != NULL && !json_is_object(v)) {
		kbs_errf(eb, KBS_ERR_INVALID, "not an object");
		json_decref(v);
		v = NULL;
	}
	return v;
}

/* Parse buf both ways; 1 if accepted.  Fails the test on disagreement. */
static int
both(const char *buf, size_t len)
{
	kbs_errbuf e1, e2;
	json_t *a = kbs_json_read_object(buf, len, 8, &e1);
	json_t *b = jansson_object(buf, len, 8, &e2);
	char *da = dump(a), *db = dump(b);
	int ok = a != NULL;

	if ((a == NULL) != (b == NULL) || (da && db && strcmp(da, db) != 0)) {
		fprintf(stderr, "\ndisagree on [%.*s]: ours %s, jansson %s\n",
			(int)len, buf, da ? da : e1.msg, db ? db : e2.msg);
		CU_FAIL("json_read and jansson disagree");
	}
	free(da);
	free(db);
	json_decref(a);
	json_decref(b);
	return ok;
}

static int
both_s(const char *s)
{
	return both(s, strlen(s));
}

static const char *const accepted[] = {
	"{}", " {} ", "\t\r\n{\"a\":1}\n", "{\"a\":[]}", "{\"a\":[1,2,[3,{}]]}",
	"{\"a\":true,\"b\":false,\"c\":null}", "{\"z\":1,\"a\":2,\"m\":3}",
	"{\"n\":-0}", "{\"n\":-0.0}", "{\"n\":0.5e-3}", "{\"n\":1E+2}",
	"{\"n\":9223372036854775807}", "{\"n\":-9223372036854775808}",
	"{\"n\":1e-400}", "{\"n\":123456789012345678901234567890.5}",
	"{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", "{\"s\":\"\\u00e9\\u20AC\"}",
	"{\"s\":\"\\ud83d\\ude00\"}", "{\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
	"{\"s\":\"a\\u0000b\"}", "{\"\xc3\xa9\":\"x\"}", "{\"a\":{\"a\":{\"a\":1}}}",
	"{\"a\":1,\"b\":{\"a\":2}}", "{\"\":\"\"}", "{\"a\" : [ 1 , 2 ] }",
};

static const char *const refused[] = {
	"", " ", "[]", "\"s\"", "1", "null", "{", "}", "{\"a\"}", "{\"a\":}",
	"{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "{\"a\":[1,]}", "{\"a\":[,1]}",
	"{'a':1}", "{a:1}", "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":01}", "{\"a\":-}",
	"{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":+1}",
	"{\"a\":0x1}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":1e400}",
	"{\"a\":-1e400}", "{\"a\":9223372036854775808}",
	"{\"a\":-9223372036854775809}", "{\"a\":tru}", "{\"a\":truex}",
	"{\"a\":nul}", "{\"a\":True}", "{\"a\":1,\"a\":2}",
	"{\"a\":{\"b\":1,\"b\":1}}", "{\"a\\u0000\":1}", "{\"s\":\"\\x\"}",
	"{\"s\":\"\\u12\"}", "{\"s\":\"\\u12G4\"}", "{\"s\":\"\\ud83d\"}",
	"{\"s\":\"\\ud83dx\"}", "{\"s\":\"\\ud83d\\u0041\"}", "{\"s\":\"\\ude00\"}",
	"{\"s\":\"a\nb\"}", "{\"s\":\"a\tb\"}", "{\"s\":\"\x1f\"}", "{\"s\":\"abc}",
	"{\"s\":\"\\\"}", "{\"s\":\"\xc0\xaf\"}", "{\"s\":\"\xe0\x80\xaf\"}",
	"{\"s\":\"\xed\xa0\x80\"}", "{\"s\":\"\xf4\x90\x80\x80\"}",
	"{\"s\":\"\xf5\x80\x80\x80\"}", "{\"s\":\"\x80\"}", "{\"s\":\"\xc3\"}",
	"{\"s\":\"\xe2\x82\"}", "{\"a\":1}\xc3\xa9", "{\"a\":[[[[[[[[[1]]]]]]]]]}",
	"{\"a\":\xc3\xa9}", "{\"a\":1\x01}",
};

static void
test_accepted(void)
{
	size_t i;

	for (i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		if (!both_s(accepted[i])) {
			fprintf(stderr, "\nrefused: %s\n", accepted[i]);
			CU_FAIL("a valid object was refused");
		}
}

static void
test_refused(void)
{
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (both_s(refused[i])) {
			fprintf(stderr, "\naccepted: %s\n", refused[i]);
			CU_FAIL("an invalid object was accepted");
		}
}

/* buf (len bytes, a NUL among them) is refused by the reader and by
 * kbs_json_parse_object, though jansson takes it. */
static void
nul_refused(const char *buf, size_t len)
{
	kbs_errbuf eb;
	json_t *v = kbs_json_read_object(buf, len, 8, NULL);
	json_t *j = jansson_object(buf, len, 8, NULL);
	json_t *p = kbs_json_parse_object(buf, len, 8, &eb);

	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(j);
	CU_ASSERT_PTR_NULL(p);
	if (p == NULL)
		CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "invalid at byte"));
	json_decref(v);
	json_decref(j);
	json_decref(p);
}

/*
 * A NUL byte inside the input (not an escape) is refused.  jansson
 * passes over one right after a number or a literal (its stream takes
 * the NUL it pushed back for the end of its buffer; the fuzz driver
 * found it): the one input where the two differ, and the stricter
 * answer is RFC 8259's.
 */
static void
test_raw_nul(void)
{
	CU_ASSERT_FALSE(both("{\"a\":\"x\0y\"}", 11));
	CU_ASSERT_FALSE(both("{\"a\":1}\0", 8));
	CU_ASSERT_TRUE(both("{\"a\":1}", 7));
	nul_refused("{\"a\":5\0}", 8);
	nul_refused("{\"a\":true\0}", 11);
	nul_refused("{\"a\":[null\0]}", 13);
}

/* Too deep is refused before anything is built, as kbs_json_parse does. */
static void
test_depth(void)
{
	kbs_errbuf eb;
	json_t *v = kbs_json_read_object("{\"a\":[[1]]}", 11, 2, &eb);

	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "deeper"));
	v = kbs_json_read_object("{\"a\":[[1]]}", 11, 3, &eb);
	CU_ASSERT_PTR_NOT_NULL(v);
	json_decref(v);
}

/*
 * Random edits of valid documents (a fixed seed, so runs repeat): each
 * edit must get the same answer from both.  What a fuzz run does, in a
 * few thousand steps (tests/fuzz/json.c runs it unbounded).
 */
static void
test_random_edits(void)
{
	static const char *const seeds[] = {
		"{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\",\"jwk\":{\"kty\":\"EC\",\"x5c\":[\"MIIB\"]}}",
		"{\"iat\":1796659717,\"exp\":1.5e3,\"s\":\"\\u00e9\\ud83d\\ude00\\n\",\"a\":[true,false,null,-0,[]],\"o\":{}}",
	};
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefDdEe+-. \t\nnulltruefalse\x80\xc3\xa9\xed\xf0\x01";
	unsigned long long x = 88172645463325252ULL;
	char buf[256];
	size_t len, i, k;
	int r;

	for (i = 0; i < 20000; i++) {
		const char *s = seeds[i % 2];
		len = strlen(s);
		memcpy(buf, s, len);
		for (k = 0; k < 1 + i % 4; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t at = (size_t)(x >> 8) % len;
			char c = alphabet[(x >> 40) % (sizeof(alphabet) - 1)];
			r = (int)((x >> 20) % 3);
			if (r == 0)
				buf[at] = c;
			else if (r == 1 && len > 1)
				memmove(buf + at, buf + at + 1, --len - at);
			else if (len < sizeof(buf) - 1) {
				memmove(buf + at + 1, buf + at, len++ - at);
				buf[at] = c;
			}
		}
		both(buf, len);
	}
}

/*
 * kbs_json_parse_object refuses what the reader refuses with jansson's
 * message, which says where (line, column) and what, as before the
 * reader; a document too deep says so even where it is also invalid
 * earlier (jansson's depth scan runs first).
 */
static json_t *
parse_s(const char *s, size_t depth, kbs_errbuf *eb)
{
	return kbs_json_parse_object(s, strlen(s), depth, eb);
}

static void
test_parse_object_messages(void)
{
	kbs_errbuf eb;
	json_t *v;

	v = parse_s("{\"a\":1,\n \"b\" 2}", 8, &eb);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "line 2 column"));
	v = parse_s("[1]", 8, &eb);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_STRING_EQUAL(eb.msg, "JSON value is not an object");
	v = parse_s("{\"a\":x,\"b\":[[[1]]]}", 2, &eb);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "deeper than 2"));
	v = parse_s("{\"a\":[1,{\"b\":null}]}", 8, &eb);
	CU_ASSERT_PTR_NOT_NULL(v);
	json_decref(v);
}

static const kbs_unit_test tests[] = {
	{"accepted", test_accepted},
	{"refused", test_refused},
	{"raw_nul", test_raw_nul},
	{"depth", test_depth},
	{"random_edits", test_random_edits},
	{"parse_object_messages", test_parse_object_messages},
	{NULL, NULL},
};

KBS_UNIT_MAIN("json_read", tests)
