/*
 * ttlv.c - tests of common/ttlv.c.
 *
 * The known answers are the TTLV examples of the KMIP 1.x specification
 * (section 9.1.2, tag 0x420020), which PyKMIP's encoder reproduces byte
 * for byte; every one is decoded and re-encoded.  Then the strictness
 * rules: truncation, trailing bytes, wrong fixed lengths, non-zero
 * padding, misaligned structures, bad booleans, unknown types and tags,
 * and the depth, item and length bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "ttlv.h"
#include "unit.h"

#define TAG 0x420020

static size_t
unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned int hi, lo;

	while (hex[0] != '\0' && hex[1] != '\0' && n < max) {
		hi = (unsigned)(hex[0] <= '9' ? hex[0] - '0' : (hex[0] | 0x20) - 'a' + 10);
		lo = (unsigned)(hex[1] <= '9' ? hex[1] - '0' : (hex[1] | 0x20) - 'a' + 10);
		out[n++] = (uint8_t)(hi << 4 | lo);
		hex += 2;
	}
	return n;
}

/* Decode hex, check type, re-encode to the same bytes; returns the tree. */
static kbs_ttlv *
roundtrip(const char *hex, kbs_ttlv_type type)
{
	uint8_t in[256], *out = NULL;
	size_t n = unhex(hex, in, sizeof(in)), olen = 0;
	kbs_ttlv *t = NULL;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_decode(in, n, NULL, &t, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_ttlv_tag(t), TAG);
	CU_ASSERT_EQUAL(kbs_ttlv_get_type(t), type);
	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_encode(t, &out, &olen, &eb), KBS_OK);
	CU_ASSERT_EQUAL(olen, n);
	CU_ASSERT(olen == n && memcmp(out, in, n) == 0);
	free(out);
	return t;
}

/* Build a one-child tree with add, encode the child alone by decoding. */
static void
expect_encoding(kbs_ttlv *root, const char *hex)
{
	uint8_t want[256], *out = NULL;
	size_t n = unhex(hex, want, sizeof(want)), olen = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_encode(root, &out, &olen, NULL), KBS_OK);
	/* The root header (8 bytes) wraps the one child. */
	CU_ASSERT_EQUAL(olen, n + 8);
	CU_ASSERT(olen == n + 8 && memcmp(out + 8, want, n) == 0);
	free(out);
	kbs_ttlv_free(root);
}

static void
test_kat_integer(void)
{
	int32_t v = 0;
	kbs_ttlv *t = roundtrip("42002002000000040000000800000000",
				KBS_TTLV_INTEGER);
	kbs_ttlv *r = kbs_ttlv_new_struct(0x420001);

	CU_ASSERT_EQUAL(kbs_ttlv_get_int(t, &v), KBS_OK);
	CU_ASSERT_EQUAL(v, 8);
	kbs_ttlv_free(t);
	kbs_ttlv_add_int(r, TAG, 8);
	expect_encoding(r, "42002002000000040000000800000000");
	/* Negative integers are two's complement in 4 bytes. */
	t = roundtrip("4200200200000004fffffffe00000000", KBS_TTLV_INTEGER);
	CU_ASSERT_EQUAL(kbs_ttlv_get_int(t, &v), KBS_OK);
	CU_ASSERT_EQUAL(v, -2);
	kbs_ttlv_free(t);
}

static void
test_kat_long(void)
{
	int64_t v = 0;
	kbs_ttlv *t = roundtrip("420020030000000801b69b4ba5749200",
				KBS_TTLV_LONG_INTEGER);
	kbs_ttlv *r = kbs_ttlv_new_struct(0x420001);

	CU_ASSERT_EQUAL(kbs_ttlv_get_long(t, &v), KBS_OK);
	CU_ASSERT_EQUAL(v, 123456789000000000LL);
	kbs_ttlv_free(t);
	kbs_ttlv_add_long(r, TAG, 123456789000000000LL);
	expect_encoding(r, "420020030000000801b69b4ba5749200");
}

