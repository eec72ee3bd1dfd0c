/* Tests for common/keys/keyproc_proto.c: the key process's request parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
	CU_ASSERT_EQUAL(q.pad, r->pad);
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
	r.b = NULL;
	r.blen = 0;
	r.op = KBS_KEYPROC_TLS_SIGN;
	r.slot = 0;
	roundtrip(&r);
	r.op = KBS_KEYPROC_RSA_PRIV;
	r.pad = 3;
	roundtrip(&r);
	r.pad = 0;
	r.b = pt;
	r.blen = sizeof(pt);
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

/* The TLS key ops: slot, (padding,) one field, exactly. */
static void
test_tls_ops(void)
{
	/* RSA_PRIV slot 0 pad 3, a 2-byte block. */
	uint8_t m[] = {KBS_KEYPROC_RSA_PRIV, 0, 3, 0, 0, 0, 2, 'a', 'b', 'x'};
	uint8_t t[] = {KBS_KEYPROC_TLS_SIGN, 0, 0, 0, 0, 1, 'd'};
	kbs_keyproc_req q;

	memset(&q, 0, sizeof(q));
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, sizeof(m) - 1, &q), KBS_OK);
	CU_ASSERT(q.op == KBS_KEYPROC_RSA_PRIV && q.slot == 0 && q.pad == 3 &&
		  q.alen == 2 && memcmp(q.a, "ab", 2) == 0);
	/* A trailing byte; the block longer than what is left; no pad. */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, sizeof(m), &q), KBS_ERR_INVALID);
	m[6] = 3;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, sizeof(m) - 1, &q),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 2, &q), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(m, 3, &q), KBS_ERR_INVALID);
	/* TLS_SIGN: exact; one byte short of its length prefix; no slot. */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(t, sizeof(t), &q), KBS_OK);
	CU_ASSERT(q.op == KBS_KEYPROC_TLS_SIGN && q.alen == 1 && q.a[0] == 'd');
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(t, 5, &q), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(t, 1, &q), KBS_ERR_INVALID);
	t[5] = 2;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_req(t, sizeof(t), &q),
			KBS_ERR_INVALID);
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

/*
 * A first field that claims more bytes than the record holds, followed by
 * a second field: refused, and nothing past the record is read.  The
 * record ends where an inaccessible page begins, so a parser that took
 * the claimed length and went on to the second field's length would
 * fault (in any build, not only under ASan): the length check is what
 * keeps the cursor inside the record.
 */
static void
test_fields_stay_inside_record(void)
{
	static const uint8_t recs[][8] = {
		/* SEAL: aad claims 1000 bytes, 3 follow; pt never reached. */
		{KBS_KEYPROC_SEAL, 0, 0, 0x03, 0xe8, 'a', 'b', 'c'},
		/* WRAP slot 1: aad claims 4 bytes, 2 follow. */
		{KBS_KEYPROC_WRAP, 1, 0, 0, 0, 4, 'a', 'b'},
		/* OPEN: aad claims 0xffffffff bytes. */
		{KBS_KEYPROC_OPEN, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c'},
		/* RSA_PRIV slot 0 pad 3: the block claims 256 bytes. */
		{KBS_KEYPROC_RSA_PRIV, 0, 3, 0, 0, 1, 0, 'a'},
	};
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *map, *at;
	kbs_keyproc_req q;
	kbs_keyproc_setup s;
	size_t i;

	map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(map != MAP_FAILED);
	CU_ASSERT_FATAL(mprotect(map + pg, (size_t)pg, PROT_NONE) == 0);
	at = map + pg - 8;
	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		memcpy(at, recs[i], 8);
		CU_ASSERT_EQUAL(kbs_keyproc_parse_req(at, 8, &q), KBS_ERR_INVALID);
	}
	/* The setup record's config field, the last one: same bound. */
	memset(map + pg - 24, 0, 24);
	at = map + pg - 24;
	at[0] = KBS_KEYPROC_SETUP_VERSION;
	at[13] = 0;  /* drop */
	at[14] = 2;  /* channels */
	at[15] = 0;
	at[16] = 0;
	at[17] = 0;
	at[18] = 6;  /* config: 6 bytes claimed, 5 follow */
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(at, 24, 64, &s), KBS_ERR_INVALID);
	at[18] = 5;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(at, 24, 64, &s), KBS_OK);
	munmap(map, (size_t)pg * 2);
}

