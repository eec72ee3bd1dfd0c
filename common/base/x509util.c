/*
 * x509util.c - bounded DER reading, certificate loading and chain
 * verification with an explicit time, raw ECDSA signature checks.
 */
#include "x509util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "hex.h"
#include "mem.h"

/* Lengths above this are never legitimate in the structures we read. */
#define DER_MAX_LEN (1u << 24)

kbs_err
kbs_der_next(kbs_der *cur, unsigned *tag, kbs_der *val)
{
	const uint8_t *p = cur->p;
	size_t left = cur->len, n, hdr, i, nbytes;

	if (left < 2 || (p[0] & 0x1f) == 0x1f)
		return KBS_ERR_INVALID;
	if (p[1] < 0x80) {
		n = p[1];
		hdr = 2;
	} else {
		nbytes = p[1] & 0x7f;
		/* 0x80 is indefinite (BER only); more than 3 bytes is absurd. */
		if (nbytes == 0 || nbytes > 3 || left < 2 + nbytes || p[2] == 0)
			return KBS_ERR_INVALID;
		for (n = 0, i = 0; i < nbytes; i++)
			n = (n << 8) | p[2 + i];
		if (n < 0x80 || n > DER_MAX_LEN)
			return KBS_ERR_INVALID;
		hdr = 2 + nbytes;
	}
	if (n > left - hdr)
		return KBS_ERR_INVALID;
	*tag = p[0];
	val->p = p + hdr;
	val->len = n;
	cur->p = p + hdr + n;
	cur->len = left - hdr - n;
	return KBS_OK;
}

kbs_err
kbs_der_uint(const kbs_der *v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (v->len == 0 || (v->p[0] & 0x80))
		return KBS_ERR_INVALID;
	/* Minimal encoding: a leading 0x00 only when the next bit is set. */
	if (v->len > 1 && v->p[0] == 0 && !(v->p[1] & 0x80))
		return KBS_ERR_INVALID;
	if (v->len > 9 || (v->len == 9 && v->p[0] != 0))
		return KBS_ERR_INVALID;
	for (i = 0; i < v->len; i++)
		x = (x << 8) | v->p[i];
	if (x > max)
		return KBS_ERR_INVALID;
	*out = x;
	return KBS_OK;
}

kbs_err
kbs_x509_ext(const X509 *c, const uint8_t *oid, size_t oid_len, kbs_der *val)
{
	const ASN1_OCTET_STRING *os;
	X509_EXTENSION *ext;
	const ASN1_OBJECT *obj;
	int i, n = X509_get_ext_count(c), found = -1;

	for (i = 0; i < n; i++) {
		ext = X509_get_ext(c, i);
		obj = X509_EXTENSION_get_object(ext);
		if ((size_t)OBJ_length(obj) != oid_len ||
		    memcmp(OBJ_get0_data(obj), oid, oid_len) != 0)
			continue;
		if (found >= 0)
			return KBS_ERR_INVALID;
		found = i;
	}
	if (found < 0)
		return KBS_ERR_NOT_FOUND;
	os = X509_EXTENSION_get_data(X509_get_ext(c, found));
	val->p = ASN1_STRING_get0_data(os);
	val->len = (size_t)ASN1_STRING_length(os);
	return KBS_OK;
}

