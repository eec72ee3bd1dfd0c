/*
 * intel_wrap.c - Intel KBS key release, byte for byte (spec/intel-kbs.md
 * section 4): wrapped_key = AES-256-GCM under a fresh SWK behind a
 * little-endian length header, wrapped_swk = RSA-OAEP-SHA256 of the SWK
 * to the workload key that ITA vouched for in attester_held_data.  The
 * broker wraps, kbs-client unwraps; both use this one codec.
 * Pure: no I/O, no globals; the only state is OpenSSL's RNG.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "aead.h"
#include "b64.h"
#include "intel_wrap.h"
#include "mem.h"
#include "rand.h"

kbs_intel_tee
kbs_intel_tee_parse(const char *s)
{
	if (s != NULL && strcmp(s, "SGX") == 0)
		return KBS_INTEL_SGX;
	if (s != NULL && strcmp(s, "TDX") == 0)
		return KBS_INTEL_TDX;
	return 0;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* EVP_PKEY from n and e; NULL on failure. */
static EVP_PKEY *
rsa_from_bn(const BIGNUM *n, const BIGNUM *e)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;

	if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

/* The key-size rule for any workload key, however it arrived. */
static kbs_err
check_rsa(EVP_PKEY *pk, kbs_errbuf *eb)
{
	int bits;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		return kbs_errf(eb, KBS_ERR_INVALID, "workload key is not RSA");
	bits = EVP_PKEY_get_bits(pk);
	if (bits <= KBS_INTEL_MIN_BITS)
		return kbs_errf(eb, KBS_ERR_INVALID, "workload key modulus has "
				"%d bits; more than %d are required", bits,
				KBS_INTEL_MIN_BITS);
	if (bits > KBS_INTEL_MAX_MODULUS * 8)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "workload key modulus has "
				"%d bits, more than %d", bits,
				KBS_INTEL_MAX_MODULUS * 8);
	return KBS_OK;
}

static kbs_err
held_pem(const uint8_t *held, size_t len, EVP_PKEY **out, kbs_errbuf *eb)
{
	BIO *bio = BIO_new_mem_buf(held, (int)len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	kbs_err rc;

	BIO_free(bio);
	if (pk == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "held data: PEM public key "
				"does not parse");
	if ((rc = check_rsa(pk, eb)) != KBS_OK) {
		EVP_PKEY_free(pk);
		return rc;
	}
	*out = pk;
	return KBS_OK;
}

kbs_err
kbs_intel_held_pubkey(const uint8_t *held, size_t len, kbs_intel_tee tee,
		      EVP_PKEY **out, kbs_errbuf *eb)
{
	static const char pem[] = "-----BEGIN PUBLIC KEY-----";
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pk = NULL;
	uint32_t ev;
	kbs_err rc = KBS_ERR_INVALID;

	if (len >= sizeof(pem) - 1 && memcmp(held, pem, sizeof(pem) - 1) == 0)
		return len > 4096 ? kbs_errf(eb, KBS_ERR_TOO_LARGE, "held data "
					     "PEM too large")
				  : held_pem(held, len, out, eb);
	if (tee != KBS_INTEL_SGX && tee != KBS_INTEL_TDX)
		return kbs_errf(eb, KBS_ERR_INVALID, "unknown TEE type");
	if (len > KBS_INTEL_MAX_HELD)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "held data of %zu bytes "
				"is not a workload key", len);
	if (len <= 4 + KBS_INTEL_MIN_BITS / 8)
		return kbs_errf(eb, KBS_ERR_INVALID, "held data of %zu bytes: "
				"modulus of more than %d bits required", len,
				KBS_INTEL_MIN_BITS);
	ev = get_le32(held);
	if (ev < 3 || (ev & 1) == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "held data: bad RSA "
				"exponent %u", (unsigned)ev);
	e = BN_new();
	n = tee == KBS_INTEL_SGX ? BN_lebin2bn(held + 4, (int)(len - 4), NULL)
				 : BN_bin2bn(held + 4, (int)(len - 4), NULL);
	if (e == NULL || n == NULL || !BN_set_word(e, ev)) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!BN_is_odd(n)) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "held data: even modulus "
			      "(wrong byte order for %s?)",
			      tee == KBS_INTEL_SGX ? "SGX" : "TDX");
		goto out;
	}
	if ((pk = rsa_from_bn(n, e)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "held data: not an RSA key");
		goto out;
	}
	if ((rc = check_rsa(pk, eb)) != KBS_OK)
		goto out;
	*out = pk;
	pk = NULL;
out:
	EVP_PKEY_free(pk);
	BN_free(n);
	BN_free(e);
	return rc;
}