static void
test_kat_big(void)
{
	static const uint8_t big[16] = {0, 0, 0, 0, 0x03, 0xfd, 0x35, 0xeb,
					0x6b, 0xc2, 0xdf, 0x46, 0x18, 0x08,
					0, 0};
	const uint8_t *p = NULL;
	size_t n = 0;
	kbs_ttlv *t = roundtrip("42002004000000100000000003fd35eb6bc2df4618080000",
				KBS_TTLV_BIG_INTEGER);
	kbs_ttlv *r = kbs_ttlv_new_struct(0x420001);

	CU_ASSERT_EQUAL(kbs_ttlv_get_bytes(t, &p, &n), KBS_OK);
	CU_ASSERT(n == 16 && memcmp(p, big, 16) == 0);
	kbs_ttlv_free(t);
	kbs_ttlv_add_big(r, TAG, big, sizeof(big));
	expect_encoding(r, "42002004000000100000000003fd35eb6bc2df4618080000");
	/* A big integer must be a non-zero multiple of 8 bytes. */
	r = kbs_ttlv_new_struct(0x420001);
	CU_ASSERT_PTR_NULL(kbs_ttlv_add_big(r, TAG, big, 12));
	CU_ASSERT_EQUAL(kbs_ttlv_encode(r, &(uint8_t *){NULL}, &n, NULL),
			KBS_ERR_NOMEM);
	kbs_ttlv_free(r);
}

static void
test_kat_enum_bool(void)
{
	uint32_t e = 0;
	int b = 0;
	kbs_ttlv *t = roundtrip("4200200500000004000000ff00000000",
				KBS_TTLV_ENUMERATION);
	kbs_ttlv *r;

	CU_ASSERT_EQUAL(kbs_ttlv_get_enum(t, &e), KBS_OK);
	CU_ASSERT_EQUAL(e, 255);
	kbs_ttlv_free(t);
	t = roundtrip("42002006000000080000000000000001", KBS_TTLV_BOOLEAN);
	CU_ASSERT_EQUAL(kbs_ttlv_get_bool(t, &b), KBS_OK);
	CU_ASSERT_EQUAL(b, 1);
	/* The typed getters refuse the wrong type. */
	CU_ASSERT_EQUAL(kbs_ttlv_get_enum(t, &e), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_ttlv_get_int(t, &(int32_t){0}), KBS_ERR_INVALID);
	kbs_ttlv_free(t);
	r = kbs_ttlv_new_struct(0x420001);
	kbs_ttlv_add_bool(r, TAG, 7); /* any non-zero is true */
	expect_encoding(r, "42002006000000080000000000000001");
	r = kbs_ttlv_new_struct(0x420001);
	kbs_ttlv_add_enum(r, TAG, 255);
	expect_encoding(r, "4200200500000004000000ff00000000");
}

static void
test_kat_strings(void)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	kbs_ttlv *t = roundtrip("420020070000000b48656c6c6f20576f726c640000000000",
				KBS_TTLV_TEXT_STRING);
	kbs_ttlv *r;

	CU_ASSERT_EQUAL(kbs_ttlv_get_bytes(t, &p, &n), KBS_OK);
	CU_ASSERT(n == 11 && memcmp(p, "Hello World", 11) == 0);
	CU_ASSERT_EQUAL(p[n], 0); /* text strings are also C strings */
	kbs_ttlv_free(t);
	t = roundtrip("42002008000000030102030000000000", KBS_TTLV_BYTE_STRING);
	CU_ASSERT_EQUAL(kbs_ttlv_get_bytes(t, &p, &n), KBS_OK);
	CU_ASSERT(n == 3 && p[0] == 1 && p[1] == 2 && p[2] == 3);
	kbs_ttlv_free(t);
	r = kbs_ttlv_new_struct(0x420001);
	kbs_ttlv_add_text(r, TAG, "Hello World", 11);
	expect_encoding(r, "420020070000000b48656c6c6f20576f726c640000000000");
	r = kbs_ttlv_new_struct(0x420001);
	kbs_ttlv_add_bytes(r, TAG, (const uint8_t *)"\x01\x02\x03", 3);
	expect_encoding(r, "42002008000000030102030000000000");
	/* Empty strings are 8 bytes of header and no value. */
	t = roundtrip("4200200800000000", KBS_TTLV_BYTE_STRING);
	CU_ASSERT_EQUAL(kbs_ttlv_get_bytes(t, &p, &n), KBS_OK);
	CU_ASSERT_EQUAL(n, 0);
	kbs_ttlv_free(t);
}

