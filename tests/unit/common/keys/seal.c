/* Tests for common/seal.c. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "b64.h"
#include "fsutil.h"
#include "mem.h"
#include "seal.h"
#include "unit.h"

static const uint8_t key_a[KBS_SEAL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t key_b[KBS_SEAL_KEY_LEN] = {9, 9, 9};
static const char msg[] = "{\"session\":\"3f0c9a1e\",\"nonce\":\"abc\"}";

static kbs_sealer *
sealer_with(const uint8_t *k1, const uint8_t *k2)
{
	kbs_sealer *s = NULL;

	CU_ASSERT_EQUAL_FATAL(kbs_sealer_new(&s), KBS_OK);
	if (k1 != NULL)
		CU_ASSERT_EQUAL(kbs_sealer_add_key(s, k1), KBS_OK);
	if (k2 != NULL)
		CU_ASSERT_EQUAL(kbs_sealer_add_key(s, k2), KBS_OK);
	return s;
}

static char *
seal_msg(const kbs_sealer *s, const char *aad)
{
	char *out = NULL;

	CU_ASSERT_EQUAL(kbs_seal(s, aad, (const uint8_t *)msg, strlen(msg),
				 &out, NULL), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	return out;
}

static kbs_err
open_str(const kbs_sealer *s, const char *aad, const char *in)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	kbs_err rc = kbs_unseal(s, aad, in, strlen(in), &pt, &len, NULL);

	if (rc == KBS_OK) {
		CU_ASSERT(len == strlen(msg) && memcmp(pt, msg, len) == 0);
		kbs_freezero(pt, len);
	} else {
		CU_ASSERT_PTR_NULL(pt);
	}
	return rc;
}

static int
contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t i, k = strlen(needle);

	for (i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return 1;
	return 0;
}

static void
test_roundtrip_and_format(void)
{
	kbs_sealer *s = sealer_with(key_a, NULL);
	char *a = seal_msg(s, "kbs-session-v1");
	char *b = seal_msg(s, "kbs-session-v1");
	uint8_t *raw = NULL, md[32];
	size_t rawlen = 0;
	unsigned int mdlen = 0;

	CU_ASSERT_EQUAL(open_str(s, "kbs-session-v1", a), KBS_OK);
	/* Random IVs: the same value seals differently each time. */
	CU_ASSERT(strcmp(a, b) != 0);
	/* Format: 0x01 | SHA-256(key)[0..8] | iv 12 | ct | tag 16. */
	CU_ASSERT_EQUAL_FATAL(kbs_b64_decode(a, strlen(a), KBS_B64_URL, &raw,
					     &rawlen), KBS_OK);
	CU_ASSERT_EQUAL(rawlen, 1 + 8 + 12 + strlen(msg) + 16);
	CU_ASSERT_EQUAL(raw[0], 0x01);
	CU_ASSERT(EVP_Digest(key_a, 32, md, &mdlen, EVP_sha256(), NULL) == 1);
	CU_ASSERT(memcmp(raw + 1, md, 8) == 0);
	/* The plaintext does not appear in the clear. */
	CU_ASSERT(!contains(raw, rawlen, "session"));
	free(raw);
	free(a);
	free(b);
	kbs_sealer_free(s);
}

