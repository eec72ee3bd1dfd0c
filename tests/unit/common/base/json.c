/* Unit tests for common/json.c (lead's module). */
#include "json.h"
#include "unit.h"

static json_t *
parse(const char *s, size_t depth)
{
	kbs_errbuf eb = {{0}};
	json_t *j = kbs_json_parse(s, strlen(s), depth, &eb);

	if (j == NULL)
		CU_ASSERT(eb.msg[0] != '\0');
	return j;
}

static int
parses(const char *s, size_t depth)
{
	json_t *j = parse(s, depth);

	json_decref(j);
	return j != NULL;
}

/* "[[[...]]]" with n levels. */
static char *
nested(size_t n, char open, char close)
{
	char *s = malloc(2 * n + 1);

	memset(s, open, n);
	memset(s + n, close, n);
	s[2 * n] = '\0';
	return s;
}

static void
test_depth(void)
{
	char *s = nested(32, '[', ']');

	CU_ASSERT(parses(s, 32));
	free(s);
	s = nested(33, '[', ']');
	CU_ASSERT(!parses(s, 32));
	CU_ASSERT(parses(s, 33));
	free(s);
	s = nested(100000, '[', ']');
	CU_ASSERT(!parses(s, KBS_JSON_DEFAULT_DEPTH));
	free(s);
	/* Objects count as well. */
	CU_ASSERT(parses("{\"a\":{\"b\":{}}}", 3));
	CU_ASSERT(!parses("{\"a\":{\"b\":{}}}", 2));
	/* Brackets inside strings (also after an escaped quote) do not. */
	CU_ASSERT(parses("[\"[[[[[[\\\"[[[[[[{{{{\"]", 1));
	CU_ASSERT(parses("{\"k\\\\\":\"[[[[\"}", 1));
}

static void
test_strictness(void)
{
	CU_ASSERT(!parses("{\"a\":1,\"a\":2}", 8));        /* duplicate key */
	CU_ASSERT(!parses("{\"a\":{\"b\":1,\"b\":1}}", 8));
	CU_ASSERT(!parses("{} x", 8));                      /* trailing data */
	CU_ASSERT(!parses("{}{}", 8));
	CU_ASSERT(!parses("[1,]", 8));
	CU_ASSERT(!parses("{'a':1}", 8));
	CU_ASSERT(!parses("\"\xc3\x28\"", 8));              /* bad UTF-8 */
	CU_ASSERT(!parses("", 8));
	CU_ASSERT(!parses("NaN", 8));
	CU_ASSERT(parses("{} \n", 8));                      /* whitespace ok */
	CU_ASSERT(parses("1", 8));                          /* any value */
	CU_ASSERT(parses("\"a\\u0000b\"", 8));              /* NUL allowed */
	CU_ASSERT(kbs_json_parse(NULL, 0, 8, NULL) == NULL);
	/* Exactly len bytes are parsed; no NUL needed. */
	{
		json_t *j = kbs_json_parse("{}garbage", 2, 8, NULL);
		CU_ASSERT(json_is_object(j));
		json_decref(j);
	}
}

static void
test_parse_object(void)
{
	json_t *j = kbs_json_parse_object("{\"a\":1}", 7, 8, NULL);
	kbs_errbuf eb = {{0}};

	CU_ASSERT(json_is_object(j));
	json_decref(j);
	CU_ASSERT(kbs_json_parse_object("[1]", 3, 8, &eb) == NULL);
	CU_ASSERT(eb.msg[0] != '\0');
	CU_ASSERT(kbs_json_parse_object("\"s\"", 3, 8, NULL) == NULL);
	CU_ASSERT(kbs_json_parse_object("{", 1, 8, NULL) == NULL);
}

/* Strings with a NUL are no C strings: refused by the C-string getters. */
static void
test_nul_strings(void)
{
	json_t *j = parse("{\"r\":\"tenant-a\\u0000admin\",\"ok\":\"a\",\"e\":\"\","
			  "\"z\":\"\\u0000\",\"n\":1}", 8);

	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT(kbs_json_has_nul(json_object_get(j, "r")));
	CU_ASSERT(kbs_json_has_nul(json_object_get(j, "z")));
	CU_ASSERT(!kbs_json_has_nul(json_object_get(j, "ok")));
	CU_ASSERT(!kbs_json_has_nul(json_object_get(j, "n")));
	CU_ASSERT(!kbs_json_has_nul(NULL));
	CU_ASSERT_PTR_NULL(kbs_json_str(j, "r"));
	CU_ASSERT_PTR_NULL(kbs_json_str(j, "z"));
	CU_ASSERT_PTR_NULL(kbs_json_cstr(json_object_get(j, "r")));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(j, "ok"), "a");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(j, "e"), "");
	CU_ASSERT_PTR_NULL(kbs_json_cstr(json_object_get(j, "n")));
	/* The value itself is kept whole for length-aware users. */
	CU_ASSERT_EQUAL(json_string_length(json_object_get(j, "r")), 14);
	json_decref(j);
}