kbs_err
kbs_intel_held_encode(EVP_PKEY *pub, kbs_intel_tee tee, uint8_t **out,
		      size_t *len, kbs_errbuf *eb)
{
	BIGNUM *n = NULL, *e = NULL;
	uint8_t *buf = NULL;
	int nlen;
	kbs_err rc = KBS_ERR_INVALID;

	if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    BN_num_bits(e) > 32) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "not an RSA key with a "
			      "32-bit exponent");
		goto out;
	}
	nlen = BN_num_bytes(n);
	if (nlen > KBS_INTEL_MAX_MODULUS || (buf = malloc(4 + (size_t)nlen)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_TOO_LARGE, "modulus too large");
		goto out;
	}
	put_le32(buf, (uint32_t)BN_get_word(e));
	if ((tee == KBS_INTEL_SGX ? BN_bn2lebinpad(n, buf + 4, nlen)
				  : BN_bn2binpad(n, buf + 4, nlen)) != nlen) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "modulus encoding failed");
		goto out;
	}
	*out = buf;
	*len = 4 + (size_t)nlen;
	buf = NULL;
	rc = KBS_OK;
out:
	free(buf);
	BN_free(n);
	BN_free(e);
	return rc;
}

kbs_err
kbs_intel_seal(const uint8_t swk[KBS_INTEL_SWK_LEN],
	       const uint8_t iv[KBS_INTEL_IV_LEN], const uint8_t *secret,
	       size_t len, uint8_t **out, size_t *out_len, kbs_errbuf *eb)
{
	size_t total = KBS_INTEL_HDR_LEN + KBS_INTEL_IV_LEN + len + KBS_INTEL_TAG_LEN;
	uint8_t *buf = NULL, *ct;
	kbs_err rc = KBS_ERR_CRYPTO;

	if (len > KBS_INTEL_MAX_SECRET)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "secret too large");
	if ((buf = malloc(total)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	put_le32(buf, KBS_INTEL_IV_LEN);
	put_le32(buf + 4, KBS_INTEL_TAG_LEN);
	put_le32(buf + 8, (uint32_t)(len + KBS_INTEL_TAG_LEN));
	memcpy(buf + KBS_INTEL_HDR_LEN, iv, KBS_INTEL_IV_LEN);
	ct = buf + KBS_INTEL_HDR_LEN + KBS_INTEL_IV_LEN;
	if (kbs_aead_aes256gcm_seal(swk, iv, KBS_INTEL_IV_LEN, NULL, 0, secret,
				    len, ct, ct + len) != KBS_OK) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "AES-256-GCM failed");
		goto out;
	}
	*out = buf;
	*out_len = total;
	buf = NULL;
	rc = KBS_OK;
out:
	kbs_freezero(buf, total);
	return rc;
}

