/*
 * Tests for common/jwe.c.
 *
 * Independent checks: fixed JWEs made by jwcrypto 1.1 (below, generated
 * once with Debian's /usr/bin/python3; compact output converted to the
 * flattened form, which puts epk in the protected header as trustee
 * does), live round trips through jwcrypto in both directions, and the
 * RFC 7518 appendix C Concat KDF vector.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "b64.h"
#include "json.h"
#include "jwe.h"
#include "jwk.h"
#include "mem.h"
#include "tmpfile.h"
#include "unit.h"

#define PY "/usr/bin/python3"

static const char kat_p256_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7s5RgzNOvJtXJRZ2\n"
	"H3Q/kO3BREa1JNEspOcyJji9lH2hRANCAARsAIM8S/FK64UM0YXNNBXuBHs4w/gt\n"
	"5RIhFX0LoNaIliJkNsXGyrtko3tVyBy7ThR8XbNNuUljNhYHFY6Tm5ru\n"
	"-----END PRIVATE KEY-----\n"
	;
static const char kat_p256_jwe[] =
	"{\"protected\":\"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZ"
	"HQ00iLCJlcGsiOnsiY3J2IjoiUC0yNTYiLCJrdHkiOiJFQyIsIngiOiJvaVNXQWN"
	"0RGs3Y0lkb0sxblUxamhjV0w4VWhHZFl2TGRNcVB2U1VaV0RZIiwieSI6Ilk0Ujk"
	"2aEFFa0FOalQ4U1RhN29vbVhNTDBlM0UxcElTVktqWWkxWW4yYkUifX0\",\"enc"
	"rypted_key\":\"X9wDj5w4ORPHySCASEo-9MeqcDFyT_oG46ac-rekmPk5RXaC1"
	"p7qUg\",\"iv\":\"4QMF2o9UD2CO8vxQ\",\"ciphertext\":\"cIMsiWE63Ti"
	"f78gKqm25u-Hlm7EBVHMWaOMzdk03\",\"tag\":\"UVXQ-QLYfgb5jZTNoeo8sQ"
	"\"}";
static const char kat_p521_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIHuAgEAMBAGByqGSM49AgEGBSuBBAAjBIHWMIHTAgEBBEIBUqPbU/Hq/6fV09Jg\n"
	"rDHWJHM1avw+umhSfKCg3PbtCe8HwWKSDSLGEg8VjJWVgK+9tu2GCjc2o8qWynSM\n"
	"7y9UkfKhgYkDgYYABAA3WohErkt3wk4r74J3Ig9kgSflgxavO71kGeP5iS/nhzIu\n"
	"NwDs3rTkKEimRQrOkGxXg1fK7t+5LFMlbvZqpH/K/QBQAIyRyHFFqrXptFsyZjRQ\n"
	"YP5KU3Owodz7idaPRrPHA3HONqzNnq2QiBKjg9YGTHnpv3Q56hTDgWHbTrPtZU/1\n"
	"gg==\n"
	"-----END PRIVATE KEY-----\n"
	;
static const char kat_p521_jwe[] =
	"{\"protected\":\"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZ"
	"HQ00iLCJlcGsiOnsiY3J2IjoiUC01MjEiLCJrdHkiOiJFQyIsIngiOiJBRXgzalV"
	"tSy1hNWp0eGdDcllqYTBHWDl3ODdUZ0NBX2tyWks3WHVrOS10Rk11eHRvZUpNUXZ"
	"CV1FXbWQ4RUN3NFZNeXpvaDJadnNpRDZlX1lPQjNMeWdlIiwieSI6IkFGNTlNT1B"
	"wNlUxQ3AzbmF6WG81ZklLbTEwUHVJX3pSZ3Z5ZDBCdGl2Tm11R29HZV90bVc0NXB"
	"iejBpRjdQWVFxaEY1VW1vbVR2d196UVo3YUIzZ0VxM2gifX0\",\"encrypted_k"
	"ey\":\"-NxU7py_IdNn0IhpcXam3Uq_MsiBza3Hk9DcBv40pLeQyw5RAfibmw\","
	"\"iv\":\"dhZb7Lkt1V1S-QR9\",\"ciphertext\":\"NbUbxsI-roU6-sioWfX"
	"IOeOmiHeVjKg9Z_YhlK6L\",\"tag\":\"j3riEWm9m4AT_lFrOg5elA\"}";
static const char kat_rsa_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDFkb/5xaM1J69g\n"
	"bOjDgL2RzBrOhYpWtMR0vYjZ02rkyF2pqgcBFd3I9Q1L83mBPEICEJcLrVuuqCcP\n"
	"T6CjER6HxVCEtNIkNXXqNiXarWb5wN2WgSuPKoeVLiDcNHHxI3w2ZMJY/LBC72sr\n"
	"uQtfM7WF9CXVrMB/yVz3youmV6/9Raw3qTCdnSMVfwSxdzIxgFsqOxLziuV4c3rc\n"
	"4lfpSrqCNgPOXPW8QAw1MHziPFNRudenTUcflqqRquf0QmlYeerl9MvmUpJh032X\n"
	"aBn0keYz3vGsOcKO8v7zngB6kk+u+zdf5txT3NtH7tHcjpzobZAltkcpx4bhHnc/\n"
	"8S03kCHBAgMBAAECggEAALgPkUqhVeuvjTPIQxHgXrv16wN8ZeVhg6U+7sAAtxVt\n"
	"ldT7EotwU69knX6k1g4QlW5XBmFaoI+XGMyq4n0I9eiHavw3eY9CPxh0Wc/gvI7x\n"
	"n38X1/0JIkdZMkP0mDKPXKlQNb+xqoSxiKazPmTzR6oESztGNhDXCEXR7UiLaOoK\n"
	"28J77MwQfiOnF7QqTjWB8jFjVLxj6AwIMyEZfxCnfUeLweqqiXR89gukxbqO6xFs\n"
	"6zTrmJ+5PsheRL/5oTOR+YOQUCE3yvS3XyGSkXaPSUBZiLplC3/+hsun0Q8O+StL\n"
	"ZfWQyjKrCOQPhz3edWElR9snl/cYB/vGcUBG18PpuQKBgQDl3PepuiDRCbduAI/x\n"
	"thbFH7r7IQPFn/v49juSWn/ykchNtmbjMOW6VC58bMS2lUXtny/PY5QAukCLRtyu\n"
	"NlRTzbjHes0q/P751Ln3ab4qM7Bz/Nbje7Epso5is+Hb+CGBdjj3+j49GKp0+vWa\n"
	"8H4ii7RutOAkTELPAuVLxcRnDQKBgQDcCL/RuRlCQ3BleEY8UtMlqHbxlaUGsEgD\n"
	"mzGjkdm/9cHufGddA4s/mHFKqKJjti4orqk30jVApNhT9ql7nV7TpmpbsUHdR010\n"
	"XDubQjyoWJbWsRKco5WHH5dHI6uWWsoTBimZd7ghErhfxt+itUYzGc7qCebaLgWZ\n"
	"Ltt6Wvr4hQKBgDA4LmwYc5Hma+hTjd6yyAwKH/tWbagja4RKgyysd3K3SkGjJeo6\n"
	"87Ymuqm3V3zFy6mRX0IuLXoJmEifUOPq2b3Kxhxykl+WOxbFnU1djVrlBPsP6zRF\n"
	"WmDY6C2kdpjicITr+/9pK209o2Ru0N7z3EH69JrUrsBujwVGIjvG/PBxAoGBAKpU\n"
	"x5Elde064Y5bThuyjiuvvuwDSO3llsnb4NBbvrIAIDFq8mUpsij37HO8GYGQ7Sin\n"
	"FO3Wd0zkj2ZoIwlDaL31LI5wqKkQYmA6ahYlb2luss3d46eIZt9kUCpM7a6F97pE\n"
	"Yf2glNRddocGH+cH5yD10JySL7gkOkc748FTHsc1AoGAcf6cQZFpxtnhBMnW8bXQ\n"
	"j/py7pztJPjegv15+O6hz/tJZSc7rYaldcldIghw2MwsKTOCRq+EN5B4kr6QBycN\n"
	"m4b7h72RKywvGd8rO2kKuTxfgad+v4v+TVmHNkJQmIKsgJsc0UZb+IiEadUHz8It\n"
	"fyIabt7f0CqgkXTlTv5nJlA=\n"
	"-----END PRIVATE KEY-----\n"
	;
static const char kat_rsa_jwe[] =
	"{\"protected\":\"eyJhbGciOiAiUlNBLU9BRVAtMjU2IiwgImVuYyI6ICJBMjU"
	"2R0NNIn0\",\"encrypted_key\":\"MAFLVhIa3GCXjEBmfG5JS-103P4WAFSuo"
	"59Z8KA5PBYGNRjRdx0yDUbSXNwv_NdOeb8b4pBW4EAVotznphqTzw4gLfvUbEAVn"
	"lIhr3G4S6aQfj8nyznkShMLbkCnsyo4ewX3k_HBlJ-ud04eRs_YeFksRIf2khugU"
	"j71kL9zzJy3lOqP-ubtrnppPTxAFejBizFr0bvYCsHmefaddu2Fy2F_v2rqq0rbK"
	"bmxXxWYlUdhZ3VylNwn5FGwjGdDgSBWHc6ayyTFnE5tWUtCfnLd8ciX_REdfKsdv"
	"jCUGgAnoODIS0ZN0YD2Akjb23SJv8rTlP8x3XBJlUZFOKlwtql62Q\",\"iv\":"
	"\"6nf-ybXMvpLsbjl4\",\"ciphertext\":\"cKgWi6o6JQSLxqjb9gZfAIniDS"
	"LjpdV-NfON-fc\",\"tag\":\"QJ6W3DZVhO9fxGYvCkIWmg\"}";

static EVP_PKEY *rsa_key, *rsa_key2, *p256, *p256b, *p384, *p521;

static EVP_PKEY *
pem_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);

	BIO_free(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	return k;
}

/* Keys are made once: RSA generation dominates the run time. */
static void
keys_init(void)
{
	if (rsa_key != NULL)
		return;
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa_key2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p256b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	CU_ASSERT_FATAL(rsa_key && rsa_key2 && p256 && p256b && p384 && p521);
}