static void
test_empty_and_bounds(void)
{
	kbs_sealer *s = sealer_with(key_a, NULL), *none = sealer_with(NULL, NULL);
	uint8_t *big = calloc(1, KBS_SEAL_MAX_LEN + 1);
	uint8_t *pt = NULL;
	size_t len = 5, maxpt = KBS_SEAL_MAX_LEN / 4 * 3 - 37;
	char *out = NULL;
	kbs_errbuf eb;

	CU_ASSERT_FATAL(big != NULL);
	CU_ASSERT_EQUAL_FATAL(kbs_seal(s, "x", NULL, 0, &out, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_unseal(s, "x", out, strlen(out), &pt, &len, &eb),
			KBS_OK);
	CU_ASSERT_EQUAL(len, 0);
	kbs_freezero(pt, len);
	free(out);
	CU_ASSERT_EQUAL_FATAL(kbs_seal(s, "x", big, maxpt, &out, &eb), KBS_OK);
	CU_ASSERT(strlen(out) <= KBS_SEAL_MAX_LEN);
	CU_ASSERT_EQUAL(kbs_unseal(s, "x", out, strlen(out), &pt, &len, &eb),
			KBS_OK);
	CU_ASSERT_EQUAL(len, maxpt);
	kbs_freezero(pt, len);
	free(out);
	out = NULL;
	CU_ASSERT_EQUAL(kbs_seal(s, "x", big, maxpt + 1, &out, &eb),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kbs_seal(none, "x", big, 1, &out, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(out);
	/* Oversized and short inputs. */
	memset(big, 'A', KBS_SEAL_MAX_LEN + 1);
	CU_ASSERT_EQUAL(kbs_unseal(s, "x", (char *)big, KBS_SEAL_MAX_LEN + 1,
				   &pt, &len, &eb), KBS_ERR_TOO_LARGE);
	/* At the limit it is decoded: all-zero bytes, so version 0. */
	CU_ASSERT_EQUAL(kbs_unseal(s, "x", (char *)big, KBS_SEAL_MAX_LEN, &pt,
				   &len, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_unseal(s, "x", "AAAA", 4, &pt, &len, &eb),
			KBS_ERR_INVALID);
	free(big);
	kbs_sealer_free(s);
	kbs_sealer_free(none);
	kbs_sealer_free(NULL);
}

/* Flip one bit at every byte offset: each must be refused. */
static void
test_tamper_every_byte(void)
{
	kbs_sealer *s = sealer_with(key_a, NULL);
	char *sealed = seal_msg(s, "aad");
	uint8_t *raw = NULL;
	size_t rawlen = 0, i;
	int failures = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_b64_decode(sealed, strlen(sealed),
					     KBS_B64_URL, &raw, &rawlen), KBS_OK);
	for (i = 0; i < rawlen; i++) {
		char *t;
		kbs_err rc, want;

		raw[i] ^= 0x01;
		t = kbs_b64_encode(raw, rawlen, KBS_B64_URL);
		rc = open_str(s, "aad", t);
		/* version -> INVALID, key id -> NOT_FOUND, rest -> VERIFY */
		want = i == 0 ? KBS_ERR_INVALID : i < 9 ? KBS_ERR_NOT_FOUND :
		       KBS_ERR_VERIFY;
		if (rc != want)
			failures++;
		free(t);
		raw[i] ^= 0x01;
	}
	CU_ASSERT_EQUAL(failures, 0);
	/* Truncated by one byte, and extended by one. */
	{
		char *t = kbs_b64_encode(raw, rawlen - 1, KBS_B64_URL);
		CU_ASSERT_EQUAL(open_str(s, "aad", t), KBS_ERR_VERIFY);
		free(t);
	}
	/* Not base64url (standard alphabet / padding). */
	CU_ASSERT_EQUAL(open_str(s, "aad", "AQ+/"), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(open_str(s, "aad", "AQ=="), KBS_ERR_INVALID);
	free(raw);
	free(sealed);
	kbs_sealer_free(s);
}

static void
test_wrong_aad(void)
{
	kbs_sealer *s = sealer_with(key_a, NULL);
	char *sealed = seal_msg(s, "kbs-session-v1");

	CU_ASSERT_EQUAL(open_str(s, "kbs-session-v2", sealed), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(open_str(s, "", sealed), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(open_str(s, "kbs-session-v1", sealed), KBS_OK);
	free(sealed);
	kbs_sealer_free(s);
}

static void
test_key_rotation(void)
{
	kbs_sealer *old = sealer_with(key_a, NULL);
	kbs_sealer *rotated = sealer_with(key_b, key_a);
	kbs_sealer *retired = sealer_with(key_b, NULL);
	char *by_old = seal_msg(old, "a"), *by_new = seal_msg(rotated, "a");

	/* New key first: old values still open, new values use the new key. */
	CU_ASSERT_EQUAL(open_str(rotated, "a", by_old), KBS_OK);
	CU_ASSERT_EQUAL(open_str(rotated, "a", by_new), KBS_OK);
	CU_ASSERT_EQUAL(open_str(retired, "a", by_new), KBS_OK);
	CU_ASSERT_EQUAL(open_str(old, "a", by_new), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(open_str(retired, "a", by_old), KBS_ERR_NOT_FOUND);
	/* The same key twice is refused. */
	CU_ASSERT_EQUAL(kbs_sealer_add_key(rotated, key_a), KBS_ERR_EXISTS);
	free(by_old);
	free(by_new);
	kbs_sealer_free(old);
	kbs_sealer_free(rotated);
	kbs_sealer_free(retired);
}

static void
test_key_file(void)
{
	char dir[64], p[128];
	uint8_t *k1 = NULL;
	size_t len = 0;
	kbs_sealer *s1 = sealer_with(NULL, NULL), *s2 = sealer_with(NULL, NULL);
	struct stat st;
	char *sealed;
	kbs_errbuf eb;

	snprintf(dir, sizeof(dir), "/tmp/kbs-seal-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(p, sizeof(p), "%s/cookie.key", dir);
	/* Created on first use, 32 bytes, 0600; reloaded unchanged. */
	CU_ASSERT_EQUAL_FATAL(kbs_sealer_add_key_file(s1, p, &eb), KBS_OK);
	CU_ASSERT(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600 &&
		  st.st_size == KBS_SEAL_KEY_LEN);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(p, 64, &k1, &len, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_OK);
	sealed = seal_msg(s1, "a");
	CU_ASSERT_EQUAL(open_str(s2, "a", sealed), KBS_OK);
	free(sealed);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_EXISTS);
	/* Group-readable (kubelet's fsGroup): accepted; group-writable or
	 * other-accessible: refused. */
	CU_ASSERT(chmod(p, 0640) == 0);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_EXISTS);
	CU_ASSERT(chmod(p, 0440) == 0);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_EXISTS);
	CU_ASSERT(chmod(p, 0660) == 0);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_CONFIG);
	CU_ASSERT(chmod(p, 0604) == 0);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_CONFIG);
	CU_ASSERT(chmod(p, 0400) == 0);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_EXISTS);
	/* Wrong sizes: refused, never truncated or padded. */
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, k1, 31, 0600, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, (const uint8_t *)msg, 33, 0600,
					    NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, NULL, 0, 0600, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, p, &eb), KBS_ERR_CONFIG);
	/* A directory in the way. */
	CU_ASSERT_EQUAL(kbs_sealer_add_key_file(s2, dir, &eb), KBS_ERR_IO);
	unlink(p);
	rmdir(dir);
	kbs_freezero(k1, len);
	kbs_sealer_free(s1);
	kbs_sealer_free(s2);
}

static const kbs_unit_test tests[] = {
	{"round trip and wire format", test_roundtrip_and_format},
	{"empty value and size bounds", test_empty_and_bounds},
	{"tamper every byte", test_tamper_every_byte},
	{"wrong aad", test_wrong_aad},
	{"key rotation", test_key_rotation},
	{"key file create/load/modes/sizes", test_key_file},
	{NULL, NULL},
};

KBS_UNIT_MAIN("seal", tests)