kbs_err
kbs_intel_open(const uint8_t swk[KBS_INTEL_SWK_LEN], const uint8_t *wrapped,
	       size_t len, uint8_t **out, size_t *out_len, kbs_errbuf *eb)
{
	const size_t pre = KBS_INTEL_HDR_LEN + KBS_INTEL_IV_LEN;
	uint8_t *pt = NULL;
	size_t ptlen;
	kbs_err rc;

	if (len < pre + KBS_INTEL_TAG_LEN || get_le32(wrapped) != KBS_INTEL_IV_LEN ||
	    get_le32(wrapped + 4) != KBS_INTEL_TAG_LEN ||
	    get_le32(wrapped + 8) != len - pre)
		return kbs_errf(eb, KBS_ERR_INVALID, "wrapped_key header does "
				"not match its length");
	ptlen = len - pre - KBS_INTEL_TAG_LEN;
	if ((pt = malloc(ptlen + 1)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_aead_aes256gcm_open(swk, wrapped + KBS_INTEL_HDR_LEN,
				     KBS_INTEL_IV_LEN, NULL, 0, wrapped + pre,
				     ptlen, wrapped + len - KBS_INTEL_TAG_LEN,
				     pt);
	if (rc != KBS_OK) {
		kbs_errf(eb, rc, rc == KBS_ERR_VERIFY ? "wrapped_key does not "
			 "authenticate under this SWK" : "AES-256-GCM failed");
		goto out;
	}
	*out = pt;
	*out_len = ptlen;
	pt = NULL;
out:
	kbs_freezero(pt, ptlen + 1);
	return rc;
}

/* An RSA-OAEP SHA-256 / MGF1-SHA-256, no label, context for pk. */
static EVP_PKEY_CTX *
oaep_ctx(EVP_PKEY *pk, int enc)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);

	if (ctx == NULL ||
	    (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static kbs_err
oaep_encrypt(EVP_PKEY *pk, const uint8_t *in, size_t len, uint8_t **out,
	     size_t *out_len, kbs_errbuf *eb)
{
	EVP_PKEY_CTX *ctx = oaep_ctx(pk, 1);
	uint8_t *buf = NULL;
	size_t n = 0;
	kbs_err rc = KBS_ERR_CRYPTO;

	if (ctx == NULL || EVP_PKEY_encrypt(ctx, NULL, &n, in, len) <= 0 ||
	    (buf = malloc(n)) == NULL ||
	    EVP_PKEY_encrypt(ctx, buf, &n, in, len) <= 0) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "RSA-OAEP-SHA256 failed");
		goto out;
	}
	*out = buf;
	*out_len = n;
	buf = NULL;
	rc = KBS_OK;
out:
	free(buf);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* The SWK of wrapped_swk bytes: anything but exactly 32 bytes is refused. */
static kbs_err
oaep_decrypt_swk(EVP_PKEY *pk, const uint8_t *in, size_t len,
		 uint8_t swk[KBS_INTEL_SWK_LEN], kbs_errbuf *eb)
{
	EVP_PKEY_CTX *ctx = oaep_ctx(pk, 0);
	int size = EVP_PKEY_get_size(pk);
	uint8_t *buf = NULL;
	size_t n = 0;
	kbs_err rc = KBS_ERR_CRYPTO;

	if (ctx == NULL || size <= 0 || (buf = malloc((size_t)size)) == NULL)
		goto out;
	n = (size_t)size;
	if (EVP_PKEY_decrypt(ctx, buf, &n, in, len) <= 0 ||
	    n != KBS_INTEL_SWK_LEN)
		goto out;
	memcpy(swk, buf, KBS_INTEL_SWK_LEN);
	rc = KBS_OK;
out:
	if (rc != KBS_OK) {
		ERR_clear_error(); /* a bad ciphertext is the caller's news */
		kbs_errf(eb, rc, "wrapped_swk does not decrypt with the "
			 "workload key");
	}
	kbs_freezero(buf, size > 0 ? (size_t)size : 0);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

kbs_err
kbs_intel_wrap(EVP_PKEY *workload, const uint8_t *secret, size_t len,
	       char **wrapped_key, char **wrapped_swk, kbs_errbuf *eb)
{
	uint8_t swk[KBS_INTEL_SWK_LEN], iv[KBS_INTEL_IV_LEN];
	uint8_t *wk = NULL, *ws = NULL;
	size_t wk_len = 0, ws_len = 0;
	char *k64 = NULL, *s64 = NULL;
	kbs_err rc;

	if (RAND_priv_bytes(swk, sizeof(swk)) != 1 ||
	    RAND_bytes(iv, sizeof(iv)) != 1) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
		goto out;
	}
	if ((rc = check_rsa(workload, eb)) != KBS_OK ||
	    (rc = kbs_intel_seal(swk, iv, secret, len, &wk, &wk_len, eb)) != KBS_OK ||
	    (rc = oaep_encrypt(workload, swk, sizeof(swk), &ws, &ws_len, eb)) != KBS_OK)
		goto out;
	k64 = kbs_b64_encode(wk, wk_len, KBS_B64_STD);
	s64 = kbs_b64_encode(ws, ws_len, KBS_B64_STD);
	if (k64 == NULL || s64 == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	*wrapped_key = k64;
	*wrapped_swk = s64;
	k64 = s64 = NULL;
	rc = KBS_OK;
out:
	OPENSSL_cleanse(swk, sizeof(swk));
	free(k64);
	free(s64);
	free(wk);
	free(ws);
	return rc;
}

kbs_err
kbs_intel_unwrap(EVP_PKEY *workload_priv, const char *wrapped_key,
		 const char *wrapped_swk, uint8_t **out, size_t *out_len,
		 kbs_errbuf *eb)
{
	uint8_t swk[KBS_INTEL_SWK_LEN], *wk = NULL, *ws = NULL;
	size_t wk_len = 0, ws_len = 0;
	kbs_err rc = KBS_ERR_INVALID;

	if (workload_priv == NULL || wrapped_key == NULL || wrapped_swk == NULL) {
		rc = kbs_errf(eb, rc, "no workload key, wrapped_key or "
			      "wrapped_swk");
		goto out;
	}
	if (kbs_b64_decode(wrapped_swk, strlen(wrapped_swk), KBS_B64_STD, &ws,
			   &ws_len) != KBS_OK ||
	    kbs_b64_decode(wrapped_key, strlen(wrapped_key), KBS_B64_STD, &wk,
			   &wk_len) != KBS_OK) {
		rc = kbs_errf(eb, rc, "wrapped_key or wrapped_swk is not "
			      "base64");
		goto out;
	}
	if ((rc = oaep_decrypt_swk(workload_priv, ws, ws_len, swk, eb)) == KBS_OK)
		rc = kbs_intel_open(swk, wk, wk_len, out, out_len, eb);
out:
	OPENSSL_cleanse(swk, sizeof(swk));
	free(wk); /* ciphertext */
	free(ws);
	return rc;
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

int
kbs_intel_uuid_ok(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex(s[i])) {
			return 0;
		}
	}
	return s[14] == '4' && strchr("89abAB", s[19]) != NULL;
}

kbs_err
kbs_intel_uuid_new(char buf[37], kbs_errbuf *eb)
{
	if (kbs_rand_uuid4(buf) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
	return KBS_OK;
}