/* Encrypt through the public kbs_jwk path (the broker's). */
static char *
encrypt_for(EVP_PKEY *k, const char *alg, const uint8_t *pt, size_t len,
	    int allow15, kbs_err want)
{
	kbs_jwk *jwk = NULL;
	char *out = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc;

	CU_ASSERT_EQUAL_FATAL(kbs_jwk_from_pkey(k, alg, NULL, &jwk, &eb), KBS_OK);
	rc = kbs_jwe_encrypt(jwk, pt, len, allow15, &out, &eb);
	if (rc != want)
		fprintf(stderr, "encrypt %s: %s (%s)\n", alg, kbs_strerror(rc),
			eb.msg);
	CU_ASSERT_EQUAL(rc, want);
	kbs_jwk_free(jwk);
	return out;
}

/* Decrypt and compare; returns the error code. */
static kbs_err
decrypt_is(EVP_PKEY *k, const char *json, const uint8_t *want, size_t wlen)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_jwe_decrypt(k, json, strlen(json), &pt, &len, &eb);

	if (rc == KBS_OK) {
		CU_ASSERT(len == wlen && (wlen == 0 || memcmp(pt, want, len) == 0));
		kbs_freezero(pt, len);
	} else {
		CU_ASSERT_PTR_NULL(pt);
	}
	return rc;
}

