/* Tests for Intel key release (common/intel_wrap.c): wrapped_key layout and
 * AES-256-GCM known answer, the SGX/TDX workload-key encodings, the size
 * and shape rules on held data, wrap/unwrap round trips (by hand with
 * OpenSSL and with kbs_intel_unwrap), UUIDs. */
#include <string.h>

#include <openssl/rsa.h>

#include "b64.h"
#include "intel_wrap.h"
#include "mem.h"
#include "unit.h"

static EVP_PKEY *key3072, *key2048;

static EVP_PKEY *
rsa(size_t bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
}

static int
setup(void)
{
	if (key3072 == NULL)
		key3072 = rsa(3072);
	if (key2048 == NULL)
		key2048 = rsa(2048);
	return key3072 && key2048;
}

static void
test_layout_aes256(void)
{
	uint8_t swk[32], iv[12], secret[32], *out = NULL, *pt = NULL;
	size_t len = 0, plen = 0;
	char *b64;

	memset(swk, 7, sizeof(swk));
	memset(iv, 9, sizeof(iv));
	memset(secret, 0x42, sizeof(secret));
	CU_ASSERT_EQUAL_FATAL(kbs_intel_seal(swk, iv, secret, 32, &out, &len,
					     NULL), KBS_OK);
	CU_ASSERT_EQUAL(len, 72);
	b64 = kbs_b64_encode(out, len, KBS_B64_STD);
	CU_ASSERT_FATAL(b64 != NULL);
	CU_ASSERT_EQUAL(strncmp(b64, "DAAAABAAAAAwAAAA", 16), 0);
	CU_ASSERT_EQUAL(memcmp(out + 12, iv, 12), 0);
	CU_ASSERT_EQUAL(kbs_intel_open(swk, out, len, &pt, &plen, NULL), KBS_OK);
	CU_ASSERT_EQUAL(plen, 32);
	CU_ASSERT(pt != NULL && memcmp(pt, secret, 32) == 0);
	kbs_freezero(pt, plen);
	free(b64);
	free(out);
}

/* GCM specification (McGrew-Viega) test case 14: 256-bit zero key, zero
 * IV, one zero block. */
static void
test_gcm_known_answer(void)
{
	static const uint8_t ct[16] = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b,
		0x6e, 0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18};
	static const uint8_t tag[16] = {0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b,
		0xf0, 0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
	static const uint8_t hdr[12] = {12, 0, 0, 0, 16, 0, 0, 0, 32, 0, 0, 0};
	uint8_t swk[32] = {0}, iv[12] = {0}, pt[16] = {0}, *out = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_intel_seal(swk, iv, pt, 16, &out, &len, NULL),
			      KBS_OK);
	CU_ASSERT_EQUAL(len, 12 + 12 + 16 + 16);
	CU_ASSERT_EQUAL(memcmp(out, hdr, 12), 0);
	CU_ASSERT_EQUAL(memcmp(out + 24, ct, 16), 0);
	CU_ASSERT_EQUAL(memcmp(out + 40, tag, 16), 0);
	free(out);
}

static void
test_open_rejects(void)
{
	uint8_t swk[32] = {1}, iv[12] = {2}, s[20] = {3}, *out = NULL, *pt = NULL;
	size_t len = 0, plen = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_intel_seal(swk, iv, s, sizeof(s), &out, &len,
					     NULL), KBS_OK);
	out[len - 1] ^= 1; /* tag */
	CU_ASSERT_EQUAL(kbs_intel_open(swk, out, len, &pt, &plen, NULL),
			KBS_ERR_VERIFY);
	out[len - 1] ^= 1;
	out[30] ^= 1; /* ciphertext */
	CU_ASSERT_EQUAL(kbs_intel_open(swk, out, len, &pt, &plen, NULL),
			KBS_ERR_VERIFY);
	out[30] ^= 1;
	swk[0] ^= 1;
	CU_ASSERT_EQUAL(kbs_intel_open(swk, out, len, &pt, &plen, NULL),
			KBS_ERR_VERIFY);
	swk[0] ^= 1;
	CU_ASSERT_EQUAL(kbs_intel_open(swk, out, len - 1, &pt, &plen, NULL),
			KBS_ERR_INVALID); /* truncated: ct_len disagrees */
	CU_ASSERT_EQUAL(kbs_intel_open(swk, out, 20, &pt, &plen, NULL),
			KBS_ERR_INVALID);
	out[0] = 16; /* iv_len */
	CU_ASSERT_EQUAL(kbs_intel_open(swk, out, len, &pt, &plen, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT(pt == NULL);
	free(out);
}

static int
same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	return EVP_PKEY_eq(a, b) == 1;
}

