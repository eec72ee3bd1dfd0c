/*
 * intel_wrap.h - the Intel KBS key-release formats (shared/spec/intel-kbs.md
 * section 4), shared by kbs-broker (which wraps) and kbs-client (which
 * unwraps): wrapped_key (AES-256-GCM behind a little-endian length
 * header), wrapped_swk (RSA-OAEP-SHA256 of the SWK), the workload key in
 * attester_held_data, and the UUIDv4 ids of Intel's API.
 *
 * Pure: no I/O, no globals; the only state is OpenSSL's RNG.  The
 * independent check of these formats is the black-box suite, which
 * unwraps with python3-cryptography (tests/blackbox/test_intel.py).
 */
#ifndef KBS_INTEL_WRAP_H
#define KBS_INTEL_WRAP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

#define KBS_INTEL_SWK_LEN 32
#define KBS_INTEL_IV_LEN 12
#define KBS_INTEL_TAG_LEN 16
#define KBS_INTEL_HDR_LEN 12
/* Largest workload modulus accepted (RSA-8192) and held-data size. */
#define KBS_INTEL_MAX_MODULUS 1024
#define KBS_INTEL_MAX_HELD (4 + KBS_INTEL_MAX_MODULUS)
/* Smallest modulus refused: Intel requires more than 2048 bits. */
#define KBS_INTEL_MIN_BITS 2048
/* Largest secret a wrapped_key may carry (an RSA-7680 PKCS#8 key fits). */
#define KBS_INTEL_MAX_SECRET (64 * 1024)

typedef enum {
	KBS_INTEL_SGX = 1, /* modulus little-endian in attester_held_data */
	KBS_INTEL_TDX,     /* modulus big-endian */
} kbs_intel_tee;

/* "SGX" -> KBS_INTEL_SGX, "TDX" -> KBS_INTEL_TDX, else 0 (case-sensitive). */
kbs_intel_tee kbs_intel_tee_parse(const char *s);

/*
 * The workload RSA public key of held data (the decoded
 * attester_held_data): bytes [0,4) the exponent (uint32 little-endian),
 * bytes [4,len) the modulus, little-endian for SGX and big-endian for TDX
 * (spec 4).  A PEM "PUBLIC KEY" (RSA) is accepted too, as Intel's 2026
 * line does.  The modulus must have more than 2048 and at most 8192 bits,
 * the exponent be odd and > 1.  KBS_ERR_INVALID / KBS_ERR_TOO_LARGE for
 * bad data; *out (EVP_PKEY_free) is written only on success.
 */
kbs_err kbs_intel_held_pubkey(const uint8_t *held, size_t len,
			      kbs_intel_tee tee, EVP_PKEY **out,
			      kbs_errbuf *eb);

/*
 * The held-data blob of an RSA public key in the tee's layout: what a
 * workload puts in its runtime data (the inverse of the above).  *out
 * malloc'd, *len = 4 + modulus bytes.
 */
kbs_err kbs_intel_held_encode(EVP_PKEY *pub, kbs_intel_tee tee,
			      uint8_t **out, size_t *len, kbs_errbuf *eb);

/*
 * wrapped_key bytes for secret under swk with GCM nonce iv:
 * iv_len(12) | tag_len(16) | ct_len(len+16), uint32 little-endian, then
 * iv, ciphertext, tag (spec 4).  Deterministic, for known-answer tests;
 * *out malloc'd (free), *out_len = 24 + len + 16.
 */
kbs_err kbs_intel_seal(const uint8_t swk[KBS_INTEL_SWK_LEN],
		       const uint8_t iv[KBS_INTEL_IV_LEN],
		       const uint8_t *secret, size_t len, uint8_t **out,
		       size_t *out_len, kbs_errbuf *eb);

/*
 * The inverse of kbs_intel_seal (header checked exactly, tag verified):
 * *out is the secret, released with kbs_freezero(*out, *out_len).
 * KBS_ERR_INVALID for a bad header, KBS_ERR_VERIFY for a bad tag.
 */
kbs_err kbs_intel_open(const uint8_t swk[KBS_INTEL_SWK_LEN],
		       const uint8_t *wrapped, size_t len, uint8_t **out,
		       size_t *out_len, kbs_errbuf *eb);

/*
 * Release secret to the workload key: a fresh SWK and nonce, wrapped_key
 * = kbs_intel_seal(), wrapped_swk = RSA-OAEP (SHA-256, MGF1-SHA-256, no
 * label) of the SWK under workload.  Both outputs standard base64 with
 * padding, malloc'd.  The SWK is wiped before returning.
 */
kbs_err kbs_intel_wrap(EVP_PKEY *workload, const uint8_t *secret, size_t len,
		       char **wrapped_key, char **wrapped_swk,
		       kbs_errbuf *eb);

/*
 * What the workload does with the answer of kbs_intel_wrap: RSA-OAEP
 * decrypt wrapped_swk (base64) with its private key, then
 * kbs_intel_open() wrapped_key (base64).  *out is the secret, released
 * with kbs_freezero(*out, *out_len); the SWK is wiped before returning.
 * KBS_ERR_CRYPTO if wrapped_swk does not decrypt to a 32-byte SWK,
 * KBS_ERR_INVALID for bad base64 or header, KBS_ERR_VERIFY for a bad tag.
 */
kbs_err kbs_intel_unwrap(EVP_PKEY *workload_priv, const char *wrapped_key,
			 const char *wrapped_swk, uint8_t **out,
			 size_t *out_len, kbs_errbuf *eb);

/*
 * 1 if s is a UUIDv4 in the form Intel's router accepts:
 * 8-4-4-4-12 hex, third group starting '4', fourth with 8, 9, a or b.
 */
int kbs_intel_uuid_ok(const char *s, size_t len);

/* A new random UUIDv4 (lower case) in buf (37 bytes). */
kbs_err kbs_intel_uuid_new(char buf[37], kbs_errbuf *eb);

#endif