static void
test_kat_time(void)
{
	int64_t d = 0;
	uint32_t iv = 0;
	kbs_ttlv *t = roundtrip("42002009000000080000000047da67f8",
				KBS_TTLV_DATE_TIME);
	kbs_ttlv *r;

	CU_ASSERT_EQUAL(kbs_ttlv_get_long(t, &d), KBS_OK);
	CU_ASSERT_EQUAL(d, 0x47DA67F8); /* 2008-03-14 11:56:40 UTC */
	kbs_ttlv_free(t);
	t = roundtrip("4200200a00000004000d2f0000000000", KBS_TTLV_INTERVAL);
	CU_ASSERT_EQUAL(kbs_ttlv_get_enum(t, &iv), KBS_OK);
	CU_ASSERT_EQUAL(iv, 864000); /* ten days */
	kbs_ttlv_free(t);
	r = kbs_ttlv_new_struct(0x420001);
	kbs_ttlv_add_datetime(r, TAG, 0x47DA67F8);
	kbs_ttlv_add_interval(r, 0x420021, 864000);
	expect_encoding(r, "42002009000000080000000047da67f8"
			   "4200210a00000004000d2f0000000000");
}

static const char kat_struct[] =
	"4200200100000020"
	"4200040500000004000000fe00000000"
	"4200050200000004000000ff00000000";

static void
test_kat_structure(void)
{
	kbs_ttlv *t = roundtrip(kat_struct, KBS_TTLV_STRUCTURE);
	uint8_t *out = NULL, want[64];
	size_t n = 0, wn = unhex(kat_struct, want, sizeof(want));
	uint32_t e = 0;
	int32_t i = 0;

	CU_ASSERT_EQUAL(kbs_ttlv_count(t), 2);
	CU_ASSERT_EQUAL(kbs_ttlv_get_enum(kbs_ttlv_find(t, 0x420004), &e),
			KBS_OK);
	CU_ASSERT_EQUAL(e, 254);
	CU_ASSERT_EQUAL(kbs_ttlv_get_int(kbs_ttlv_child(t, 1), &i), KBS_OK);
	CU_ASSERT_EQUAL(i, 255);
	CU_ASSERT_PTR_NULL(kbs_ttlv_child(t, 2));
	CU_ASSERT_PTR_NULL(kbs_ttlv_find(t, 0x420006));
	kbs_ttlv_free(t);
	t = kbs_ttlv_new_struct(TAG);
	kbs_ttlv_add_enum(t, 0x420004, 254);
	kbs_ttlv_add_int(t, 0x420005, 255);
	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_encode(t, &out, &n, NULL), KBS_OK);
	CU_ASSERT(n == wn && memcmp(out, want, n) == 0);
	free(out);
	kbs_ttlv_free(t);
}

/* Expect hex to be refused with rc. */
static void
refuse(const char *hex, kbs_err rc, const kbs_ttlv_limits *lim)
{
	uint8_t *in = malloc(strlen(hex) / 2 + 1);
	size_t n;
	kbs_ttlv *t = NULL;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	n = unhex(hex, in, strlen(hex) / 2 + 1);
	CU_ASSERT_EQUAL(kbs_ttlv_decode(in, n, lim, &t, &eb), rc);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT(eb.msg[0] != '\0');
	free(in);
}

