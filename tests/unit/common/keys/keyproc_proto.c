/* Tests for common/keys/keyproc_proto.c: the key process's request parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyproc_proto.h"
#include "unit.h"

static const uint8_t aad[] = "kbs-c session v1";
static const uint8_t pt[] = {0, 1, 2, 3, 0xff};

/* Encode r, parse it back, compare field by field. */
static void
roundtrip(const kbs_keyproc_req *r)
{
	kbs_keyproc_req q;
	uint8_t *msg = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_keyproc_encode_req(r, &msg, &len), KBS_OK);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(msg, len, &q), KBS_OK);
	CU_ASSERT_EQUAL(q.op, r->op);
	CU_ASSERT_EQUAL(q.slot, r->slot);
	CU_ASSERT(q.now == r->now);
	CU_ASSERT(q.alen == r->alen && (r->alen == 0 ||
					memcmp(q.a, r->a, r->alen) == 0));
	CU_ASSERT(q.blen == r->blen && (r->blen == 0 ||
					memcmp(q.b, r->b, r->blen) == 0));
	/* One byte less, one byte more: refused. */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(msg, len - 1, &q),
			KBS_ERR_INVALID);
	free(msg);
}

static void
test_roundtrip(void)
{
	kbs_keyproc_req r;

	memset(&r, 0, sizeof(r));
	r.op = KBS_KEYPROC_PING;
	roundtrip(&r);
	r.op = KBS_KEYPROC_PUB;
	r.slot = 7;
	roundtrip(&r);
	r.op = KBS_KEYPROC_SIGN;
	r.a = pt;
	r.alen = sizeof(pt);
	roundtrip(&r);
	r.op = KBS_KEYPROC_CERT;
	r.a = NULL;
	r.alen = 0;
	r.now = 0x0102030405060708ULL;
	roundtrip(&r);
	r.now = 0;
	r.slot = 0;
	r.op = KBS_KEYPROC_SEAL;
	r.a = aad;
	r.alen = sizeof(aad) - 1;
	r.b = pt;
	r.blen = sizeof(pt);
	roundtrip(&r);
	r.op = KBS_KEYPROC_OPEN;
	roundtrip(&r);
	r.op = KBS_KEYPROC_WRAP;
	r.slot = 1;
	roundtrip(&r);
	r.op = KBS_KEYPROC_UNWRAP;
	roundtrip(&r);
	/* Empty fields are fine. */
	r.op = KBS_KEYPROC_SEAL;
	r.slot = 0;
	r.alen = r.blen = 0;
	roundtrip(&r);
}

static void
test_exact_bytes(void)
{
	/* SIGN slot 0, a 3-byte field. */
	uint8_t m[] = {KBS_KEYPROC_SIGN, 0, 0, 0, 0, 3, 'a', 'b', 'c', 'x'};
	kbs_keyproc_req q;

	memset(&q, 0xa5, sizeof(q));
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, sizeof(m) - 1, &q), KBS_OK);
	CU_ASSERT(q.alen == 3 && memcmp(q.a, "abc", 3) == 0);
	/* Trailing byte. */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, sizeof(m), &q), KBS_ERR_INVALID);
	/* Field longer than what is left, by one; and a huge length. */
	m[5] = 4;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, sizeof(m) - 1, &q),
			KBS_ERR_INVALID);
	m[2] = 0xff;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, sizeof(m) - 1, &q),
			KBS_ERR_INVALID);
	/* Truncated length prefix. */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 4, &q), KBS_ERR_INVALID);
}

static void
test_bad_ops_and_sizes(void)
{
	uint8_t m[2] = {0, 0};
	uint8_t *big;
	kbs_keyproc_req q, r;
	uint8_t *msg = NULL;
	size_t len = 0;

	/* No op, op 0, op past the last, a PING with a byte after it. */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 0, &q), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(NULL, 0, &q), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 1, &q), KBS_ERR_INVALID);
	m[0] = KBS_KEYPROC__OPS;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 1, &q), KBS_ERR_INVALID);
	m[0] = 0xff;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 1, &q), KBS_ERR_INVALID);
	m[0] = KBS_KEYPROC_PING;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 1, &q), KBS_OK);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 2, &q), KBS_ERR_INVALID);
	/* A PUB without its slot. */
	m[0] = KBS_KEYPROC_PUB;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 1, &q), KBS_ERR_INVALID);
	/* Oversize records: refused by length before anything is read. */
	big = calloc(1, KBS_KEYPROC_MAX_MSG + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	big[0] = KBS_KEYPROC_PING;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(big, KBS_KEYPROC_MAX_MSG + 1, &q),
			KBS_ERR_TOO_LARGE);
	/* The encoder will not make one either. */
	memset(&r, 0, sizeof(r));
	r.op = KBS_KEYPROC_SEAL;
	r.a = big;
	r.alen = KBS_KEYPROC_MAX_MSG - 9; /* op, two lengths: 9 bytes */
	r.b = big;
	r.blen = 0;
	CU_ASSERT_EQUAL(kbs_keyproc_encode_req(&r, &msg, &len), KBS_OK);
	CU_ASSERT_EQUAL(len, KBS_KEYPROC_MAX_MSG);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(msg, len, &q), KBS_OK);
	free(msg);
	r.alen = KBS_KEYPROC_MAX_MSG - 8;
	CU_ASSERT_EQUAL(kbs_keyproc_encode_req(&r, &msg, &len), KBS_ERR_TOO_LARGE);
	r.op = 0;
	CU_ASSERT_EQUAL(kbs_keyproc_encode_req(&r, &msg, &len), KBS_ERR_INTERNAL);
	free(big);
}

static void
test_reply(void)
{
	const uint8_t ok[] = {KBS_OK, 'h', 'i'}, fail[] = {KBS_ERR_VERIFY};
	const uint8_t bad1[] = {KBS_ERR_VERIFY, 'x'}, bad2[] = {KBS_ERR__COUNT};
	const uint8_t *p = NULL;
	size_t n = 0;
	kbs_err st = KBS_ERR_INTERNAL;

	CU_ASSERT_EQUAL(kbs_keyproc_parse_reply(ok, sizeof(ok), &st, &p, &n), KBS_OK);
	CU_ASSERT(st == KBS_OK && n == 2 && memcmp(p, "hi", 2) == 0);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_reply(fail, 1, &st, &p, &n), KBS_OK);
	CU_ASSERT(st == KBS_ERR_VERIFY && n == 0);
	/* A failure with a payload, an unknown status, nothing. */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_reply(bad1, 2, &st, &p, &n),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_reply(bad2, 1, &st, &p, &n),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_reply(ok, 0, &st, &p, &n),
			KBS_ERR_INVALID);
}

static const kbs_unit_test tests[] = {
	{"encode/parse round trip of every op", test_roundtrip},
	{"exact lengths, trailing bytes, overlong fields", test_exact_bytes},
	{"unknown ops and oversize records", test_bad_ops_and_sizes},
	{"replies", test_reply},
	{NULL, NULL},
};

KBS_UNIT_MAIN("keyproc_proto", tests)
