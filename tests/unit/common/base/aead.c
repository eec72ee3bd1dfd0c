/* Tests for common/aead.c: AES-256-GCM known answers (McGrew-Viega GCM
 * test cases 13, 14, 16, 18; RFC 7516 appendix A.1), refusal of every
 * tampered input with the output wiped, empty plaintext and AAD, bounds. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "unit.h"

typedef struct {
	const char *name, *key, *iv, *aad, *pt, *ct, *tag; /* hex */
} kat;

static const char k16[] =
	"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const char p16[] =
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
static const char a16[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

static const kat kats[] = {
	{"tc13 empty", "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "", "", "",
	 "530f8afbc74536b9a963b4f1c4cb738b"},
	{"tc14 one block", "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "", "00000000000000000000000000000000",
	 "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
	{"tc16 aad", k16, "cafebabefacedbaddecaf888", a16, p16,
	 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	 "76fc6ece0f4e1768cddf8853bb2d551b"},
	{"tc18 60-byte iv", k16,
	 "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
	 "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b", a16, p16,
	 "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
	 "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
	 "a44a8266ee1c8eb0c8b5d4cf5ae9f19a"},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* Hex to a malloc'd buffer (never NULL for valid hex, even if empty). */
static uint8_t *
unhex(const char *h, size_t *len)
{
	size_t n = strlen(h) / 2, i;
	uint8_t *b = malloc(n + 1);
	char two[3] = {0};

	for (i = 0; b != NULL && i < n; i++) {
		two[0] = h[2 * i];
		two[1] = h[2 * i + 1];
		b[i] = (uint8_t)strtoul(two, NULL, 16);
	}
	*len = n;
	return b;
}

static void
run_kat(const kat *t)
{
	size_t kl, il, al, pl, cl, tl;
	uint8_t *key = unhex(t->key, &kl), *iv = unhex(t->iv, &il);
	uint8_t *aad = unhex(t->aad, &al), *pt = unhex(t->pt, &pl);
	uint8_t *ct = unhex(t->ct, &cl), *tag = unhex(t->tag, &tl);
	uint8_t *out = malloc(pl + 1), *back = malloc(pl + 1), mac[16];

	CU_ASSERT_FATAL(key && iv && aad && pt && ct && tag && out && back);
	CU_ASSERT_EQUAL_FATAL(kl, 32);
	CU_ASSERT_EQUAL_FATAL(cl, pl);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_seal(key, iv, il, al ? aad : NULL,
						al, pt, pl, out, mac), KBS_OK);
	CU_ASSERT(memcmp(out, ct, cl) == 0);
	CU_ASSERT(memcmp(mac, tag, 16) == 0);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, il, al ? aad : NULL,
						al, ct, cl, tag, back), KBS_OK);
	CU_ASSERT(memcmp(back, pt, pl) == 0);
	if (CU_get_number_of_failures() > 0)
		fprintf(stderr, "KAT failed: %s\n", t->name);
	free(key);
	free(iv);
	free(aad);
	free(pt);
	free(ct);
	free(tag);
	free(out);
	free(back);
}

static void
test_known_answers(void)
{
	size_t i;

	for (i = 0; kats[i].name != NULL; i++)
		run_kat(&kats[i]);
}

/* RFC 7516 A.1: the JWE content encryption, AAD the protected header. */
static void
test_rfc7516_a1(void)
{
	static const uint8_t cek[32] = {177, 161, 244, 128, 84, 143, 225, 115,
		63, 180, 3, 255, 107, 154, 212, 246, 138, 7, 110, 91, 112, 46,
		34, 105, 47, 130, 203, 46, 122, 234, 64, 252};
	static const uint8_t iv[12] = {227, 197, 117, 252, 2, 219, 233, 68,
		180, 225, 77, 219};
	static const uint8_t tag[16] = {92, 80, 104, 49, 133, 25, 161, 215,
		173, 101, 219, 211, 136, 91, 210, 145};
	static const uint8_t ct0[63] = {229, 236, 166, 241, 53, 191, 115, 196,
		174, 43, 73, 109, 39, 122, 233, 96, 140, 206, 120, 52, 51, 237,
		48, 11, 190, 219, 186, 80, 111, 104, 50, 142, 47, 167, 59, 61,
		181, 127, 196, 21, 40, 82, 242, 32, 123, 143, 168, 226, 73, 216,
		176, 144, 138, 247, 106, 60, 16, 205, 160, 109, 64, 63, 192};
	static const char aad[] = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ";
	static const char pt[] = "The true sign of intelligence is not knowledge "
				 "but imagination.";
	uint8_t ct[sizeof(pt)], mac[16], back[sizeof(pt)];
	size_t n = strlen(pt);

	CU_ASSERT_EQUAL_FATAL(kbs_aead_aes256gcm_seal(cek, iv, 12,
			(const uint8_t *)aad, strlen(aad), (const uint8_t *)pt,
			n, ct, mac), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(n, sizeof(ct0));
	CU_ASSERT(memcmp(ct, ct0, sizeof(ct0)) == 0);
	CU_ASSERT(memcmp(mac, tag, 16) == 0);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(cek, iv, 12, (const uint8_t *)aad,
			strlen(aad), ct, n, tag, back), KBS_OK);
	CU_ASSERT(memcmp(back, pt, n) == 0);
}