/* Decoded protected header text of a JWE (malloc'd). */
static char *
protected_text(const char *json)
{
	json_t *j = kbs_json_parse_object(json, strlen(json), 4, NULL);
	const char *p = kbs_json_str(j, "protected");
	uint8_t *out = NULL;
	size_t len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(kbs_b64_decode(p, strlen(p), KBS_B64_URL, &out, &len),
			KBS_OK);
	json_decref(j);
	return (char *)out;
}

/* Copy of json with member name set to value (a string), or removed. */
static char *
with_member(const char *json, const char *name, const char *value)
{
	json_t *j = kbs_json_parse_object(json, strlen(json), 4, NULL);
	char *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	if (value != NULL)
		json_object_set_new(j, name, json_string(value));
	else
		json_object_del(j, name);
	out = kbs_json_dumps(j);
	json_decref(j);
	return out;
}

/* Copy of json with the protected header replaced by hdr (plain text). */
static char *
with_header(const char *json, const char *hdr)
{
	char *b = kbs_b64_encode((const uint8_t *)hdr, strlen(hdr), KBS_B64_URL);
	char *out = with_member(json, "protected", b);

	free(b);
	return out;
}

/* Flip one bit in the decoded value of a base64url member. */
static char *
with_flipped(const char *json, const char *name, size_t byte)
{
	json_t *j = kbs_json_parse_object(json, strlen(json), 4, NULL);
	const char *v = kbs_json_str(j, name);
	uint8_t *raw = NULL;
	size_t len = 0;
	char *b, *out;

	CU_ASSERT_EQUAL_FATAL(kbs_b64_decode(v, strlen(v), KBS_B64_URL, &raw,
					     &len), KBS_OK);
	CU_ASSERT_FATAL(byte < len);
	raw[byte] ^= 0x80;
	b = kbs_b64_encode(raw, len, KBS_B64_URL);
	out = with_member(json, name, b);
	free(b);
	free(raw);
	json_decref(j);
	return out;
}

static size_t
member_len(const char *json, const char *name)
{
	json_t *j = kbs_json_parse_object(json, strlen(json), 4, NULL);
	const char *v = kbs_json_str(j, name);
	uint8_t *raw = NULL;
	size_t len = 0;

	if (v == NULL || kbs_b64_decode(v, strlen(v), KBS_B64_URL, &raw, &len))
		len = (size_t)-1;
	free(raw);
	json_decref(j);
	return len;
}

static const uint8_t msg[] = "the secret resource \x00\x01\xff payload";

