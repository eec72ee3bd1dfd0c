/*
 * kmip.c - tests of common/kmip.c: request encodings and response parsing.
 *
 * The byte vectors were produced by PyKMIP 0.10 (Debian python3-pykmip),
 * an independent implementation: its RequestMessage/ResponseMessage
 * classes encoding the same messages (protocol 1.2, time stamp
 * 0x5A5A5A5A).  Requests must match them byte for byte; responses must
 * parse to the values PyKMIP put in.  Then malformed and hostile
 * responses, and the mapping of result reasons to kbs_err.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmip.h"
#include "mem.h"
#include "ttlv.h"
#include "unit.h"

static const char get_req[] =
	"42007801000000704200770100000038420069010000002042006a020000000400"
	"0000010000000042006b0200000004000000020000000042000d02000000040000"
	"00010000000042000f010000002842005c05000000040000000a00000000420079"
	"010000001042009407000000013100000000000000";
static const char destroy_req[] =
	"42007801000000704200770100000038420069010000002042006a020000000400"
	"0000010000000042006b0200000004000000020000000042000d02000000040000"
	"00010000000042000f010000002842005c05000000040000001400000000420079"
	"010000001042009407000000023432000000000000";
static const char get_resp[] =
	"42007b01000000f042007a0100000048420069010000002042006a020000000400"
	"0000010000000042006b020000000400000002000000004200920900000008000000"
	"005a5a5a5a42000d0200000004000000010000000042000f010000009842005c05"
	"000000040000000a0000000042007f0500000004000000000000000042007c0100"
	"00007042005705000000040000000700000000420094070000000137000000000000"
	"004200850100000048420086050000000400000001000000004200400100000030"
	"420042050000000400000002000000004200450100000018420043080000000e73"
	"65637265742d627974657300010000";
static const char locate_resp[] =
	"42007b01000000a042007a0100000048420069010000002042006a020000000400"
	"0000010000000042006b020000000400000002000000004200920900000008000000"
	"005a5a5a5a42000d0200000004000000010000000042000f010000004842005c05"
	"00000004000000080000000042007f0500000004000000000000000042007c0100"
	"0000204200940700000001330000000000000042009407000000023131000000000000";
static const char locate0_resp[] =
	"42007b010000008042007a0100000048420069010000002042006a020000000400"
	"0000010000000042006b020000000400000002000000004200920900000008000000"
	"005a5a5a5a42000d0200000004000000010000000042000f010000002842005c05"
	"00000004000000080000000042007f0500000004000000000000000042007c0100"
	"000000";
static const char notfound_resp[] =
	"42007b01000000b042007a0100000048420069010000002042006a020000000400"
	"0000010000000042006b020000000400000002000000004200920900000008000000"
	"005a5a5a5a42000d0200000004000000010000000042000f010000005842005c05"
	"000000040000000a0000000042007f0500000004000000010000000042007e0500"
	"000004000000010000000042007d070000001a436f756c64206e6f74206c6f6361"
	"7465206f626a6563743a2039000000000000";
static const char denied_resp[] =
	"42007b01000000b042007a0100000048420069010000002042006a020000000400"
	"0000010000000042006b020000000400000002000000004200920900000008000000"
	"005a5a5a5a42000d0200000004000000010000000042000f010000005842005c05"
	"00000004000000140000000042007f0500000004000000010000000042007e0500"
	"0000040000000c0000000042007d070000001a436f756c64206e6f74206c6f6361"
	"7465206f626a6563743a2039000000000000";
static const char create_resp[] =
	"42007b01000000a042007a0100000048420069010000002042006a020000000400"
	"0000010000000042006b020000000400000002000000004200920900000008000000"
	"005a5a5a5a42000d0200000004000000010000000042000f010000004842005c05"
	"00000004000000010000000042007f0500000004000000000000000042007c0100"
	"00002042005705000000040000000200000000420094070000000135000000000000"
	"00";

/* Hex to a new buffer. */
static uint8_t *
unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2, i;
	uint8_t *b = malloc(n + 1);
	unsigned int hi, lo;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (i = 0; i < n; i++) {
		hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' :
						     hex[2 * i] - 'a' + 10);
		lo = (unsigned)(hex[2 * i + 1] <= '9' ?
					hex[2 * i + 1] - '0' :
					hex[2 * i + 1] - 'a' + 10);
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n;
	return b;
}

