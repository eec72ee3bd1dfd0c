/*
 * aead.h - AES-256-GCM, once, on OpenSSL EVP: the content cipher of JWE
 * (A256GCM), of sealed session cookies (seal.c) and of Intel's
 * wrapped_key (intel_wrap.c).  One-shot calls on caller buffers; no
 * allocation of output, no state.
 */
#ifndef KBS_AEAD_H
#define KBS_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KBS_AEAD_AES256GCM_KEY_LEN 32
/* The full 128-bit tag: truncated tags are never produced or accepted. */
#define KBS_AEAD_AES256GCM_TAG_LEN 16

/*
 * Encrypt len bytes of pt into ct (len bytes, may be pt itself) and write
 * the 16-byte tag, with iv (ivlen >= 1; 12 is what every caller uses and
 * the only length a random IV should have) and aad (NULL when aadlen is
 * 0).  pt and ct may be NULL when len is 0.  KBS_ERR_INVALID for a
 * missing buffer or an empty IV, KBS_ERR_TOO_LARGE for a length over
 * INT_MAX, KBS_ERR_CRYPTO if OpenSSL fails (ct and tag then hold nothing
 * of use).  The caller owns the key and wipes it.
 */
kbs_err kbs_aead_aes256gcm_seal(const uint8_t key[KBS_AEAD_AES256GCM_KEY_LEN],
				const uint8_t *iv, size_t ivlen,
				const uint8_t *aad, size_t aadlen,
				const uint8_t *pt, size_t len, uint8_t *ct,
				uint8_t tag[KBS_AEAD_AES256GCM_TAG_LEN]);

/*
 * Decrypt len bytes of ct into pt (len bytes, may be ct itself) and
 * verify tag over iv, aad and ct; arguments as for the seal.  KBS_OK only
 * if the tag authenticates; KBS_ERR_VERIFY if it does not, KBS_ERR_INVALID
 * / KBS_ERR_TOO_LARGE for bad arguments, KBS_ERR_CRYPTO if OpenSSL fails.
 * On every failure after the argument checks the len bytes of pt are
 * wiped, so unauthenticated plaintext never reaches the caller.
 */
kbs_err kbs_aead_aes256gcm_open(const uint8_t key[KBS_AEAD_AES256GCM_KEY_LEN],
				const uint8_t *iv, size_t ivlen,
				const uint8_t *aad, size_t aadlen,
				const uint8_t *ct, size_t len,
				const uint8_t tag[KBS_AEAD_AES256GCM_TAG_LEN],
				uint8_t *pt);

#endif
