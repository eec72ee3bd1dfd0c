/*
 * jws.h - JWS compact serialization: parse, verify with a pinned
 * algorithm, sign.
 *
 * Verification never trusts the token to pick the algorithm: the caller
 * chooses the key, and the header "alg" must be on the allow-list, must
 * fit the key's type and curve, and must equal the key's own "alg" when
 * the key has one.  "none" and every HS* are refused outright, so the
 * classic algorithm-confusion attacks (libjwt issues #33 and #200, see
 * shared/notes/dependencies.md) cannot reach a MAC check.
 *
 * Every algorithm (ES256/384/512, RS256/384/512, PS256/384/512, EdDSA)
 * is verified by OpenSSL EVP on the key's parsed EVP_PKEY.
 */
#ifndef KBS_JWS_H
#define KBS_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"
#include "jwk.h"

/* Tokens longer than this are refused before any decoding. */
#define KBS_JWS_MAX_LEN (256 * 1024)

typedef struct kbs_jws kbs_jws;

/*
 * Split and decode a compact JWS (three base64url parts; a trailing
 * newline is tolerated).  Header and payload must be JSON objects within
 * the default depth; the header must carry a string "alg".  Nothing is
 * verified.  On success *out is owned by the caller (kbs_jws_free()).
 */
kbs_err kbs_jws_parse(const char *tok, size_t len, kbs_jws **out,
		      kbs_errbuf *eb);

/* Borrowed views valid until kbs_jws_free(). */
const json_t *kbs_jws_header(const kbs_jws *j);
const json_t *kbs_jws_claims(const kbs_jws *j);
const char *kbs_jws_alg(const kbs_jws *j);
const char *kbs_jws_kid(const kbs_jws *j); /* NULL if absent */

/*
 * Verify the signature of a parsed token with key, applying the rules in
 * the file comment.  Returns KBS_OK, KBS_ERR_UNSUPPORTED (alg refused or
 * not matching the key) or KBS_ERR_VERIFY (bad signature).
 */
kbs_err kbs_jws_verify(const kbs_jws *j, const kbs_jwk *key, kbs_errbuf *eb);

/*
 * A key prepared for many verifications: for every algorithm the key
 * allows (its own "alg", or each that fits its type and curve) the digest
 * and verification context are set up once, so verifying a token costs a
 * context copy and the signature check.  Build one per key when a key set
 * is loaded.  key is borrowed and must outlive the verifier.  On success
 * *out is the caller's (kbs_jws_verifier_free(); NULL is a no-op).
 */
typedef struct kbs_jws_verifier kbs_jws_verifier;

kbs_err kbs_jws_verifier_new(const kbs_jwk *key, kbs_jws_verifier **out,
			     kbs_errbuf *eb);

/* kbs_jws_verify() with the prepared key: the same rules and returns.
 * Thread-safe: one verifier serves concurrent verifications. */
kbs_err kbs_jws_verifier_verify(const kbs_jws_verifier *v, const kbs_jws *j,
				kbs_errbuf *eb);

/* The key v was built from (borrowed). */
const kbs_jwk *kbs_jws_verifier_key(const kbs_jws_verifier *v);

void kbs_jws_verifier_free(kbs_jws_verifier *v);

void kbs_jws_free(kbs_jws *j);

/*
 * Sign claims with priv using alg (ES256, ES384, ES512, RS256, RS384,
 * RS512, EdDSA).  The header is {"alg":..,"typ":"JWT"} followed by the
 * members of extra_header (may be NULL), e.g. kid and jwk.  On success
 * *out is a malloc'd compact token.  Used by signer.c (the issuer's token
 * key) and by kbs-client (admin tokens); nothing else holds a private key.
 */
kbs_err kbs_jws_sign(EVP_PKEY *priv, const char *alg,
		     const json_t *extra_header, const json_t *claims,
		     char **out, kbs_errbuf *eb);

/*
 * The digest alg signs (SHA-256/384/512) of the len bytes of in, into out
 * (*outlen bytes).  KBS_ERR_UNSUPPORTED for EdDSA, which signs no digest.
 */
kbs_err kbs_jws_digest(const char *alg, const uint8_t *in, size_t len,
		       uint8_t out[EVP_MAX_MD_SIZE], size_t *outlen);

/*
 * Signing digests made by kbs_jws_digest with priv using alg, on a
 * context made once: a new EVP_PKEY_CTX per signature, with the key's
 * check and the algorithm's parameters, costs a fifth more than the
 * ES256 signature itself (25 against 21.5 us, tests/bench/crypto_parts.c),
 * which the issuer would pay for every token.  What a key process answers a signing request with: a digest has
 * a fixed size whatever the token's.
 * kbs_jws_signctx_new: KBS_ERR_UNSUPPORTED when priv does not fit alg
 * (EdDSA signs no digest).  The context holds its own reference to priv.
 * kbs_jws_signctx_sign: *sig (malloc'd, *siglen bytes) is the JWS-form
 * signature (R||S for ECDSA), the same kbs_jws_sign makes of the input;
 * KBS_ERR_INVALID for a digest of the wrong length.  Threads may share a
 * context (it signs one digest at a time).
 */
typedef struct kbs_jws_signctx kbs_jws_signctx;
kbs_err kbs_jws_signctx_new(EVP_PKEY *priv, const char *alg,
			    kbs_jws_signctx **out);
kbs_err kbs_jws_signctx_sign(kbs_jws_signctx *c, const uint8_t *dg,
			     size_t dglen, uint8_t **sig, size_t *siglen);
void kbs_jws_signctx_free(kbs_jws_signctx *c);

/* Signs a JWS signing input somewhere else (a key process); as above. */
typedef kbs_err (*kbs_jws_sign_fn)(void *arg, const uint8_t *in, size_t len,
				   uint8_t **sig, size_t *siglen,
				   kbs_errbuf *eb);

/*
 * kbs_jws_sign with the signature made by fn(arg, ...) instead of a key
 * held here; its errors are passed through unchanged.
 */
kbs_err kbs_jws_sign_with(kbs_jws_sign_fn fn, void *arg, const char *alg,
			  const json_t *extra_header, const json_t *claims,
			  char **out, kbs_errbuf *eb);

/*
 * Check the time claims of a verified payload at time now: "exp" must be
 * present when require_exp, and now <= exp + leeway; "nbf" (if present)
 * <= now + leeway; "iat" (if present) <= now + leeway.  Non-integer
 * values are invalid.  Returns KBS_OK, KBS_ERR_EXPIRED or KBS_ERR_INVALID.
 */
kbs_err kbs_jws_check_times(const json_t *claims, long long now,
			    long long leeway, int require_exp,
			    kbs_errbuf *eb);

/* 1 if "aud" (string or array of strings) contains audience. */
int kbs_jws_has_audience(const json_t *claims, const char *audience);

#endif