static void
test_get_destroy_requests(void)
{
	uint8_t *out = NULL, *want;
	size_t n = 0, wn;

	want = unhex(get_req, &wn);
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_req_get("1", &out, &n, NULL), KBS_OK);
	CU_ASSERT(n == wn && memcmp(out, want, n) == 0);
	free(out);
	free(want);
	want = unhex(destroy_req, &wn);
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_req_destroy("42", &out, &n, NULL),
			      KBS_OK);
	CU_ASSERT(n == wn && memcmp(out, want, n) == 0);
	free(out);
	free(want);
	out = NULL;
	CU_ASSERT_EQUAL(kbs_kmip_req_get("", &out, &n, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_kmip_req_get(NULL, &out, &n, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out);
}

/* Decode a request and return its Request Payload (tree in *root). */
static const kbs_ttlv *
req_payload(const uint8_t *buf, size_t len, kbs_kmip_op op, kbs_ttlv **root)
{
	const kbs_ttlv *bi;
	uint32_t v = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_decode(buf, len, NULL, root, NULL),
			      KBS_OK);
	CU_ASSERT_EQUAL(kbs_ttlv_tag(*root), KBS_KMIP_TAG_REQUEST_MESSAGE);
	bi = kbs_ttlv_find(*root, KBS_KMIP_TAG_BATCH_ITEM);
	CU_ASSERT_EQUAL(kbs_ttlv_get_enum(kbs_ttlv_find(bi,
				KBS_KMIP_TAG_OPERATION), &v), KBS_OK);
	CU_ASSERT_EQUAL(v, op);
	return kbs_ttlv_find(bi, KBS_KMIP_TAG_REQUEST_PAYLOAD);
}

/* The Name attribute value under an Attribute list holder. */
static int
has_name(const kbs_ttlv *holder, const char *name)
{
	size_t i;
	const uint8_t *p;
	size_t n;

	for (i = 0; i < kbs_ttlv_count(holder); i++) {
		const kbs_ttlv *a = kbs_ttlv_child(holder, i);
		const kbs_ttlv *v = kbs_ttlv_find(
			kbs_ttlv_find(a, KBS_KMIP_TAG_ATTRIBUTE_VALUE),
			KBS_KMIP_TAG_NAME_VALUE);

		if (kbs_ttlv_get_bytes(v, &p, &n) == KBS_OK &&
		    n == strlen(name) && memcmp(p, name, n) == 0)
			return 1;
	}
	return 0;
}