static void
test_roundtrip_all(void)
{
	static const struct {
		EVP_PKEY **k;
		const char *alg;
		const char *hdr;
		size_t eklen;
	} t[] = {
		{&rsa_key, "RSA-OAEP-256",
		 "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}", 256},
		{&rsa_key, "RSA1_5", "{\"alg\":\"RSA1_5\",\"enc\":\"A256GCM\"}",
		 256},
		{&p256, "ECDH-ES+A256KW", "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":"
		 "\"A256GCM\",\"epk\":{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 40},
		{&p384, "ECDH-ES+A256KW", "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":"
		 "\"A256GCM\",\"epk\":{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"", 40},
		{&p521, "ECDH-ES+A256KW", "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":"
		 "\"A256GCM\",\"epk\":{\"crv\":\"P-521\",\"kty\":\"EC\",\"x\":\"", 40},
	};
	size_t i;

	keys_init();
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *j = encrypt_for(*t[i].k, t[i].alg, msg, sizeof(msg), 1,
				      KBS_OK);
		char *h;

		CU_ASSERT_PTR_NOT_NULL_FATAL(j);
		CU_ASSERT_EQUAL(decrypt_is(*t[i].k, j, msg, sizeof(msg)), KBS_OK);
		/* alg first, enc second, compact, epk {crv,kty,x,y}. */
		h = protected_text(j);
		CU_ASSERT(strncmp(h, t[i].hdr, strlen(t[i].hdr)) == 0);
		if (strstr(t[i].hdr, "epk") != NULL)
			CU_ASSERT(strstr(h, "\",\"y\":\"") != NULL &&
				  strcmp(h + strlen(h) - 3, "\"}}") == 0);
		/* Exactly the five members, in the trustee order. */
		CU_ASSERT(strncmp(j, "{\"protected\":\"", 14) == 0);
		CU_ASSERT(strstr(j, "\",\"encrypted_key\":\"") != NULL);
		CU_ASSERT(strstr(j, "\",\"iv\":\"") > strstr(j, "encrypted_key"));
		CU_ASSERT(strstr(j, "\",\"ciphertext\":\"") > strstr(j, "\"iv\""));
		CU_ASSERT(strstr(j, "\",\"tag\":\"") > strstr(j, "ciphertext"));
		CU_ASSERT(strchr(j, '=') == NULL && strchr(j, ' ') == NULL);
		CU_ASSERT_EQUAL(member_len(j, "iv"), 12);
		CU_ASSERT_EQUAL(member_len(j, "tag"), 16);
		CU_ASSERT_EQUAL(member_len(j, "ciphertext"), sizeof(msg));
		CU_ASSERT_EQUAL(member_len(j, "encrypted_key"), t[i].eklen);
		free(h);
		free(j);
	}
}

static void
test_sizes(void)
{
	uint8_t *big = calloc(1, KBS_JWE_MAX_PLAINTEXT + 1);
	char *j, *out = NULL;

	keys_init();
	CU_ASSERT_FATAL(big != NULL);
	j = encrypt_for(p256, "ECDH-ES+A256KW", NULL, 0, 0, KBS_OK);
	CU_ASSERT_EQUAL(decrypt_is(p256, j, NULL, 0), KBS_OK);
	free(j);
	big[0] = 1;
	big[KBS_JWE_MAX_PLAINTEXT - 1] = 2;
	j = encrypt_for(p256, "ECDH-ES+A256KW", big, KBS_JWE_MAX_PLAINTEXT, 0,
			KBS_OK);
	CU_ASSERT_EQUAL(decrypt_is(p256, j, big, KBS_JWE_MAX_PLAINTEXT), KBS_OK);
	free(j);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(p256, "ECDH-ES+A256KW", big,
					     KBS_JWE_MAX_PLAINTEXT + 1, 0, &out,
					     NULL), KBS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NULL(out);
	free(big);
}

/* Decoded base64url member of a JWE into out[want]; 0 if absent or not
 * exactly want bytes. */
static int
member_bytes(const char *json, const char *name, uint8_t *out, size_t want)
{
	json_t *j = kbs_json_parse_object(json, strlen(json), 4, NULL);
	const char *v = kbs_json_str(j, name);
	uint8_t *raw = NULL;
	size_t len = 0;
	int ok = v != NULL && kbs_b64_decode(v, strlen(v), KBS_B64_URL, &raw,
					     &len) == KBS_OK && len == want;

	if (ok)
		memcpy(out, raw, want);
	free(raw);
	json_decref(j);
	return ok;
}

/*
 * The CEK of an RSA-OAEP-256 JWE, unwrapped here with OpenSSL rather than
 * by jwe.c, so that a CEK jwe.c both makes and reads wrongly (all zero,
 * say) is still seen.
 */
static void
cek_of(EVP_PKEY *k, const char *json, uint8_t cek[32])
{
	uint8_t ek[256], buf[256];
	size_t n = sizeof(buf);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);

	CU_ASSERT_FATAL(member_bytes(json, "encrypted_key", ek, sizeof(ek)));
	CU_ASSERT_FATAL(c != NULL && EVP_PKEY_decrypt_init(c) == 1 &&
			EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
			EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) > 0 &&
			EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0);
	CU_ASSERT_FATAL(EVP_PKEY_decrypt(c, buf, &n, ek, sizeof(ek)) == 1);
	CU_ASSERT_EQUAL_FATAL(n, 32);
	memcpy(cek, buf, 32);
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(c);
}

/*
 * Each JWE gets its own CEK from the CSPRNG and its own IV: the recovered
 * CEKs are not all zero (nor any other constant) and differ, and so do
 * the IVs, over several calls.
 */
static void
test_randomized(void)
{
	static const uint8_t zero[32];
	uint8_t cek[4][32], iv[4][12];
	char *j[4];
	size_t i, k;

	keys_init();
	for (i = 0; i < 4; i++) {
		j[i] = encrypt_for(rsa_key, "RSA-OAEP-256", msg, sizeof(msg), 0,
				   KBS_OK);
		CU_ASSERT_PTR_NOT_NULL_FATAL(j[i]);
		cek_of(rsa_key, j[i], cek[i]);
		CU_ASSERT_FATAL(member_bytes(j[i], "iv", iv[i], sizeof(iv[i])));
		CU_ASSERT(memcmp(cek[i], zero, sizeof(zero)) != 0);
		CU_ASSERT_EQUAL(decrypt_is(rsa_key, j[i], msg, sizeof(msg)), KBS_OK);
	}
	for (i = 0; i < 4; i++)
		for (k = i + 1; k < 4; k++) {
			CU_ASSERT(memcmp(cek[i], cek[k], sizeof(cek[i])) != 0);
			CU_ASSERT(memcmp(iv[i], iv[k], sizeof(iv[i])) != 0);
			CU_ASSERT(strcmp(j[i], j[k]) != 0);
		}
	OPENSSL_cleanse(cek, sizeof(cek));
	for (i = 0; i < 4; i++)
		free(j[i]);
}