/* Encode s, parse it back, compare; then one byte less and more. */
static void
setup_roundtrip(const kbs_keyproc_setup *s)
{
	kbs_keyproc_setup t;
	uint8_t *msg = NULL, *longer;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_keyproc_encode_setup(s, &msg, &len), KBS_OK);
	CU_ASSERT_EQUAL(len, 19 + s->config_len);
	memset(&t, 0, sizeof(t));
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, len, 64, &t), KBS_OK);
	CU_ASSERT(t.parent == s->parent && t.uid == s->uid && t.gid == s->gid &&
		  t.drop == s->drop && t.channels == s->channels);
	CU_ASSERT(t.config_len == s->config_len &&
		  (s->config_len == 0 ||
		   memcmp(t.config, s->config, s->config_len) == 0));
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, len - 1, 64, &t),
			KBS_ERR_INVALID);
	longer = calloc(1, len + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
	memcpy(longer, msg, len);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(longer, len + 1, 64, &t),
			KBS_ERR_INVALID);
	free(longer);
	free(msg);
}

static void
test_setup(void)
{
	static const uint8_t cfg[] = "{\"seal_files\":[]}";
	kbs_keyproc_setup s, t;
	uint8_t *msg = NULL, *big;
	size_t len = 0;

	memset(&s, 0, sizeof(s));
	s.parent = 1; /* a daemon that is pid 1 (a container) */
	s.uid = 65534;
	s.gid = 65534;
	s.drop = 1;
	s.channels = 8;
	s.config = cfg;
	s.config_len = sizeof(cfg) - 1;
	setup_roundtrip(&s);
	s.drop = 0;
	s.config_len = 0;
	s.channels = 64;
	setup_roundtrip(&s);
	/* Refused: another version, drop 2, no channel, more than the max. */
	s.config_len = sizeof(cfg) - 1;
	CU_ASSERT_EQUAL_FATAL(kbs_keyproc_encode_setup(&s, &msg, &len), KBS_OK);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, len, 63, &t), KBS_ERR_INVALID);
	msg[14] = 0;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, len, 64, &t), KBS_ERR_INVALID);
	msg[14] = 1;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, len, 64, &t), KBS_OK);
	msg[13] = 2;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, len, 64, &t), KBS_ERR_INVALID);
	msg[13] = 0;
	msg[0] = KBS_KEYPROC_SETUP_VERSION + 1;
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, len, 64, &t), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(NULL, 0, 64, &t), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(msg, 0, 64, &t), KBS_ERR_INVALID);
	free(msg);
	/* Oversize: refused by length; the encoder will not make one. */
	big = calloc(1, KBS_KEYPROC_MAX_MSG + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	CU_ASSERT_EQUAL(kbs_keyproc_parse_setup(big, KBS_KEYPROC_MAX_MSG + 1, 64,
						&t), KBS_ERR_TOO_LARGE);
	s.config = big;
	s.config_len = KBS_KEYPROC_MAX_MSG - 18;
	CU_ASSERT_EQUAL(kbs_keyproc_encode_setup(&s, &msg, &len), KBS_ERR_TOO_LARGE);
	s.config_len = KBS_KEYPROC_MAX_MSG - 19;
	CU_ASSERT_EQUAL(kbs_keyproc_encode_setup(&s, &msg, &len), KBS_OK);
	CU_ASSERT_EQUAL(len, KBS_KEYPROC_MAX_MSG);
	free(msg);
	free(big);
}

static const kbs_unit_test tests[] = {
	{"encode/parse round trip of every op", test_roundtrip},
	{"exact lengths, trailing bytes, overlong fields", test_exact_bytes},
	{"TLS_SIGN and RSA_PRIV: exact lengths", test_tls_ops},
	{"unknown ops and oversize records", test_bad_ops_and_sizes},
	{"replies", test_reply},
	{"an overlong first field: nothing past the record is read",
	 test_fields_stay_inside_record},
	{"setup record: round trip, bounds, refusals", test_setup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("keyproc_proto", tests)