static void
test_held_sgx_tdx(void)
{
	uint8_t *sgx = NULL, *tdx = NULL;
	size_t slen = 0, tlen = 0, i;
	EVP_PKEY *k = NULL;
	int mirrored = 1;

	CU_ASSERT_FATAL(setup());
	CU_ASSERT_EQUAL_FATAL(kbs_intel_held_encode(key3072, KBS_INTEL_SGX, &sgx,
						    &slen, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_intel_held_encode(key3072, KBS_INTEL_TDX, &tdx,
						    &tlen, NULL), KBS_OK);
	CU_ASSERT_EQUAL(slen, 4 + 384);
	CU_ASSERT_EQUAL(tlen, 4 + 384);
	/* e = 65537 little-endian in both. */
	CU_ASSERT(sgx[0] == 1 && sgx[1] == 0 && sgx[2] == 1 && sgx[3] == 0);
	CU_ASSERT_EQUAL(memcmp(sgx, tdx, 4), 0);
	/* An odd modulus: its low byte is first (LE) or last (BE). */
	CU_ASSERT(sgx[4] & 1);
	CU_ASSERT(tdx[tlen - 1] & 1);
	for (i = 0; i < 384; i++)
		mirrored &= sgx[4 + i] == tdx[4 + 383 - i];
	CU_ASSERT(mirrored);
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(sgx, slen, KBS_INTEL_SGX, &k,
					      NULL), KBS_OK);
	CU_ASSERT(k != NULL && same_key(k, key3072));
	EVP_PKEY_free(k);
	k = NULL;
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(tdx, tlen, KBS_INTEL_TDX, &k,
					      NULL), KBS_OK);
	CU_ASSERT(k != NULL && same_key(k, key3072));
	EVP_PKEY_free(k);
	k = NULL;
	/* The wrong byte order never yields the workload's key: SGX read as
	 * TDX starts with the odd byte, so the modulus read is even. */
	if (kbs_intel_held_pubkey(sgx, slen, KBS_INTEL_TDX, &k, NULL) == KBS_OK)
		CU_ASSERT(!same_key(k, key3072));
	EVP_PKEY_free(k);
	free(sgx);
	free(tdx);
}

static void
test_held_refused(void)
{
	uint8_t *h = NULL, *big;
	size_t len = 0;
	EVP_PKEY *k = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_FATAL(setup());
	/* Exactly 2048 bits: Intel requires more. */
	CU_ASSERT_EQUAL_FATAL(kbs_intel_held_encode(key2048, KBS_INTEL_TDX, &h,
						    &len, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, len, KBS_INTEL_TDX, &k, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT(k == NULL);
	free(h);
	CU_ASSERT_EQUAL_FATAL(kbs_intel_held_encode(key3072, KBS_INTEL_TDX, &h,
						    &len, NULL), KBS_OK);
	/* Truncated, empty, exponent only. */
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, 200, KBS_INTEL_TDX, &k, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, 0, KBS_INTEL_TDX, &k, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, 4, KBS_INTEL_TDX, &k, NULL),
			KBS_ERR_INVALID);
	/* Even modulus (last BE byte made even). */
	h[len - 1] &= 0xfe;
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, len, KBS_INTEL_TDX, &k, NULL),
			KBS_ERR_INVALID);
	h[len - 1] |= 1;
	/* Exponents 1 and 65536. */
	h[0] = 1; h[1] = 0; h[2] = 0; h[3] = 0;
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, len, KBS_INTEL_TDX, &k, NULL),
			KBS_ERR_INVALID);
	h[0] = 0; h[2] = 1;
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, len, KBS_INTEL_TDX, &k, NULL),
			KBS_ERR_INVALID);
	/* Unknown TEE. */
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(h, len, 0, &k, NULL),
			KBS_ERR_INVALID);
	/* Over the bound. */
	big = calloc(1, KBS_INTEL_MAX_HELD + 1);
	CU_ASSERT_FATAL(big != NULL);
	big[0] = 3;
	big[KBS_INTEL_MAX_HELD] = 1;
	CU_ASSERT_EQUAL(kbs_intel_held_pubkey(big, KBS_INTEL_MAX_HELD + 1,
					      KBS_INTEL_TDX, &k, NULL),
			KBS_ERR_TOO_LARGE);
	/* A PEM header with garbage behind it. */
	{
		static const char junk[] = "-----BEGIN PUBLIC KEY-----\nxx\n";

		CU_ASSERT_EQUAL(kbs_intel_held_pubkey((const uint8_t *)junk,
						      strlen(junk), KBS_INTEL_TDX,
						      &k, NULL), KBS_ERR_INVALID);
	}
	CU_ASSERT(k == NULL);
	free(big);
	free(h);
}