static void
test_tamper(void)
{
	EVP_PKEY *keys[] = {rsa_key, p256, p521};
	const char *algs[] = {"RSA-OAEP-256", "ECDH-ES+A256KW", "ECDH-ES+A256KW"};
	const char *members[] = {"encrypted_key", "iv", "ciphertext", "tag"};
	size_t i, m;

	keys_init();
	keys[0] = rsa_key, keys[1] = p256, keys[2] = p521;
	for (i = 0; i < 3; i++) {
		char *j = encrypt_for(keys[i], algs[i], msg, sizeof(msg), 0,
				      KBS_OK), *t, *h, *hdr;

		for (m = 0; m < 4; m++) {
			t = with_flipped(j, members[m], 0);
			CU_ASSERT_EQUAL(decrypt_is(keys[i], t, msg, sizeof(msg)),
					KBS_ERR_VERIFY);
			free(t);
			t = with_flipped(j, members[m], member_len(j, members[m]) - 1);
			CU_ASSERT_EQUAL(decrypt_is(keys[i], t, msg, sizeof(msg)),
					KBS_ERR_VERIFY);
			free(t);
		}
		/* Protected header: same meaning, other bytes -> AAD differs. */
		hdr = protected_text(j);
		h = malloc(strlen(hdr) + 16);
		snprintf(h, strlen(hdr) + 16, "%.*s,\"kid\":\"x\"}",
			 (int)strlen(hdr) - 1, hdr);
		t = with_header(j, h);
		CU_ASSERT_EQUAL(decrypt_is(keys[i], t, msg, sizeof(msg)),
				KBS_ERR_VERIFY);
		free(t);
		free(h);
		free(hdr);
		/* Re-encoded with padding: strict base64url refuses it. */
		t = with_member(j, "iv", "AAAAAAAAAAAAAAAA=");
		CU_ASSERT_EQUAL(decrypt_is(keys[i], t, msg, sizeof(msg)),
				KBS_ERR_INVALID);
		free(t);
		free(j);
	}
}

/* Different epk: a valid point (another key) or a point off the curve. */
static void
test_epk_checks(void)
{
	char *j, *h, *t, *other, *oh;
	json_t *hj, *ohj;

	keys_init();
	j = encrypt_for(p256, "ECDH-ES+A256KW", msg, sizeof(msg), 0, KBS_OK);
	other = encrypt_for(p256, "ECDH-ES+A256KW", msg, sizeof(msg), 0, KBS_OK);
	h = protected_text(j);
	oh = protected_text(other);
	hj = kbs_json_parse_object(h, strlen(h), 4, NULL);
	ohj = kbs_json_parse_object(oh, strlen(oh), 4, NULL);
	/* y of another point: almost surely not on the curve. */
	json_object_set(json_object_get(hj, "epk"), "y",
			json_object_get(json_object_get(ohj, "epk"), "y"));
	free(h);
	h = kbs_json_dumps(hj);
	t = with_header(j, h);
	CU_ASSERT_EQUAL(decrypt_is(p256, t, msg, sizeof(msg)), KBS_ERR_INVALID);
	free(t);
	free(h);
	/* Curve name that does not match the key. */
	json_object_set_new(json_object_get(hj, "epk"), "crv",
			    json_string("P-384"));
	h = kbs_json_dumps(hj);
	t = with_header(j, h);
	CU_ASSERT_EQUAL(decrypt_is(p256, t, msg, sizeof(msg)), KBS_ERR_INVALID);
	free(t);
	free(h);
	/* No epk at all. */
	json_object_del(hj, "epk");
	h = kbs_json_dumps(hj);
	t = with_header(j, h);
	CU_ASSERT_EQUAL(decrypt_is(p256, t, msg, sizeof(msg)), KBS_ERR_INVALID);
	free(t);
	free(h);
	/* A P-256 JWE for a P-384 key. */
	CU_ASSERT_EQUAL(decrypt_is(p384, j, msg, sizeof(msg)), KBS_ERR_INVALID);
	json_decref(hj);
	json_decref(ohj);
	free(oh);
	free(other);
	free(j);
}

static void
test_header_refusals(void)
{
	static const struct {
		const char *hdr;
		kbs_err want;
	} t[] = {
		{"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A128GCM\"}", KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256CBC-HS512\"}",
		 KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}", KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"none\",\"enc\":\"A256GCM\"}", KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"ECDH-ES\",\"enc\":\"A256GCM\"}", KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"zip\":\"DEF\"}",
		 KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"crit\":[\"x\"]}",
		 KBS_ERR_UNSUPPORTED},
		{"{\"alg\":\"RSA-OAEP-256\"}", KBS_ERR_INVALID},
		{"{\"enc\":\"A256GCM\"}", KBS_ERR_INVALID},
		{"{\"alg\":1,\"enc\":\"A256GCM\"}", KBS_ERR_INVALID},
		{"{\"alg\":\"RSA-OAEP-256\",\"alg\":\"RSA1_5\",\"enc\":\"A256GCM\"}",
		 KBS_ERR_INVALID},
		{"[\"alg\"]", KBS_ERR_INVALID},
		{"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"", KBS_ERR_INVALID},
		{"{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\"}",
		 KBS_ERR_UNSUPPORTED}, /* EC alg, RSA key */
	};
	char *j, *x;
	size_t i;

	keys_init();
	j = encrypt_for(rsa_key, "RSA-OAEP-256", msg, sizeof(msg), 0, KBS_OK);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		kbs_err rc;

		x = with_header(j, t[i].hdr);
		rc = decrypt_is(rsa_key, x, msg, sizeof(msg));
		if (rc != t[i].want)
			fprintf(stderr, "header %s: %s\n", t[i].hdr,
				kbs_strerror(rc));
		CU_ASSERT_EQUAL(rc, t[i].want);
		free(x);
	}
	free(j);
}