static void
test_register_request(void)
{
	static const uint8_t secret[5] = {0, 1, 2, 0xfe, 0xff};
	const kbs_ttlv *pl, *mat;
	kbs_ttlv *root = NULL;
	uint8_t *out = NULL;
	const uint8_t *p;
	size_t n = 0, pn;
	uint32_t v = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_kmip_req_register(KBS_KMIP_OBJ_SECRET_DATA,
						    "kbs:a/b/c", secret, 5,
						    &out, &n, NULL), KBS_OK);
	pl = req_payload(out, n, KBS_KMIP_OP_REGISTER, &root);
	CU_ASSERT_EQUAL(kbs_ttlv_get_enum(kbs_ttlv_find(pl,
				KBS_KMIP_TAG_OBJECT_TYPE), &v), KBS_OK);
	CU_ASSERT_EQUAL(v, KBS_KMIP_OBJ_SECRET_DATA);
	CU_ASSERT(has_name(kbs_ttlv_find(pl, KBS_KMIP_TAG_TEMPLATE_ATTRIBUTE),
			   "kbs:a/b/c"));
	mat = kbs_ttlv_find(kbs_ttlv_find(kbs_ttlv_find(kbs_ttlv_find(pl,
		KBS_KMIP_TAG_SECRET_DATA), KBS_KMIP_TAG_KEY_BLOCK),
		KBS_KMIP_TAG_KEY_VALUE), KBS_KMIP_TAG_KEY_MATERIAL);
	CU_ASSERT_EQUAL(kbs_ttlv_get_bytes(mat, &p, &pn), KBS_OK);
	CU_ASSERT(pn == 5 && memcmp(p, secret, 5) == 0);
	kbs_ttlv_free(root);
	kbs_freezero(out, n);
	/* Symmetric keys must have an AES length. */
	out = NULL;
	CU_ASSERT_EQUAL(kbs_kmip_req_register(KBS_KMIP_OBJ_SYMMETRIC_KEY, "k",
					      secret, 5, &out, &n, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_EQUAL(kbs_kmip_req_register(KBS_KMIP_OBJ_SYMMETRIC_KEY, "",
					      secret, 5, &out, &n, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_kmip_req_register((kbs_kmip_objtype)9, "k",
					      secret, 5, &out, &n, NULL),
			KBS_ERR_UNSUPPORTED);
}

static void
test_symmetric_and_create_requests(void)
{
	uint8_t key[32], *out = NULL;
	const kbs_ttlv *pl, *kb;
	kbs_ttlv *root = NULL;
	int32_t bits = 0;
	size_t n = 0;
	char *longname;

	memset(key, 0x5c, sizeof(key));
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_req_register(KBS_KMIP_OBJ_SYMMETRIC_KEY,
						    "k", key, 32, &out, &n,
						    NULL), KBS_OK);
	pl = req_payload(out, n, KBS_KMIP_OP_REGISTER, &root);
	kb = kbs_ttlv_find(kbs_ttlv_find(pl, KBS_KMIP_TAG_SYMMETRIC_KEY),
			   KBS_KMIP_TAG_KEY_BLOCK);
	CU_ASSERT_EQUAL(kbs_ttlv_get_int(kbs_ttlv_find(kb,
				KBS_KMIP_TAG_CRYPTO_LENGTH), &bits), KBS_OK);
	CU_ASSERT_EQUAL(bits, 256);
	kbs_ttlv_free(root);
	kbs_freezero(out, n);
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_req_create_aes256("kbs:x/y/z", &out,
							 &n, NULL), KBS_OK);
	pl = req_payload(out, n, KBS_KMIP_OP_CREATE, &root);
	CU_ASSERT(has_name(kbs_ttlv_find(pl, KBS_KMIP_TAG_TEMPLATE_ATTRIBUTE),
			   "kbs:x/y/z"));
	CU_ASSERT_EQUAL(kbs_ttlv_count_tag(kbs_ttlv_find(pl,
			KBS_KMIP_TAG_TEMPLATE_ATTRIBUTE), KBS_KMIP_TAG_ATTRIBUTE),
			4);
	kbs_ttlv_free(root);
	free(out);
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_req_locate("kbs:x/y/z", &out, &n, NULL),
			      KBS_OK);
	pl = req_payload(out, n, KBS_KMIP_OP_LOCATE, &root);
	CU_ASSERT(has_name(pl, "kbs:x/y/z"));
	kbs_ttlv_free(root);
	free(out);
	out = NULL;
	longname = calloc(1, KBS_KMIP_MAX_NAME + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(longname);
	memset(longname, 'a', KBS_KMIP_MAX_NAME + 1);
	CU_ASSERT_EQUAL(kbs_kmip_req_locate(longname, &out, &n, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out);
	free(longname);
}

static void
test_get_response(void)
{
	kbs_kmip_object obj;
	uint8_t *in, *out = NULL;
	size_t n, olen = 0;

	in = unhex(get_resp, &n);
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_resp_get(in, n, &out, &olen, NULL),
			      KBS_OK);
	CU_ASSERT(olen == 14 && memcmp(out, "secret-bytes\0\1", 14) == 0);
	kbs_freezero(out, olen);
	/* The typed form tells Secret Data (no algorithm) from a key, so
	 * that a KEK identifier naming the wrong object is caught. */
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_resp_get_obj(in, n, &obj, NULL), KBS_OK);
	CU_ASSERT_EQUAL(obj.type, KBS_KMIP_OBJ_SECRET_DATA);
	CU_ASSERT_EQUAL(obj.algorithm, 0);
	CU_ASSERT(obj.len == 14 && memcmp(obj.data, "secret-bytes", 12) == 0);
	kbs_freezero(obj.data, obj.len);
	CU_ASSERT_EQUAL(kbs_kmip_resp_get_obj(in, n - 8, &obj, NULL),
			KBS_ERR_NETWORK);
	/* Every truncation is refused, as a network (server) failure. */
	for (olen = 0; olen < n; olen += 7) {
		out = NULL;
		CU_ASSERT_EQUAL(kbs_kmip_resp_get(in, olen, &out, &(size_t){0},
						  NULL), KBS_ERR_NETWORK);
		CU_ASSERT_PTR_NULL(out);
	}
	free(in);
}

static void
test_locate_response(void)
{
	uint8_t *in;
	size_t n, k = 0;
	char **uids = NULL;

	in = unhex(locate_resp, &n);
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_resp_locate(in, n, &uids, &k, NULL),
			      KBS_OK);
	CU_ASSERT_EQUAL_FATAL(k, 2);
	CU_ASSERT_STRING_EQUAL(uids[0], "3");
	CU_ASSERT_STRING_EQUAL(uids[1], "11");
	kbs_kmip_uids_free(uids, k);
	free(in);
	in = unhex(locate0_resp, &n);
	uids = NULL;
	CU_ASSERT_EQUAL(kbs_kmip_resp_locate(in, n, &uids, &k, NULL), KBS_OK);
	CU_ASSERT_EQUAL(k, 0);
	kbs_kmip_uids_free(uids, k);
	free(in);
}