/* Unwrap as a workload does: RSA-OAEP-SHA256, then the header and GCM. */
static void
test_wrap_unwrap(void)
{
	static const uint8_t secret[] = "a 256-bit key? no: any secret bytes";
	char *wk = NULL, *ws = NULL;
	uint8_t *k = NULL, *s = NULL, swk[512], *pt = NULL;
	size_t klen = 0, slen = 0, swklen = sizeof(swk), plen = 0;
	EVP_PKEY_CTX *ctx;

	CU_ASSERT_FATAL(setup());
	CU_ASSERT_EQUAL_FATAL(kbs_intel_wrap(key3072, secret, sizeof(secret),
					     &wk, &ws, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_b64_decode(wk, strlen(wk), KBS_B64_STD, &k,
					     &klen), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_b64_decode(ws, strlen(ws), KBS_B64_STD, &s,
					     &slen), KBS_OK);
	CU_ASSERT_EQUAL(slen, 384);
	CU_ASSERT_EQUAL(klen, 24 + sizeof(secret) + 16);
	ctx = EVP_PKEY_CTX_new(key3072, NULL);
	CU_ASSERT_FATAL(ctx != NULL);
	CU_ASSERT(EVP_PKEY_decrypt_init(ctx) > 0);
	CU_ASSERT(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0);
	CU_ASSERT(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0);
	CU_ASSERT(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0);
	CU_ASSERT_EQUAL_FATAL(EVP_PKEY_decrypt(ctx, swk, &swklen, s, slen), 1);
	CU_ASSERT_EQUAL(swklen, 32);
	CU_ASSERT_EQUAL(kbs_intel_open(swk, k, klen, &pt, &plen, NULL), KBS_OK);
	CU_ASSERT(plen == sizeof(secret) && memcmp(pt, secret, plen) == 0);
	/* A key of 2048 bits is refused for wrapping too. */
	CU_ASSERT_EQUAL(kbs_intel_wrap(key2048, secret, 4, &wk, &ws, NULL),
			KBS_ERR_INVALID);
	EVP_PKEY_CTX_free(ctx);
	kbs_freezero(pt, plen);
	free(wk);
	free(ws);
	free(k);
	free(s);
}

/* kbs_intel_unwrap: the round trip, and every bad answer refused. */
static void
test_unwrap(void)
{
	static const uint8_t secret[] = {0, 1, 2, 3, 0xfe, 0xff};
	char *wk = NULL, *ws = NULL, *wk3 = NULL, *ws3 = NULL, *bad;
	uint8_t *pt = NULL, *raw = NULL;
	size_t plen = 0, n = 0;
	kbs_errbuf eb = {""};

	CU_ASSERT_FATAL(setup());
	CU_ASSERT_EQUAL_FATAL(kbs_intel_wrap(key3072, secret, sizeof(secret),
					     &wk, &ws, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_unwrap(key3072, wk, ws, &pt, &plen, &eb), KBS_OK);
	CU_ASSERT(pt != NULL && plen == sizeof(secret) &&
		  memcmp(pt, secret, plen) == 0);
	kbs_freezero(pt, plen);
	pt = NULL;
	/* Another workload key cannot recover the SWK. */
	CU_ASSERT_EQUAL(kbs_intel_unwrap(key2048, wk, ws, &pt, &plen, NULL),
			KBS_ERR_CRYPTO);
	/* A second wrap: its wrapped_key does not open under the first SWK. */
	CU_ASSERT_EQUAL_FATAL(kbs_intel_wrap(key3072, secret, sizeof(secret),
					     &wk3, &ws3, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_intel_unwrap(key3072, wk3, ws, &pt, &plen, NULL),
			KBS_ERR_VERIFY);
	/* Not base64, and a missing argument. */
	CU_ASSERT_EQUAL(kbs_intel_unwrap(key3072, "!!", ws, &pt, &plen, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_intel_unwrap(key3072, wk, "a", &pt, &plen, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_intel_unwrap(key3072, NULL, ws, &pt, &plen, NULL),
			KBS_ERR_INVALID);
	/* A flipped bit in the tag (the last byte), re-encoded. */
	CU_ASSERT_EQUAL_FATAL(kbs_b64_decode(wk, strlen(wk), KBS_B64_STD, &raw,
					     &n), KBS_OK);
	raw[n - 1] ^= 1;
	bad = kbs_b64_encode(raw, n, KBS_B64_STD);
	CU_ASSERT_FATAL(bad != NULL);
	CU_ASSERT_EQUAL(kbs_intel_unwrap(key3072, bad, ws, &pt, &plen, NULL),
			KBS_ERR_VERIFY);
	CU_ASSERT(pt == NULL);
	free(bad);
	free(raw);
	free(wk);
	free(ws);
	free(wk3);
	free(ws3);
}

static void
test_uuid(void)
{
	static const char *const good[] = {
		"0855be44-45bd-4ff3-b545-7987e6a1c36b",
		"D0C3F191-AAAA-4BBB-9CCC-0123456789AB", NULL,
	};
	static const char *const bad[] = {
		"0855be44-45bd-3ff3-b545-7987e6a1c36b", /* version 3 */
		"0855be44-45bd-4ff3-c545-7987e6a1c36b", /* variant */
		"0855be44-45bd-4ff3-|545-7987e6a1c36b", /* Intel's regex quirk */
		"0855be44-45bd-4ff3-b545-7987e6a1c36", "0855be4445bd4ff3b5457987e6a1c36b",
		"0855be44-45bd-4ff3-b545-7987e6a1c36g", "../../etc/passwd-xxxxxxxxxxxxxxxxxx",
		"", NULL,
	};
	char u[37];
	size_t i;

	for (i = 0; good[i] != NULL; i++)
		CU_ASSERT(kbs_intel_uuid_ok(good[i], strlen(good[i])));
	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT(!kbs_intel_uuid_ok(bad[i], strlen(bad[i])));
	CU_ASSERT_EQUAL(kbs_intel_uuid_new(u, NULL), KBS_OK);
	CU_ASSERT(kbs_intel_uuid_ok(u, strlen(u)));
	CU_ASSERT_EQUAL(kbs_intel_tee_parse("SGX"), KBS_INTEL_SGX);
	CU_ASSERT_EQUAL(kbs_intel_tee_parse("TDX"), KBS_INTEL_TDX);
	CU_ASSERT_EQUAL(kbs_intel_tee_parse("tdx"), 0);
	CU_ASSERT_EQUAL(kbs_intel_tee_parse(NULL), 0);
}

static void
test_cleanup(void)
{
	EVP_PKEY_free(key3072);
	EVP_PKEY_free(key2048);
	key3072 = key2048 = NULL;
	CU_PASS("freed");
}

static const kbs_unit_test tests[] = {
	{"layout_aes256", test_layout_aes256},
	{"gcm_known_answer", test_gcm_known_answer},
	{"open_rejects", test_open_rejects},
	{"held_sgx_tdx", test_held_sgx_tdx},
	{"held_refused", test_held_refused},
	{"wrap_unwrap", test_wrap_unwrap},
	{"unwrap", test_unwrap},
	{"uuid", test_uuid},
	{"cleanup", test_cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("intel_wrap", tests)