static void
test_member_refusals(void)
{
	char *j, *x;
	uint8_t *pt = NULL;
	size_t len = 0;

	keys_init();
	j = encrypt_for(rsa_key, "RSA-OAEP-256", msg, sizeof(msg), 0, KBS_OK);
	/* Extra members of the general/flattened syntax are not accepted. */
	x = with_member(j, "aad", "AAAA");
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, x, msg, sizeof(msg)),
			KBS_ERR_UNSUPPORTED);
	free(x);
	x = with_member(j, "unprotected", "x");
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, x, msg, sizeof(msg)),
			KBS_ERR_UNSUPPORTED);
	free(x);
	x = with_member(j, "tag", NULL);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, x, msg, sizeof(msg)), KBS_ERR_INVALID);
	free(x);
	x = with_member(j, "iv", "AAAAAAAAAAAAAAAAAAAA"); /* 15 bytes */
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, x, msg, sizeof(msg)),
			KBS_ERR_TOO_LARGE);
	free(x);
	x = with_member(j, "iv", "AAAAAAAA"); /* 6 bytes */
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, x, msg, sizeof(msg)), KBS_ERR_INVALID);
	free(x);
	x = with_member(j, "tag", "AAAAAAAAAAAAAAAAAAAA"); /* 15 bytes */
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, x, msg, sizeof(msg)), KBS_ERR_INVALID);
	free(x);
	x = with_member(j, "ciphertext", "a+b/");
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, x, msg, sizeof(msg)), KBS_ERR_INVALID);
	free(x);
	/* Not JSON, truncated, wrong type. */
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, "not json", msg, 1), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_jwe_decrypt(rsa_key, j, strlen(j) - 1, &pt, &len,
					NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, "[]", msg, 1), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, "{\"protected\":1}", msg, 1),
			KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(pt);
	free(j);
}

static void
test_oversized_input(void)
{
	size_t n = KBS_JWE_MAX_PLAINTEXT / 3 * 4 + 70000, i;
	char *big = malloc(n + 1);
	uint8_t *pt = NULL;
	size_t len = 0;

	keys_init();
	CU_ASSERT_FATAL(big != NULL);
	memcpy(big, "{\"ciphertext\":\"", 15);
	for (i = 15; i < n - 2; i++)
		big[i] = 'A';
	memcpy(big + n - 2, "\"}", 3);
	CU_ASSERT_EQUAL(kbs_jwe_decrypt(rsa_key, big, n, &pt, &len, NULL),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NULL(pt);
	free(big);
}

static void
test_rsa1_5_policy(void)
{
	char *j, *t, *out = NULL;
	uint8_t *pt = NULL;
	size_t len = 0;

	keys_init();
	/* Refused unless allowed. */
	t = encrypt_for(rsa_key, "RSA1_5", msg, sizeof(msg), 0,
			KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(t);
	j = encrypt_for(rsa_key, "RSA1_5", msg, sizeof(msg), 1, KBS_OK);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, j, msg, sizeof(msg)), KBS_OK);
	/* A client that pinned RSA-OAEP-256 does not run RSA1_5. */
	CU_ASSERT_EQUAL(kbs_jwe_decrypt_alg(rsa_key, "RSA-OAEP-256", j,
					    strlen(j), &pt, &len, NULL),
			KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(kbs_jwe_decrypt_alg(rsa_key, "RSA1_5", j, strlen(j),
					    &pt, &len, NULL), KBS_OK);
	kbs_freezero(pt, len);
	pt = NULL;
	/* Bad padding is indistinguishable from a bad tag (RFC 7516 11.5). */
	t = with_flipped(j, "encrypted_key", 0);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, t, msg, sizeof(msg)), KBS_ERR_VERIFY);
	free(t);
	t = with_member(j, "encrypted_key", "AAAA");
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, t, msg, sizeof(msg)), KBS_ERR_VERIFY);
	free(t);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key2, j, msg, sizeof(msg)), KBS_ERR_VERIFY);
	free(j);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(rsa_key, "RSA1_5", msg, sizeof(msg),
					     0, &out, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(out);
}