static void
test_truncated(void)
{
	refuse("", KBS_ERR_INVALID, NULL);
	refuse("42002002000000", KBS_ERR_INVALID, NULL);
	refuse("420020020000000400000008", KBS_ERR_INVALID, NULL);
	refuse("420020070000000b48656c6c6f20576f726c64", KBS_ERR_INVALID, NULL);
	/* A structure that claims more than it holds. */
	refuse("4200200100000028"
	       "4200040500000004000000fe00000000"
	       "4200050200000004000000ff00000000", KBS_ERR_INVALID, NULL);
	/* Trailing bytes after the one item. */
	refuse("4200200200000004000000080000000000", KBS_ERR_INVALID, NULL);
	refuse("42002002000000040000000800000000"
	       "42002002000000040000000800000000", KBS_ERR_INVALID, NULL);
}

static void
test_bad_lengths(void)
{
	/* Fixed-size types with other lengths. */
	refuse("42002002000000080000000000000008", KBS_ERR_INVALID, NULL);
	refuse("42002003000000040000000800000000", KBS_ERR_INVALID, NULL);
	refuse("42002006000000040000000100000000", KBS_ERR_INVALID, NULL);
	refuse("4200200a000000080000000000000001", KBS_ERR_INVALID, NULL);
	/* Big integers of 4 and 0 bytes. */
	refuse("42002004000000040000000100000000", KBS_ERR_INVALID, NULL);
	refuse("4200200400000000", KBS_ERR_INVALID, NULL);
	/* A structure whose length is not a multiple of 8. */
	refuse("420020010000000c420004050000000400000001", KBS_ERR_INVALID,
	       NULL);
	/* Overlong: length field far past the buffer. */
	refuse("42002008ffffffff0102030000000000", KBS_ERR_INVALID, NULL);
	refuse("42002001fffffff8", KBS_ERR_INVALID, NULL);
}

static void
test_misaligned_padding(void)
{
	/* Non-zero padding after a 4-byte integer and a 3-byte string. */
	refuse("42002002000000040000000800000001", KBS_ERR_INVALID, NULL);
	refuse("42002008000000030102030000000100", KBS_ERR_INVALID, NULL);
	/* Padding missing: value not extended to 8 bytes. */
	refuse("4200200800000003010203", KBS_ERR_INVALID, NULL);
	/* Boolean 2, unknown type 0x0b and 0x00, tag outside 42/54. */
	refuse("42002006000000080000000000000002", KBS_ERR_INVALID, NULL);
	refuse("4200200b000000040000000100000000", KBS_ERR_INVALID, NULL);
	refuse("42002000000000040000000100000000", KBS_ERR_INVALID, NULL);
	refuse("43002002000000040000000800000000", KBS_ERR_INVALID, NULL);
	/* NUL inside a text string. */
	refuse("42002007000000036100620000000000", KBS_ERR_INVALID, NULL);
	/* The extension range 0x54xxxx is accepted. */
	{
		uint8_t in[16];
		kbs_ttlv *t = NULL;

		unhex("54000102000000040000000800000000", in, sizeof(in));
		CU_ASSERT_EQUAL(kbs_ttlv_decode(in, 16, NULL, &t, NULL),
				KBS_OK);
		kbs_ttlv_free(t);
	}
}

/* depth nested empty structures, innermost first built outward. */
static uint8_t *
nested(size_t depth, size_t *len)
{
	uint8_t *b = calloc(depth, 8);
	size_t i, inner;

	if (b == NULL)
		return NULL;
	for (i = 0; i < depth; i++) {
		inner = (depth - 1 - i) * 8;
		b[i * 8] = 0x42;
		b[i * 8 + 2] = 0x20;
		b[i * 8 + 3] = 0x01;
		b[i * 8 + 6] = (uint8_t)(inner >> 8);
		b[i * 8 + 7] = (uint8_t)inner;
	}
	*len = depth * 8;
	return b;
}

