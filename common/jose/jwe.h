/*
 * jwe.h - JWE (RFC 7516) as the KBS protocol uses it: flattened JSON
 * serialization, enc A256GCM, alg RSA-OAEP-256, ECDH-ES+A256KW (P-256,
 * P-384, P-521) or, only when the caller allows it, RSA1_5.
 *
 * Written on OpenSSL EVP because no Debian JOSE library covers these
 * algorithms (shared/notes/dependencies.md, "JWE").  The protected header
 * is emitted compactly with "alg" first and "enc" second, because
 * guest-components re-serializes it in that order to recompute the GCM
 * AAD (shared/spec/kbs-protocol.md section 3, "Trap").
 */
#ifndef KBS_JWE_H
#define KBS_JWE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"
#include "jwk.h"

/* Plaintexts above this are refused (resources are keys, not files). */
#define KBS_JWE_MAX_PLAINTEXT (1024 * 1024)

/*
 * Encrypt pt to the recipient key.  The JWE alg is the recipient JWK's
 * "alg" (RSA-OAEP-256, RSA1_5 or ECDH-ES+A256KW); RSA1_5 is refused with
 * KBS_ERR_UNSUPPORTED unless allow_rsa1_5.  A fresh random CEK and IV per
 * call; the CEK is wiped before return.  On success *out is a malloc'd
 * NUL-terminated flattened JWE JSON object
 * {"protected","encrypted_key","iv","ciphertext","tag"}.
 */
kbs_err kbs_jwe_encrypt(const kbs_jwk *recipient, const uint8_t *pt,
			size_t ptlen, int allow_rsa1_5, char **out,
			kbs_errbuf *eb);

/*
 * Decrypt a flattened JWE (as produced above, or by trustee) with the
 * recipient's private key.  Supports the same algorithms.  On success
 * *pt is a malloc'd buffer of *ptlen bytes that the caller must release
 * with kbs_freezero(*pt, *ptlen).
 */
kbs_err kbs_jwe_decrypt(EVP_PKEY *priv, const char *json, size_t len,
			uint8_t **pt, size_t *ptlen, kbs_errbuf *eb);

/*
 * kbs_jwe_decrypt() that also pins the algorithm: when alg is non-NULL
 * the protected header's "alg" must equal it (KBS_ERR_UNSUPPORTED
 * otherwise).  A client that advertised an RSA-OAEP-256 key should pin
 * it, so that nobody can make it run RSA1_5 on its key.  kbs_jwe_decrypt()
 * accepts every supported alg that fits the key type; RSA1_5 is then
 * decrypted with the RFC 7516 section 11.5 random-CEK defence.
 *
 * Errors: KBS_ERR_INVALID / KBS_ERR_TOO_LARGE for malformed or oversized
 * input (including an "epk" off the curve), KBS_ERR_UNSUPPORTED for an
 * alg, enc, zip, crit or member outside the profile or a key of the wrong
 * type, KBS_ERR_VERIFY for a wrong key or any tampering.  No plaintext is
 * ever returned unless the GCM tag verified.
 */
kbs_err kbs_jwe_decrypt_alg(EVP_PKEY *priv, const char *alg, const char *json,
			    size_t len, uint8_t **pt, size_t *ptlen,
			    kbs_errbuf *eb);

/*
 * kbs_jwe_encrypt() for a bare public key and an explicit alg (what the
 * JWK's "alg" would say).  kbs_jwe_encrypt() is this with the JWK's key
 * and alg.  The key type must fit the alg: RSA >= 2048 bits for
 * RSA-OAEP-256 / RSA1_5, EC P-256, P-384 or P-521 for ECDH-ES+A256KW
 * (KBS_ERR_UNSUPPORTED otherwise).
 */
kbs_err kbs_jwe_encrypt_pkey(EVP_PKEY *pub, const char *alg, const uint8_t *pt,
			     size_t ptlen, int allow_rsa1_5, char **out,
			     kbs_errbuf *eb);

/*
 * Concat KDF of NIST SP 800-56A as RFC 7518 section 4.6.2 uses it, with
 * SHA-256: out = first outlen bytes of the hashes of
 * counter || z || len32(algid) algid || len32(apu) apu || len32(apv) apv
 * || be32(outlen * 8).  Exposed for the known-answer test (RFC 7518
 * appendix C).  KBS_ERR_INVALID for lengths over 1024 bytes.
 */
kbs_err kbs_jwe_concat_kdf(const uint8_t *z, size_t zlen, const char *algid,
			   const uint8_t *apu, size_t apulen,
			   const uint8_t *apv, size_t apvlen, uint8_t *out,
			   size_t outlen);

#endif