static void
test_wrong_key_and_alg_mismatch(void)
{
	char *j, *out = NULL;
	kbs_jwk *jwk = NULL;
	EVP_PKEY *small;

	keys_init();
	j = encrypt_for(rsa_key, "RSA-OAEP-256", msg, sizeof(msg), 0, KBS_OK);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key2, j, msg, sizeof(msg)), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(decrypt_is(p256, j, msg, sizeof(msg)),
			KBS_ERR_UNSUPPORTED);
	free(j);
	j = encrypt_for(p256, "ECDH-ES+A256KW", msg, sizeof(msg), 0, KBS_OK);
	CU_ASSERT_EQUAL(decrypt_is(p256b, j, msg, sizeof(msg)), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(decrypt_is(rsa_key, j, msg, sizeof(msg)),
			KBS_ERR_UNSUPPORTED);
	free(j);
	/* Key type and alg must agree on encryption too. */
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(p256, "RSA-OAEP-256", msg, 3, 0,
					     &out, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(rsa_key, "ECDH-ES+A256KW", msg, 3, 0,
					     &out, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(rsa_key, "RSA-OAEP", msg, 3, 0,
					     &out, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(rsa_key, NULL, msg, 3, 0, &out,
					     NULL), KBS_ERR_UNSUPPORTED);
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(small, "RSA-OAEP-256", msg, 3, 0,
					     &out, NULL), KBS_ERR_UNSUPPORTED);
	EVP_PKEY_free(small);
	small = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	CU_ASSERT_EQUAL(kbs_jwe_encrypt_pkey(small, "ECDH-ES+A256KW", msg, 3, 0,
					     &out, NULL), KBS_ERR_UNSUPPORTED);
	EVP_PKEY_free(small);
	/* A JWK without "alg" says nothing about how to encrypt. */
	CU_ASSERT_EQUAL_FATAL(kbs_jwk_from_pkey(p256, NULL, NULL, &jwk, NULL),
			      KBS_OK);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt(jwk, msg, 3, 0, &out, NULL),
			KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(kbs_jwe_encrypt(NULL, msg, 3, 0, &out, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(out);
	kbs_jwk_free(jwk);
}

/* RFC 7518 appendix C: ECDH-ES, A128GCM, PartyU "Alice", PartyV "Bob". */
static void
test_concat_kdf_rfc7518(void)
{
	static const uint8_t z[32] = {
		158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132,
		38, 156, 251, 49, 110, 163, 218, 128, 106, 72, 246, 218, 167, 121,
		140, 254, 144, 196};
	uint8_t out[16];
	char *b;

	CU_ASSERT_EQUAL(kbs_jwe_concat_kdf(z, sizeof(z), "A128GCM",
					   (const uint8_t *)"Alice", 5,
					   (const uint8_t *)"Bob", 3, out,
					   sizeof(out)), KBS_OK);
	b = kbs_b64_encode(out, sizeof(out), KBS_B64_URL);
	CU_ASSERT_STRING_EQUAL(b, "VqqN6vgjbSBcIijNcacQGg");
	free(b);
	CU_ASSERT_EQUAL(kbs_jwe_concat_kdf(z, sizeof(z), "x", NULL, 0, NULL, 0,
					   out, 2000), KBS_ERR_INVALID);
}

/* Multi-round output checked against python cryptography's ConcatKDFHash. */
static void
test_concat_kdf_multiround(void)
{
	uint8_t z[66], out[80];
	char *b, cmd[1024], line[256];
	FILE *f;
	size_t i;

	for (i = 0; i < sizeof(z); i++)
		z[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(kbs_jwe_concat_kdf(z, sizeof(z), "ECDH-ES+A256KW", NULL,
					   0, NULL, 0, out, sizeof(out)), KBS_OK);
	b = kbs_b64_encode(out, sizeof(out), KBS_B64_URL);
	snprintf(cmd, sizeof(cmd), PY " -c '"
		 "from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash\n"
		 "from cryptography.hazmat.primitives import hashes\n"
		 "import base64, struct\n"
		 "a=b\"ECDH-ES+A256KW\"\n"
		 "oi=struct.pack(\">I\",len(a))+a+struct.pack(\">III\",0,0,640)\n"
		 "k=ConcatKDFHash(hashes.SHA256(),80,oi).derive(bytes(range(66)))\n"
		 "print(base64.urlsafe_b64encode(k).decode().rstrip(\"=\"))'");
	f = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), f));
	CU_ASSERT_EQUAL(pclose(f), 0);
	line[strcspn(line, "\n")] = '\0';
	CU_ASSERT_STRING_EQUAL(b, line);
	free(b);
}

static void
test_known_answer_jwcrypto(void)
{
	static const struct {
		const char *pem, *jwe, *pt;
	} t[] = {
		{kat_p256_pem, kat_p256_jwe, "known answer: kbs-c vault p256"},
		{kat_p521_pem, kat_p521_jwe, "known answer: kbs-c vault p521"},
		{kat_rsa_pem, kat_rsa_jwe, "known answer: kbs-c vault rsa"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		EVP_PKEY *k = pem_key(t[i].pem);
		char *x;

		CU_ASSERT_EQUAL(decrypt_is(k, t[i].jwe, (const uint8_t *)t[i].pt,
					   strlen(t[i].pt)), KBS_OK);
		x = with_flipped(t[i].jwe, "ciphertext", 3);
		CU_ASSERT_EQUAL(decrypt_is(k, x, (const uint8_t *)t[i].pt,
					   strlen(t[i].pt)), KBS_ERR_VERIFY);
		free(x);
		EVP_PKEY_free(k);
	}
}

/* ---- live interop with jwcrypto ---- */

static const char py_decrypt[] =
	"import sys\n"
	"from jwcrypto import jwk, jwe\n"
	"k = jwk.JWK.from_pem(open(sys.argv[1], 'rb').read())\n"
	"t = jwe.JWE()\n"
	"t.allowed_algs = ['RSA-OAEP-256', 'RSA1_5', 'ECDH-ES+A256KW', 'A256GCM']\n"
	"t.deserialize(open(sys.argv[2]).read(), k)\n"
	"sys.stdout.buffer.write(t.payload)\n";

/* Encrypt argv[3] for the public key, print trustee-shaped flattened JSON. */
static const char py_encrypt[] =
	"import sys, json\n"
	"from jwcrypto import jwk, jwe\n"
	"k = jwk.JWK.from_pem(open(sys.argv[1], 'rb').read())\n"
	"e = jwe.JWE(open(sys.argv[3], 'rb').read(),\n"
	"            protected=json.dumps({'alg': sys.argv[2], 'enc': 'A256GCM'}))\n"
	"e.allowed_algs = ['RSA-OAEP-256', 'RSA1_5', 'ECDH-ES+A256KW', 'A256GCM']\n"
	"e.add_recipient(k)\n"
	"p = e.serialize(compact=True).split('.')\n"
	"print(json.dumps(dict(zip(['protected', 'encrypted_key', 'iv',\n"
	"                           'ciphertext', 'tag'], p))))\n";

static void
write_key(const char *name, EVP_PKEY *k, int priv)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", kbs_unit_tmpdir(), name);
	f = fopen(p, "wb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	if (priv) {
		CU_ASSERT(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
	} else {
		CU_ASSERT(PEM_write_PUBKEY(f, k) == 1);
	}
	fclose(f);
}

/* Run a python script from the temp directory; its stdout (malloc'd) or
 * NULL. */
static char *
run_py(const char *script, const char *args, size_t *outlen)
{
	char cmd[512];
	char *buf = malloc(65536);
	size_t n = 0, r;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cd %s && " PY " %s %s", kbs_unit_tmpdir(),
		 script, args);
	f = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while ((r = fread(buf + n, 1, 65535 - n, f)) > 0)
		n += r;
	buf[n] = '\0';
	if (pclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*outlen = n;
	return buf;
}

static void
test_interop_jwcrypto(void)
{
	static const struct {
		EVP_PKEY **k;
		const char *alg;
	} t[] = {
		{&rsa_key, "RSA-OAEP-256"}, {&rsa_key, "RSA1_5"},
		{&p256, "ECDH-ES+A256KW"}, {&p384, "ECDH-ES+A256KW"},
		{&p521, "ECDH-ES+A256KW"},
	};
	size_t i, n;

	keys_init();
	kbs_unit_tmpfile("dec.py", py_decrypt, strlen(py_decrypt), 0600);
	kbs_unit_tmpfile("enc.py", py_encrypt, strlen(py_encrypt), 0600);
	kbs_unit_tmpfile("pt.bin", msg, sizeof(msg), 0600);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *j = encrypt_for(*t[i].k, t[i].alg, msg, sizeof(msg), 1,
				      KBS_OK), *out, args[64];

		/* C encrypts, jwcrypto decrypts. */
		write_key("priv.pem", *t[i].k, 1);
		write_key("pub.pem", *t[i].k, 0);
		kbs_unit_tmpfile("c.jwe", j, strlen(j), 0600);
		out = run_py("dec.py", "priv.pem c.jwe", &n);
		CU_ASSERT_PTR_NOT_NULL(out);
		if (out != NULL)
			CU_ASSERT(n == sizeof(msg) && memcmp(out, msg, n) == 0);
		if (out == NULL)
			fprintf(stderr, "jwcrypto could not decrypt %s\n", t[i].alg);
		free(out);
		free(j);
		/* jwcrypto encrypts, C decrypts. */
		snprintf(args, sizeof(args), "pub.pem %s pt.bin", t[i].alg);
		out = run_py("enc.py", args, &n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_EQUAL(decrypt_is(*t[i].k, out, msg, sizeof(msg)), KBS_OK);
		free(out);
	}
}

/* jwcrypto's own flattened form carries epk in "header": refused. */
static void
test_unprotected_header_refused(void)
{
	static const char py[] =
		"import sys, json\n"
		"from jwcrypto import jwk, jwe\n"
		"k = jwk.JWK.from_pem(open('pub.pem', 'rb').read())\n"
		"e = jwe.JWE(b'x', protected=json.dumps({'alg': 'ECDH-ES+A256KW',"
		" 'enc': 'A256GCM'}))\n"
		"e.add_recipient(k)\n"
		"print(e.serialize())\n";
	char *out;
	size_t n;

	keys_init();
	write_key("pub.pem", p256, 0);
	kbs_unit_tmpfile("flat.py", py, strlen(py), 0600);
	out = run_py("flat.py", "", &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT(strstr(out, "\"header\"") != NULL);
	CU_ASSERT_EQUAL(decrypt_is(p256, out, (const uint8_t *)"x", 1),
			KBS_ERR_UNSUPPORTED);
	free(out);
}

static void
test_cleanup(void)
{
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(rsa_key2);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p256b);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	rsa_key = NULL;
	CU_PASS("keys freed");
}

static const kbs_unit_test tests[] = {
	{"round trip all algs and curves, output shape", test_roundtrip_all},
	{"empty and maximal plaintext", test_sizes},
	{"fresh CEK and IV", test_randomized},
	{"tampered members refused", test_tamper},
	{"epk checks", test_epk_checks},
	{"protected header refusals", test_header_refusals},
	{"member refusals", test_member_refusals},
	{"oversized input", test_oversized_input},
	{"RSA1_5 only when allowed, 11.5 defence", test_rsa1_5_policy},
	{"wrong key, alg/key mismatch", test_wrong_key_and_alg_mismatch},
	{"Concat KDF RFC 7518 appendix C", test_concat_kdf_rfc7518},
	{"Concat KDF multi-round vs cryptography", test_concat_kdf_multiround},
	{"known-answer decrypt of jwcrypto JWEs", test_known_answer_jwcrypto},
	{"live interop with jwcrypto", test_interop_jwcrypto},
	{"unprotected header refused", test_unprotected_header_refused},
	{"free keys", test_cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("jwe", tests)