static int
all_zero(const uint8_t *p, size_t n)
{
	size_t i;
	uint8_t acc = 0;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Each tampered input is refused with KBS_ERR_VERIFY and pt wiped. */
static void
test_tampered(void)
{
	uint8_t key[32], iv[12], aad[5] = "hdr.", pt[40], ct[40], tag[16];
	uint8_t out[40];
	uint8_t *fields[] = {key, iv, aad, ct, tag};
	const size_t sizes[] = {sizeof(key), sizeof(iv), sizeof(aad), sizeof(ct),
				sizeof(tag)};
	size_t i;

	memset(key, 0x11, sizeof(key));
	memset(iv, 0x22, sizeof(iv));
	memset(pt, 0x33, sizeof(pt));
	CU_ASSERT_EQUAL_FATAL(kbs_aead_aes256gcm_seal(key, iv, sizeof(iv), aad,
			sizeof(aad), pt, sizeof(pt), ct, tag), KBS_OK);
	for (i = 0; i < 5; i++) {
		fields[i][sizes[i] - 1] ^= 0x80;
		memset(out, 0x55, sizeof(out));
		CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, sizeof(iv), aad,
				sizeof(aad), ct, sizeof(ct), tag, out),
				KBS_ERR_VERIFY);
		CU_ASSERT(all_zero(out, sizeof(out)));
		fields[i][sizes[i] - 1] ^= 0x80;
	}
	/* Shorter AAD, shorter IV, AAD dropped: all different inputs. */
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, sizeof(iv), aad, 4, ct,
			sizeof(ct), tag, out), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 11, aad, sizeof(aad), ct,
			sizeof(ct), tag, out), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, sizeof(iv), NULL, 0, ct,
			sizeof(ct), tag, out), KBS_ERR_VERIFY);
	/* Truncated ciphertext. */
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, sizeof(iv), aad,
			sizeof(aad), ct, sizeof(ct) - 1, tag, out), KBS_ERR_VERIFY);
	/* Untampered still opens, in place too. */
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, sizeof(iv), aad,
			sizeof(aad), ct, sizeof(ct), tag, ct), KBS_OK);
	CU_ASSERT(memcmp(ct, pt, sizeof(pt)) == 0);
}

/* Empty plaintext with NULL buffers; the tag alone authenticates the AAD. */
static void
test_empty(void)
{
	uint8_t key[32] = {1}, iv[12] = {2}, tag[16];
	const uint8_t aad[] = "only aad";

	CU_ASSERT_EQUAL_FATAL(kbs_aead_aes256gcm_seal(key, iv, 12, aad, 8, NULL,
			0, NULL, tag), KBS_OK);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 12, aad, 8, NULL, 0,
			tag, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 12, aad, 7, NULL, 0,
			tag, NULL), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL_FATAL(kbs_aead_aes256gcm_seal(key, iv, 12, NULL, 0, NULL,
			0, NULL, tag), KBS_OK);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 12, NULL, 0, NULL, 0,
			tag, NULL), KBS_OK);
	tag[0] ^= 1;
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 12, NULL, 0, NULL, 0,
			tag, NULL), KBS_ERR_VERIFY);
}

/* Bad arguments are refused before anything is written. */
static void
test_arguments(void)
{
	uint8_t key[32] = {0}, iv[12] = {0}, buf[4] = {9, 9, 9, 9}, tag[16] = {0};

	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_seal(key, iv, 0, NULL, 0, buf, 4, buf,
			tag), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_seal(key, NULL, 12, NULL, 0, buf, 4,
			buf, tag), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_seal(NULL, iv, 12, NULL, 0, buf, 4,
			buf, tag), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_seal(key, iv, 12, NULL, 1, buf, 4, buf,
			tag), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_seal(key, iv, 12, NULL, 0, NULL, 4,
			buf, tag), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 12, NULL, 0, buf, 4,
			NULL, buf), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 12, NULL, 0, buf, 4, tag,
			NULL), KBS_ERR_INVALID);
	/* Lengths over INT_MAX never reach OpenSSL's int parameters (the
	 * buffers are not read: the check comes first). */
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_seal(key, iv, 12, NULL, 0, buf,
			(size_t)INT_MAX + 1, buf, tag), KBS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, 12, buf,
			(size_t)INT_MAX + 1, buf, 4, tag, buf), KBS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kbs_aead_aes256gcm_open(key, iv, (size_t)INT_MAX + 1,
			NULL, 0, buf, 4, tag, buf), KBS_ERR_TOO_LARGE);
	CU_ASSERT(buf[0] == 9 && buf[3] == 9);
}

static const kbs_unit_test tests[] = {
	{"known_answers", test_known_answers},
	{"rfc7516_a1", test_rfc7516_a1},
	{"tampered", test_tampered},
	{"empty", test_empty},
	{"arguments", test_arguments},
	{NULL, NULL},
};

KBS_UNIT_MAIN("aead", tests)
