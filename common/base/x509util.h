/*
 * x509util.h - small X.509, DER, ECDSA and encoding helpers shared by the
 * SEV-SNP and Intel DCAP verifiers.
 *
 * Everything here is bounded: the DER reader never reads past the cursor
 * it is given, certificate bundles are capped in count and size, and chain
 * verification takes the time to check against from the caller (so tests
 * and air-gapped replays can pin "now").  No network, no global state.
 */
#ifndef KBS_X509UTIL_H
#define KBS_X509UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"

/* Upper bounds for certificate material taken from evidence or files. */
#define KBS_X509_MAX_BUNDLE (256u * 1024u)
#define KBS_X509_MAX_CERTS 8

/* A read cursor over DER bytes (borrowed). */
typedef struct {
	const uint8_t *p;
	size_t len;
} kbs_der;

/* DER universal tags used by the verifiers. */
#define KBS_DER_BOOLEAN 0x01
#define KBS_DER_INTEGER 0x02
#define KBS_DER_OCTET_STRING 0x04
#define KBS_DER_OID 0x06
#define KBS_DER_ENUMERATED 0x0a
#define KBS_DER_SEQUENCE 0x30

/*
 * Read one TLV from *cur: *tag gets the (single-byte) identifier, *val the
 * contents, and *cur advances past it.  Rejects high tag numbers,
 * indefinite and non-minimal lengths, lengths over 2^24 and any length
 * running past the cursor.  Outputs are written only on success.
 */
kbs_err kbs_der_next(kbs_der *cur, unsigned *tag, kbs_der *val);

/*
 * Decode the contents of a DER INTEGER or ENUMERATED as a non-negative
 * value no larger than max (KBS_ERR_INVALID otherwise: negative, empty,
 * non-minimal, or too big).
 */
kbs_err kbs_der_uint(const kbs_der *v, uint64_t max, uint64_t *out);

/*
 * Find the extension whose OID has the DER contents oid[0..oid_len) in c.
 * On success *val is the extnValue OCTET STRING contents (borrowed from c).
 * KBS_ERR_NOT_FOUND if absent, KBS_ERR_INVALID if present twice.
 */
kbs_err kbs_x509_ext(const X509 *c, const uint8_t *oid, size_t oid_len,
		     kbs_der *val);

/*
 * Parse len bytes as one DER certificate or a PEM bundle of at most
 * KBS_X509_MAX_CERTS certificates (trailing NUL bytes and text outside
 * the PEM blocks tolerated, nothing else).  *out is a new stack the
 * caller frees with OSSL_STACK_OF_X509_free / sk_X509_pop_free.
 */
kbs_err kbs_x509_load(const uint8_t *buf, size_t len, STACK_OF(X509) **out,
		      kbs_errbuf *eb);

/* One certificate from a static NUL-terminated PEM string, or NULL. */
X509 *kbs_x509_from_pem(const char *pem);

/* Subject CN of c copied into buf (""-terminated, truncated); returns buf. */
const char *kbs_x509_cn(const X509 *c, char *buf, size_t len);

/*
 * Verify leaf -> intermediate -> anchor at time now (seconds since the
 * epoch).  anchor is the only trusted certificate and its self-signature
 * is checked too.  The built chain must be exactly those three
 * certificates (two when intermediate is NULL: leaf issued by anchor).  crls (may be NULL) enables CRL checking of the leaf and,
 * when crl_all, of the intermediate too.  names[0..2] label leaf,
 * intermediate and anchor in error messages.  Returns KBS_OK,
 * KBS_ERR_EXPIRED (a certificate or CRL outside its validity at now) or
 * KBS_ERR_VERIFY (anything else: signature, issuer, revoked) with eb
 * naming the certificate.
 */
kbs_err kbs_x509_verify_chain(X509 *leaf, X509 *intermediate, X509 *anchor,
			      STACK_OF(X509_CRL) *crls, int crl_all,
			      long long now, const char *const names[3],
			      kbs_errbuf *eb);

/*
 * Verify an ECDSA signature given as raw r and s of n bytes each (big-
 * endian, or little-endian when le is non-zero) over msg with digest md.
 * KBS_ERR_VERIFY when it does not verify, KBS_ERR_CRYPTO on library
 * failure.  what names the signature in eb.
 */
kbs_err kbs_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md,
			     const uint8_t *msg, size_t msg_len,
			     const uint8_t *r, const uint8_t *s, size_t n,
			     int le, const char *what, kbs_errbuf *eb);

/*
 * Build a P-256 public key from a raw 64-byte x||y.  Points not on the
 * curve are rejected (KBS_ERR_VERIFY).  *out is owned by the caller.
 */
kbs_err kbs_ec_p256_from_xy(const uint8_t xy[64], EVP_PKEY **out,
			    kbs_errbuf *eb);

/* Non-zero when key is an EC key on the named group ("P-384", ...). */
int kbs_pkey_is_ec_group(EVP_PKEY *key, const char *group_sn);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void kbs_hex_encode(const uint8_t *in, size_t n, char *out);

/*
 * Lower-case hex SHA-256 of len bytes of data into out (65 bytes).
 * KBS_ERR_CRYPTO when the library fails (EVP_Digest allocates: out of
 * memory); out is then the hex of 32 zero bytes, which names nothing real,
 * for the callers that only label or compare with it.  A caller that keys
 * rows by the digest (kbs/sessions_pg.c) checks the return: under the zero
 * digest every id would name the same row.
 */
kbs_err kbs_sha256_hex(const void *data, size_t len, char out[65]);

/* Hex (either case) of exactly 2n characters into out[n]. */
kbs_err kbs_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);

#endif