static void
test_accessors(void)
{
	json_t *j = parse("{\"s\":\"v\",\"i\":-7,\"r\":1.5,\"n\":null,\"b\":true,"
			  "\"big\":9223372036854775807}", 8);
	json_int_t v = 42;
	char *d;

	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(j, "s"), "v");
	CU_ASSERT_PTR_NULL(kbs_json_str(j, "i"));
	CU_ASSERT_PTR_NULL(kbs_json_str(j, "missing"));
	CU_ASSERT_PTR_NULL(kbs_json_str(NULL, "s"));
	CU_ASSERT(kbs_json_int(j, "i", &v) == KBS_OK && v == -7);
	CU_ASSERT(kbs_json_int(j, "big", &v) == KBS_OK && v == 9223372036854775807LL);
	v = 42;
	CU_ASSERT(kbs_json_int(j, "missing", &v) == KBS_ERR_NOT_FOUND && v == 42);
	CU_ASSERT(kbs_json_int(j, "r", &v) == KBS_ERR_INVALID && v == 42);
	CU_ASSERT(kbs_json_int(j, "s", &v) == KBS_ERR_INVALID && v == 42);
	CU_ASSERT(kbs_json_int(j, "n", &v) == KBS_ERR_INVALID && v == 42);
	CU_ASSERT(kbs_json_int(j, "b", &v) == KBS_ERR_INVALID && v == 42);
	/* Compact, insertion order. */
	d = kbs_json_dumps(j);
	CU_ASSERT_STRING_EQUAL(d, "{\"s\":\"v\",\"i\":-7,\"r\":1.5,\"n\":null,"
			       "\"b\":true,\"big\":9223372036854775807}");
	free(d);
	json_decref(j);
	j = json_string("x");
	d = kbs_json_dumps(j);
	CU_ASSERT_STRING_EQUAL(d, "\"x\"");
	free(d);
	json_decref(j);
}

/* RFC 6901 section 5. */
static void
test_pointer_rfc6901(void)
{
	json_t *d = parse("{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,"
			  "\"e^f\":3,\"g|h\":4,\"i\\\\j\":5,\"k\\\"l\":6,\" \":7,"
			  "\"m~n\":8,\"~1\":9}", 8);
	static const struct { const char *p; int v; } ints[] = {
		{"/", 0}, {"/a~1b", 1}, {"/c%d", 2}, {"/e^f", 3}, {"/g|h", 4},
		{"/i\\j", 5}, {"/k\"l", 6}, {"/ ", 7}, {"/m~0n", 8},
		{"/~01", 9}, /* "~01" is "~1", not "/" */
	};
	size_t i;

	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT(kbs_json_pointer(d, "") == d);
	CU_ASSERT(json_is_array(kbs_json_pointer(d, "/foo")));
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(d, "/foo/0")), "bar");
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(d, "/foo/1")), "baz");
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		json_t *v = kbs_json_pointer(d, ints[i].p);
		CU_ASSERT(json_is_integer(v) && json_integer_value(v) == ints[i].v);
	}
	json_decref(d);
}

static void
test_pointer_refusals(void)
{
	json_t *d = parse("{\"foo\":[\"bar\",\"baz\"],\"m~n\":8,\"o\":{\"p\":{\"q\":1}}}", 8);
	static const char *const bad[] = {
		"foo", "/foo/2", "/foo/01", "/foo/-", "/foo/-1", "/foo/ 1",
		"/foo/1x", "/foo/0/x", "/m~2n", "/m~", "/m~n", "/missing",
		"/o/p/q/r", "/foo/99999999999",
	};
	size_t i;

	CU_ASSERT_FATAL(d != NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_PTR_NULL(kbs_json_pointer(d, bad[i]));
		if (kbs_json_pointer(d, bad[i]) != NULL)
			fprintf(stderr, "\npointer %s resolved\n", bad[i]);
	}
	CU_ASSERT_PTR_NULL(kbs_json_pointer(d, NULL));
	CU_ASSERT(json_integer_value(kbs_json_pointer(d, "/o/p/q")) == 1);
	CU_ASSERT(json_is_object(kbs_json_pointer(d, "/o/p")));
	json_decref(d);
}

/* RFC 6901 array indices: digits only, no leading zero, bounded. */
static void
test_pointer_index(void)
{
	CU_ASSERT_EQUAL(kbs_json_pointer_index("0"), 0);
	CU_ASSERT_EQUAL(kbs_json_pointer_index("10"), 10);
	CU_ASSERT_EQUAL(kbs_json_pointer_index("999999999"), 999999999);
	CU_ASSERT_EQUAL(kbs_json_pointer_index(""), -1);
	CU_ASSERT_EQUAL(kbs_json_pointer_index("01"), -1);
	CU_ASSERT_EQUAL(kbs_json_pointer_index("-1"), -1);
	CU_ASSERT_EQUAL(kbs_json_pointer_index("1a"), -1);
	CU_ASSERT_EQUAL(kbs_json_pointer_index("1000000000"), -1);
}

static const kbs_unit_test tests[] = {
	{"pointer_index", test_pointer_index},
	{"depth", test_depth},
	{"strictness", test_strictness},
	{"parse_object", test_parse_object},
	{"accessors", test_accessors},
	{"nul_strings", test_nul_strings},
	{"pointer_rfc6901", test_pointer_rfc6901},
	{"pointer_refusals", test_pointer_refusals},
	{NULL, NULL},
};

KBS_UNIT_MAIN("json", tests)