static kbs_err
load_der(const uint8_t *buf, size_t len, STACK_OF(X509) *sk, kbs_errbuf *eb)
{
	const unsigned char *p = buf;
	X509 *c = d2i_X509(NULL, &p, (long)len);

	if (c == NULL || (size_t)(p - buf) != len) {
		X509_free(c);
		ERR_clear_error(); /* as load_pem: leave no stale d2i errors */
		return kbs_errf(eb, KBS_ERR_INVALID,
				"certificate: malformed DER");
	}
	if (!sk_X509_push(sk, c)) {
		X509_free(c);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	return KBS_OK;
}

static kbs_err
load_pem(const uint8_t *buf, size_t len, STACK_OF(X509) *sk, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_INVALID;
	unsigned long e;
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	X509 *c;

	if (bio == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	ERR_clear_error();
	while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= KBS_X509_MAX_CERTS || !sk_X509_push(sk, c)) {
			X509_free(c);
			rc = kbs_errf(eb, KBS_ERR_TOO_LARGE,
				      "certificate bundle: more than %d certificates",
				      KBS_X509_MAX_CERTS);
			goto out;
		}
	}
	/* The loop ends with "no start line" at the end of the data. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "certificate bundle: malformed PEM");
		goto out;
	}
	if (sk_X509_num(sk) == 0) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "certificate bundle: no certificate");
		goto out;
	}
	rc = KBS_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	return rc;
}

kbs_err
kbs_x509_load(const uint8_t *buf, size_t len, STACK_OF(X509) **out,
	      kbs_errbuf *eb)
{
	STACK_OF(X509) *sk = NULL;
	kbs_err rc;

	if (len == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "certificate: empty");
	if (len > KBS_X509_MAX_BUNDLE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "certificate: %zu bytes", len);
	sk = sk_X509_new_null();
	if (sk == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = buf[0] == 0x30 ? load_der(buf, len, sk, eb) : load_pem(buf, len, sk, eb);
	if (rc != KBS_OK) {
		sk_X509_pop_free(sk, X509_free);
		return rc;
	}
	*out = sk;
	return KBS_OK;
}

X509 *
kbs_x509_from_pem(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *c;

	if (bio == NULL)
		return NULL;
	c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return c;
}

const char *
kbs_x509_cn(const X509 *c, char *buf, size_t len)
{
	X509_NAME *name = X509_get_subject_name(c);

	buf[0] = '\0';
	if (name != NULL && len <= INT_MAX &&
	    X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)len) < 0)
		buf[0] = '\0';
	return buf;
}

static kbs_err
chain_error(X509_STORE_CTX *ctx, const char *const names[3], kbs_errbuf *eb)
{
	int err = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	const char *who = depth >= 0 && depth <= 2 ? names[depth] : "certificate";
	kbs_err e = KBS_ERR_VERIFY;

	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
		e = KBS_ERR_EXPIRED;
		break;
	default:
		break;
	}
	return kbs_errf(eb, e, "%s certificate: %s", who,
			X509_verify_cert_error_string(err));
}

static kbs_err
check_built_chain(X509_STORE_CTX *ctx, X509 *intermediate, X509 *anchor,
		  const char *const names[3], kbs_errbuf *eb)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	int n = intermediate != NULL ? 3 : 2;

	if (chain == NULL || sk_X509_num(chain) != n ||
	    (intermediate != NULL && X509_cmp(sk_X509_value(chain, 1), intermediate) != 0) ||
	    X509_cmp(sk_X509_value(chain, n - 1), anchor) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY,
				"%s certificate: not issued via %s to %s",
				names[0], names[1], names[2]);
	return KBS_OK;
}

kbs_err
kbs_x509_verify_chain(X509 *leaf, X509 *intermediate, X509 *anchor,
		      STACK_OF(X509_CRL) *crls, int crl_all, long long now,
		      const char *const names[3], kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_NOMEM;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	unsigned long flags = X509_V_FLAG_CHECK_SS_SIGNATURE;

	if (store == NULL || ctx == NULL || untrusted == NULL ||
	    !X509_STORE_add_cert(store, anchor) ||
	    (intermediate != NULL && !sk_X509_push(untrusted, intermediate)) ||
	    !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
		kbs_errf(eb, rc, "%s certificate: verifier setup failed", names[0]);
		goto out;
	}
	if (crls != NULL) {
		X509_STORE_CTX_set0_crls(ctx, crls);
		flags |= X509_V_FLAG_CRL_CHECK | (crl_all ? X509_V_FLAG_CRL_CHECK_ALL : 0);
	}
	X509_STORE_CTX_set_flags(ctx, flags);
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		rc = chain_error(ctx, names, eb);
		goto out;
	}
	rc = check_built_chain(ctx, intermediate, anchor, names, eb);
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

static kbs_err
raw_sig_to_der(const uint8_t *r, const uint8_t *s, size_t n, int le,
	       unsigned char **der, int *der_len)
{
	BIGNUM *br = le ? BN_lebin2bn(r, (int)n, NULL) : BN_bin2bn(r, (int)n, NULL);
	BIGNUM *bs = le ? BN_lebin2bn(s, (int)n, NULL) : BN_bin2bn(s, (int)n, NULL);
	ECDSA_SIG *sig = ECDSA_SIG_new();
	kbs_err rc = KBS_ERR_CRYPTO;

	if (br == NULL || bs == NULL || sig == NULL || !ECDSA_SIG_set0(sig, br, bs))
		goto out;
	br = bs = NULL; /* owned by sig now */
	*der = NULL;
	*der_len = i2d_ECDSA_SIG(sig, der);
	if (*der_len > 0)
		rc = KBS_OK;
out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	return rc;
}

kbs_err
kbs_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg,
		     size_t msg_len, const uint8_t *r, const uint8_t *s,
		     size_t n, int le, const char *what, kbs_errbuf *eb)
{
	kbs_err rc;
	unsigned char *der = NULL;
	int der_len = 0, ok;
	EVP_MD_CTX *ctx = NULL;

	if (n > 128)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "%s: bad size", what);
	rc = raw_sig_to_der(r, s, n, le, &der, &der_len);
	if (rc != KBS_OK) {
		rc = kbs_errf(eb, rc, "%s: cannot encode signature", what);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "%s: verifier setup failed", what);
		goto out;
	}
	ok = EVP_DigestVerify(ctx, der, (size_t)der_len, msg, msg_len);
	rc = ok == 1 ? KBS_OK
		     : kbs_errf(eb, KBS_ERR_VERIFY, "%s: signature does not verify", what);
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return rc;
}

static int
pubkey_valid(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

kbs_err
kbs_ec_p256_from_xy(const uint8_t xy[64], EVP_PKEY **out, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_VERIFY;
	unsigned char point[65];
	char group[] = "prime256v1";
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pkey = NULL;

	point[0] = 0x04;
	memcpy(point + 1, xy, 64);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
						      sizeof(point));
	params[2] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "EC key setup failed");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    !pubkey_valid(pkey)) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "attestation key: not a P-256 point");
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = KBS_OK;
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int
kbs_pkey_is_ec_group(EVP_PKEY *key, const char *group_sn)
{
	char name[64];
	size_t len = 0;

	if (key == NULL || !EVP_PKEY_is_a(key, "EC"))
		return 0;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name,
					   sizeof(name), &len) != 1)
		return 0;
	return strcmp(name, group_sn) == 0;
}

void
kbs_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

kbs_err
kbs_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	kbs_err rc = KBS_OK;

	/* SHA-256 over memory fails only without memory or with a broken
	 * library; then the all-zero digest names nothing real. */
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1) {
		memset(md, 0, sizeof(md));
		rc = KBS_ERR_CRYPTO;
	}
	kbs_hex_encode(md, sizeof(md), out);
	return rc;
}

kbs_err
kbs_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (hexlen != 2 * n)
		return KBS_ERR_INVALID;
	for (i = 0; i < n; i++) {
		hi = kbs_hexval(hex[2 * i]);
		lo = kbs_hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return KBS_ERR_INVALID;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return KBS_OK;
}
