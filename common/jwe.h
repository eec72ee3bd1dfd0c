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

#endif
