/*
 * jwk.h - JSON Web Keys (RFC 7517/7518), RFC 7638 thumbprints, and the
 * strict tee-pubkey form of the KBS protocol.
 *
 * A kbs_jwk is an immutable public key (OpenSSL EVP_PKEY) plus the JWK
 * metadata that matters for verification: alg and kid.  Supported: RSA
 * (>= 2048 bits), EC P-256/P-384/P-521, OKP Ed25519.  An EC key's point
 * is on its curve (checked when the key is built; the curves have
 * cofactor 1), so users such as ECDH need not check it again.  Private members in a
 * JWK are rejected by the parser: private keys never travel as JWKs here.
 */
#ifndef KBS_JWK_H
#define KBS_JWK_H

#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"

typedef struct kbs_jwk kbs_jwk;

/*
 * Parse a public JWK object.  Checks kty/crv, that EC points are on the
 * curve, coordinate lengths, and RSA size (>= 2048 bits).  "alg" and
 * "kid" are kept when present and must be strings.  On success *out is a
 * new key the caller releases with kbs_jwk_free().
 */
kbs_err kbs_jwk_from_json(const json_t *j, kbs_jwk **out, kbs_errbuf *eb);

/*
 * Wrap an existing key (public part only is ever used or emitted).  Takes
 * its own reference to pkey.  alg and kid may be NULL.
 */
kbs_err kbs_jwk_from_pkey(EVP_PKEY *pkey, const char *alg, const char *kid,
			  kbs_jwk **out, kbs_errbuf *eb);

/* Read a PEM public key (SPKI) or certificate from memory. */
kbs_err kbs_jwk_from_pem(const char *pem, size_t len, const char *alg,
			 kbs_jwk **out, kbs_errbuf *eb);

/*
 * Public JWK object: the RFC 7638 required members for the kty, then alg
 * and kid when set.  New reference; NULL on allocation failure.
 */
json_t *kbs_jwk_to_json(const kbs_jwk *k);

/* RFC 7638 SHA-256 thumbprint, base64url.  Caller frees *out. */
kbs_err kbs_jwk_thumbprint(const kbs_jwk *k, char **out);

/*
 * A key holding only the domain parameters of an EC curve, by OpenSSL
 * group name ("prime256v1", "secp384r1", "secp521r1") or JOSE name
 * ("P-256", ...); made once, borrowed, shared by all threads (read only).
 * Keys duplicated from it (EVP_PKEY_dup) or generated with it as the
 * template (EVP_PKEY_CTX_new_from_pkey + EVP_PKEY_keygen) copy its group
 * instead of building one from the curve name each time.  NULL for other
 * curves.
 */
EVP_PKEY *kbs_jwk_ec_params(const char *group);

/* Borrowed accessors; the strings may be NULL. */
EVP_PKEY *kbs_jwk_pkey(const kbs_jwk *k);
const char *kbs_jwk_alg(const kbs_jwk *k);
const char *kbs_jwk_kid(const kbs_jwk *k);
/* "RSA", "EC" or "OKP". */
const char *kbs_jwk_kty(const kbs_jwk *k);
/* "P-256", "P-384", "P-521", "Ed25519", or NULL for RSA. */
const char *kbs_jwk_crv(const kbs_jwk *k);

/* Compare public keys; 1 if equal. */
int kbs_jwk_equal(const kbs_jwk *a, const kbs_jwk *b);

/*
 * Another reference to k (immutable, so it may be shared between threads:
 * the verified-token cache keeps a TEE key for reuse); returns k.  Each
 * reference is released with kbs_jwk_free().  NULL gives NULL.
 */
kbs_jwk *kbs_jwk_ref(kbs_jwk *k);

/* Release a reference; the last one frees the key.  NULL is a no-op. */
void kbs_jwk_free(kbs_jwk *k);

/*
 * Parse a tee-pubkey as the KBS protocol defines it (kbs-protocol.md 1.3):
 * RSA {kty, alg in RSA-OAEP-256|RSA1_5, n, e} or EC {kty, crv in
 * P-256|P-521, alg ECDH-ES+A256KW, x, y} with 32/66-byte coordinates.  All
 * listed members are required; other members are discarded.  On success
 * *normalized is a new object holding only the listed members with their
 * string values untouched (that is what the evidence binding hashes;
 * normalized may be NULL when not needed) and *key (if key is non-NULL)
 * the parsed key.  Outputs written only on success.
 */
kbs_err kbs_jwk_teekey_parse(const json_t *j, json_t **normalized,
			     kbs_jwk **key, kbs_errbuf *eb);

#endif