static void
test_uid_responses(void)
{
	kbs_errbuf eb = {{0}};
	char *uid = NULL;
	uint8_t *in;
	size_t n;

	in = unhex(create_resp, &n);
	CU_ASSERT_EQUAL_FATAL(kbs_kmip_resp_uid(in, n, KBS_KMIP_OP_CREATE,
						&uid, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(uid, "5");
	free(uid);
	uid = NULL;
	/* An answer to another operation is refused. */
	CU_ASSERT_EQUAL(kbs_kmip_resp_uid(in, n, KBS_KMIP_OP_REGISTER, &uid,
					  &eb), KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "another operation"));
	CU_ASSERT_PTR_NULL(uid);
	free(in);
}

static void
test_error_mapping(void)
{
	kbs_errbuf eb = {{0}};
	uint8_t *in, *out = NULL;
	size_t n, olen = 0;
	char *uid = NULL;

	in = unhex(notfound_resp, &n);
	CU_ASSERT_EQUAL(kbs_kmip_resp_get(in, n, &out, &olen, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "KMIP Get failed: Item Not "
					      "Found: Could not locate"));
	free(in);
	in = unhex(denied_resp, &n);
	CU_ASSERT_EQUAL(kbs_kmip_resp_uid(in, n, KBS_KMIP_OP_DESTROY, &uid,
					  &eb), KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "Permission Denied"));
	CU_ASSERT_PTR_NULL(uid);
	free(in);
}

/* A response built by hand: header, one batch item with status etc. */
static kbs_ttlv *
resp_begin(int batch_count, kbs_kmip_op op, uint32_t status,
	   kbs_ttlv **item)
{
	kbs_ttlv *r = kbs_ttlv_new_struct(KBS_KMIP_TAG_RESPONSE_MESSAGE);
	kbs_ttlv *h = kbs_ttlv_add_struct(r, KBS_KMIP_TAG_RESPONSE_HEADER);
	kbs_ttlv *pv = kbs_ttlv_add_struct(h, KBS_KMIP_TAG_PROTOCOL_VERSION);

	kbs_ttlv_add_int(pv, KBS_KMIP_TAG_PROTOCOL_VERSION_MAJOR, 1);
	kbs_ttlv_add_int(pv, KBS_KMIP_TAG_PROTOCOL_VERSION_MINOR, 4);
	kbs_ttlv_add_datetime(h, KBS_KMIP_TAG_TIME_STAMP, 1);
	kbs_ttlv_add_int(h, KBS_KMIP_TAG_BATCH_COUNT, batch_count);
	*item = kbs_ttlv_add_struct(r, KBS_KMIP_TAG_BATCH_ITEM);
	kbs_ttlv_add_enum(*item, KBS_KMIP_TAG_OPERATION, op);
	kbs_ttlv_add_enum(*item, KBS_KMIP_TAG_RESULT_STATUS, status);
	return r;
}

static kbs_err
parse_get(kbs_ttlv *r, kbs_errbuf *eb)
{
	uint8_t *buf = NULL, *out = NULL;
	size_t n = 0, olen = 0;
	kbs_err rc;

	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_encode(r, &buf, &n, NULL), KBS_OK);
	kbs_ttlv_free(r);
	rc = kbs_kmip_resp_get(buf, n, &out, &olen, eb);
	if (rc == KBS_OK)
		kbs_freezero(out, olen);
	else
		CU_ASSERT_PTR_NULL(out);
	free(buf);
	return rc;
}

/* A Get payload with a key block whose format is fmt. */
static kbs_ttlv *
get_with_format(uint32_t fmt, int wrapped)
{
	kbs_ttlv *bi, *r = resp_begin(1, KBS_KMIP_OP_GET, 0, &bi);
	kbs_ttlv *pl = kbs_ttlv_add_struct(bi, KBS_KMIP_TAG_RESPONSE_PAYLOAD);
	kbs_ttlv *kb = kbs_ttlv_add_struct(kbs_ttlv_add_struct(pl,
				KBS_KMIP_TAG_SYMMETRIC_KEY), KBS_KMIP_TAG_KEY_BLOCK);

	kbs_ttlv_add_enum(kb, KBS_KMIP_TAG_KEY_FORMAT_TYPE, fmt);
	kbs_ttlv_add_bytes(kbs_ttlv_add_struct(kb, KBS_KMIP_TAG_KEY_VALUE),
			   KBS_KMIP_TAG_KEY_MATERIAL, (const uint8_t *)"k", 1);
	if (wrapped)
		kbs_ttlv_add_struct(kb, 0x420046);
	return r;
}