static void
test_bounds(void)
{
	kbs_ttlv_limits lim = {4, 100, 1000};
	kbs_ttlv *t = NULL;
	size_t n = 0;
	uint8_t *b = nested(4, &n);

	CU_ASSERT_EQUAL(kbs_ttlv_decode(b, n, &lim, &t, NULL), KBS_OK);
	kbs_ttlv_free(t);
	t = NULL;
	free(b);
	b = nested(5, &n);
	CU_ASSERT_EQUAL(kbs_ttlv_decode(b, n, &lim, &t, NULL),
			KBS_ERR_TOO_LARGE);
	free(b);
	/* Default depth: 16 deep is fine, 200 deep is refused. */
	b = nested(16, &n);
	CU_ASSERT_EQUAL(kbs_ttlv_decode(b, n, NULL, &t, NULL), KBS_OK);
	kbs_ttlv_free(t);
	t = NULL;
	free(b);
	b = nested(200, &n);
	CU_ASSERT_EQUAL(kbs_ttlv_decode(b, n, NULL, &t, NULL),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NULL(t);
	free(b);
	/* Item count: a structure of 3 integers with max_items 3. */
	lim.max_items = 3;
	refuse("4200200100000030"
	       "42002102000000040000000100000000"
	       "42002102000000040000000100000000"
	       "42002102000000040000000100000000", KBS_ERR_TOO_LARGE, &lim);
	/* Whole-input length bound. */
	lim.max_items = 100;
	lim.max_len = 8;
	refuse("42002002000000040000000800000000", KBS_ERR_TOO_LARGE, &lim);
}

static void
test_builder_errors(void)
{
	kbs_ttlv *r = kbs_ttlv_new_struct(TAG), *i;
	uint8_t *out = NULL;
	size_t n = 0;

	CU_ASSERT_PTR_NULL(kbs_ttlv_new_struct(0x1000000));
	i = kbs_ttlv_add_int(r, 0x420001, 1);
	CU_ASSERT_PTR_NOT_NULL(i);
	/* Adding to a primitive or a NULL parent breaks / is ignored. */
	CU_ASSERT_PTR_NULL(kbs_ttlv_add_int(NULL, 0x420001, 1));
	CU_ASSERT_PTR_NULL(kbs_ttlv_add_text(r, 0x420002, "a\0b", 3));
	CU_ASSERT_EQUAL(kbs_ttlv_encode(r, &out, &n, NULL), KBS_ERR_NOMEM);
	CU_ASSERT_PTR_NULL(out);
	kbs_ttlv_free(r);
	r = kbs_ttlv_new_struct(TAG);
	CU_ASSERT_PTR_NULL(kbs_ttlv_add_int(kbs_ttlv_add_int(r, 0x420001, 1),
					    0x420002, 2));
	CU_ASSERT_EQUAL(kbs_ttlv_encode(r, &out, &n, NULL), KBS_ERR_NOMEM);
	kbs_ttlv_free(r);
	r = kbs_ttlv_new_struct(TAG);
	CU_ASSERT_PTR_NULL(kbs_ttlv_add_int(r, 0x1000000, 1));
	CU_ASSERT_EQUAL(kbs_ttlv_encode(r, &out, &n, NULL), KBS_ERR_NOMEM);
	kbs_ttlv_free(r);
	kbs_ttlv_free(NULL);
	CU_ASSERT_EQUAL(kbs_ttlv_count(NULL), 0);
}

static const kbs_unit_test tests[] = {
	{"kat_integer", test_kat_integer},
	{"kat_long", test_kat_long},
	{"kat_big", test_kat_big},
	{"kat_enum_bool", test_kat_enum_bool},
	{"kat_strings", test_kat_strings},
	{"kat_time", test_kat_time},
	{"kat_structure", test_kat_structure},
	{"truncated", test_truncated},
	{"bad_lengths", test_bad_lengths},
	{"misaligned_padding", test_misaligned_padding},
	{"bounds", test_bounds},
	{"builder_errors", test_builder_errors},
	{NULL, NULL},
};

KBS_UNIT_MAIN("ttlv", tests)
