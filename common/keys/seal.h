/*
 * seal.h - authenticated encryption of small opaque values (session
 * cookies) under a server-held AES-256-GCM key.
 *
 * The issuer keeps no per-session state: the session lives in the cookie,
 * sealed so that the client can neither read nor alter it, and any replica
 * holding the same key can open it.  Several keys can be loaded; the first
 * seals, all open (key rotation).  Each sealed value names its key by an
 * 8-byte key id (truncated SHA-256 of the key) and carries a random
 * 96-bit IV.
 *
 * Format (then base64url): 0x01 | key id (8) | iv (12) | ciphertext | tag (16).
 * The caller's "aad" string (e.g. "kbs-session-v1") binds the value to
 * its purpose so a value sealed for one use cannot be replayed as another.
 */
#ifndef KBS_SEAL_H
#define KBS_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KBS_SEAL_KEY_LEN 32
/* Sealed values longer than this (base64url chars) are refused. */
#define KBS_SEAL_MAX_LEN 8192

typedef struct kbs_sealer kbs_sealer;

/* Create with no keys; add at least one before sealing. */
kbs_err kbs_sealer_new(kbs_sealer **out);

/* Add a key (copied; the caller wipes its copy).  First added seals. */
kbs_err kbs_sealer_add_key(kbs_sealer *s, const uint8_t key[KBS_SEAL_KEY_LEN]);

/*
 * Load a 32-byte raw key file, creating it with 32 random bytes and mode
 * 0600 (atomic write) if it does not exist; refuses a file of any other
 * size or one readable by group or others.  Adds it to s.
 */
kbs_err kbs_sealer_add_key_file(kbs_sealer *s, const char *path,
				kbs_errbuf *eb);

/* Seal; *out is a malloc'd base64url string. */
kbs_err kbs_seal(const kbs_sealer *s, const char *aad, const uint8_t *pt,
		 size_t ptlen, char **out, kbs_errbuf *eb);

/*
 * Open a sealed value.  KBS_ERR_INVALID for malformed input,
 * KBS_ERR_NOT_FOUND for an unknown key id (foreign or retired key),
 * KBS_ERR_VERIFY for a failed tag (tampered, or wrong aad).  On success
 * *pt (release with kbs_freezero(*pt, *ptlen)) holds the plaintext.
 */
kbs_err kbs_unseal(const kbs_sealer *s, const char *aad, const char *in,
		   size_t len, uint8_t **pt, size_t *ptlen, kbs_errbuf *eb);

/*
 * A sealer whose keys stay in a key process (keyproc.h), which loaded
 * them; kbs_seal and kbs_unseal ask it (KBS_ERR_UNAVAILABLE while it is
 * down).  kp is borrowed and must outlive the sealer.
 */
struct kbs_keyproc;
kbs_err kbs_sealer_new_remote(struct kbs_keyproc *kp, kbs_sealer **out);

/*
 * The key process's side, on the raw (not base64url) sealed form, with
 * the aad as bytes: seal under the first key; open (KBS_ERR_INVALID,
 * KBS_ERR_NOT_FOUND, KBS_ERR_VERIFY as kbs_unseal).  Outputs malloc'd;
 * the plaintext is followed by a NUL not counted in *ptlen.
 */
kbs_err kbs_seal_raw(const kbs_sealer *s, const uint8_t *aad, size_t aadlen,
		     const uint8_t *pt, size_t ptlen, uint8_t **out,
		     size_t *outlen);
kbs_err kbs_unseal_raw(const kbs_sealer *s, const uint8_t *aad, size_t aadlen,
		       const uint8_t *raw, size_t rawlen, uint8_t **pt,
		       size_t *ptlen);

/* Wipes keys and frees; NULL is a no-op. */
void kbs_sealer_free(kbs_sealer *s);

#endif