static void
test_malformed_responses(void)
{
	kbs_errbuf eb = {{0}};
	kbs_ttlv *r, *bi;

	CU_ASSERT_EQUAL(parse_get(get_with_format(1, 0), &eb), KBS_OK);
	CU_ASSERT_EQUAL(parse_get(get_with_format(7, 0), &eb),
			KBS_ERR_NETWORK);
	CU_ASSERT_EQUAL(parse_get(get_with_format(1, 1), &eb),
			KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "raw or opaque"));
	/* Batch count 2, or two batch items. */
	r = resp_begin(2, KBS_KMIP_OP_GET, 0, &bi);
	CU_ASSERT_EQUAL(parse_get(r, &eb), KBS_ERR_NETWORK);
	r = resp_begin(1, KBS_KMIP_OP_GET, 0, &bi);
	kbs_ttlv_add_struct(r, KBS_KMIP_TAG_BATCH_ITEM);
	CU_ASSERT_EQUAL(parse_get(r, &eb), KBS_ERR_NETWORK);
	/* Success without a payload: no key. */
	r = resp_begin(1, KBS_KMIP_OP_GET, 0, &bi);
	CU_ASSERT_EQUAL(parse_get(r, &eb), KBS_ERR_NETWORK);
	/* Pending (2) is not success either. */
	r = resp_begin(1, KBS_KMIP_OP_GET, 2, &bi);
	CU_ASSERT_EQUAL(parse_get(r, &eb), KBS_ERR_NETWORK);
	/* A request message where a response should be. */
	r = kbs_ttlv_new_struct(KBS_KMIP_TAG_REQUEST_MESSAGE);
	CU_ASSERT_EQUAL(parse_get(r, &eb), KBS_ERR_NETWORK);
	/* Result message with control characters is shown sanitised. */
	r = resp_begin(1, KBS_KMIP_OP_GET, 1, &bi);
	kbs_ttlv_add_enum(bi, KBS_KMIP_TAG_RESULT_REASON, 0x18);
	kbs_ttlv_add_text(bi, KBS_KMIP_TAG_RESULT_MESSAGE, "a\nb\x1b", 4);
	CU_ASSERT_EQUAL(parse_get(r, &eb), KBS_ERR_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "Object Already Exists: a?b?"));
}

static void
test_locate_bounds(void)
{
	kbs_ttlv *bi, *r = resp_begin(1, KBS_KMIP_OP_LOCATE, 0, &bi);
	kbs_ttlv *pl = kbs_ttlv_add_struct(bi, KBS_KMIP_TAG_RESPONSE_PAYLOAD);
	uint8_t *buf = NULL;
	char **uids = NULL;
	size_t n = 0, k = 0;
	int i;

	for (i = 0; i < KBS_KMIP_MAX_LOCATE + 1; i++)
		kbs_ttlv_add_text(pl, KBS_KMIP_TAG_UNIQUE_IDENTIFIER, "1", 1);
	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_encode(r, &buf, &n, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_kmip_resp_locate(buf, n, &uids, &k, NULL),
			KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NULL(uids);
	free(buf);
	kbs_ttlv_free(r);
	/* An identifier that is not text. */
	r = resp_begin(1, KBS_KMIP_OP_LOCATE, 0, &bi);
	pl = kbs_ttlv_add_struct(bi, KBS_KMIP_TAG_RESPONSE_PAYLOAD);
	kbs_ttlv_add_int(pl, KBS_KMIP_TAG_UNIQUE_IDENTIFIER, 1);
	CU_ASSERT_EQUAL_FATAL(kbs_ttlv_encode(r, &buf, &n, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_kmip_resp_locate(buf, n, &uids, &k, NULL),
			KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NULL(uids);
	free(buf);
	kbs_ttlv_free(r);
}

static const kbs_unit_test tests[] = {
	{"get_destroy_requests", test_get_destroy_requests},
	{"register_request", test_register_request},
	{"symmetric_and_create_requests", test_symmetric_and_create_requests},
	{"get_response", test_get_response},
	{"locate_response", test_locate_response},
	{"uid_responses", test_uid_responses},
	{"error_mapping", test_error_mapping},
	{"malformed_responses", test_malformed_responses},
	{"locate_bounds", test_locate_bounds},
	{NULL, NULL},
};

KBS_UNIT_MAIN("kmip", tests)
