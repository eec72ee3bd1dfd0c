/*
 * seal.c - AES-256-GCM sealing of small values under server-held keys.
 *
 * Wire format before base64url: 0x01 | key id (8) | iv (12) | ct | tag (16).
 * The key id is public (a truncated hash of the key) and only selects
 * the key; a tampered id leads to another key or none, and either way the
 * tag fails.  IVs are random: with at most 2^32 seals per key the
 * collision probability stays below 2^-32 (NIST SP 800-38D 8.3), far
 * more than a session-cookie key sees before rotation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "aead.h"
#include "b64.h"
#include "fsutil.h"
#include "mem.h"
#include "seal.h"

#define SEAL_VERSION 0x01
#define SEAL_ID_LEN 8
#define SEAL_IV_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_HDR_LEN (1 + SEAL_ID_LEN + SEAL_IV_LEN)
#define SEAL_OVERHEAD (SEAL_HDR_LEN + SEAL_TAG_LEN)
/* Rotation needs two or three keys; a long list is a configuration slip. */
#define SEAL_MAX_KEYS 16

typedef struct {
	uint8_t key[KBS_SEAL_KEY_LEN];
	uint8_t id[SEAL_ID_LEN];
} seal_key;

struct kbs_sealer {
	seal_key keys[SEAL_MAX_KEYS];
	size_t nkeys;
};

kbs_err
kbs_sealer_new(kbs_sealer **out)
{
	kbs_sealer *s;

	if (out == NULL)
		return KBS_ERR_INTERNAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KBS_ERR_NOMEM;
	*out = s;
	return KBS_OK;
}

void
kbs_sealer_free(kbs_sealer *s)
{
	if (s != NULL)
		kbs_freezero(s, sizeof(*s));
}

/* The first SEAL_ID_LEN bytes of SHA-256(key). */
static int
seal_key_id(const uint8_t key[KBS_SEAL_KEY_LEN], uint8_t id[SEAL_ID_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(key, KBS_SEAL_KEY_LEN, md, &mdlen, EVP_sha256(),
		       NULL) != 1 || mdlen < SEAL_ID_LEN)
		return -1;
	memcpy(id, md, SEAL_ID_LEN);
	return 0;
}

static const seal_key *
seal_find(const kbs_sealer *s, const uint8_t id[SEAL_ID_LEN])
{
	size_t i;

	for (i = 0; i < s->nkeys; i++)
		if (memcmp(s->keys[i].id, id, SEAL_ID_LEN) == 0)
			return &s->keys[i];
	return NULL;
}

kbs_err
kbs_sealer_add_key(kbs_sealer *s, const uint8_t key[KBS_SEAL_KEY_LEN])
{
	uint8_t id[SEAL_ID_LEN];

	if (s == NULL || key == NULL)
		return KBS_ERR_INTERNAL;
	if (s->nkeys == SEAL_MAX_KEYS)
		return KBS_ERR_TOO_LARGE;
	if (seal_key_id(key, id) != 0)
		return KBS_ERR_CRYPTO;
	if (seal_find(s, id) != NULL)
		return KBS_ERR_EXISTS;
	memcpy(s->keys[s->nkeys].key, key, KBS_SEAL_KEY_LEN);
	memcpy(s->keys[s->nkeys].id, id, SEAL_ID_LEN);
	s->nkeys++;
	return KBS_OK;
}

/* Generate a key file; losing a creation race to a peer is fine. */
static kbs_err
seal_create_key_file(const char *path, kbs_errbuf *eb)
{
	uint8_t key[KBS_SEAL_KEY_LEN];
	kbs_err rc;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness for %s", path);
	rc = kbs_fs_write_new(path, key, sizeof(key), 0600, eb);
	OPENSSL_cleanse(key, sizeof(key));
	return rc == KBS_ERR_EXISTS ? KBS_OK : rc;
}

kbs_err
kbs_sealer_add_key_file(kbs_sealer *s, const char *path, kbs_errbuf *eb)
{
	uint8_t *key = NULL;
	size_t len = 0;
	struct stat st;
	kbs_err rc;

	if (s == NULL || path == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no sealer or path");
	if (stat(path, &st) != 0) {
		if (errno != ENOENT)
			return kbs_errf(eb, KBS_ERR_IO, "stat %s: %s", path,
					strerror(errno));
		if ((rc = seal_create_key_file(path, eb)) != KBS_OK)
			return rc;
	}
	/* The mode checked is the mode of the file read (fsutil). */
	rc = kbs_fs_read_key(path, KBS_SEAL_KEY_LEN, &key, &len, eb);
	if (rc == KBS_OK && len != KBS_SEAL_KEY_LEN)
		rc = KBS_ERR_TOO_LARGE;
	if (rc == KBS_ERR_TOO_LARGE)
		rc = kbs_errf(eb, KBS_ERR_CONFIG,
			      "key file %s must hold exactly %d bytes", path,
			      KBS_SEAL_KEY_LEN);
	if (rc == KBS_OK && (rc = kbs_sealer_add_key(s, key)) != KBS_OK)
		kbs_errf(eb, rc, "cannot add key from %s: %s", path,
			 kbs_strerror(rc));
	kbs_freezero(key, len);
	return rc;
}

/* Largest plaintext whose sealed form fits in KBS_SEAL_MAX_LEN chars. */
static size_t
seal_max_plaintext(void)
{
	return KBS_SEAL_MAX_LEN / 4 * 3 - SEAL_OVERHEAD;
}

kbs_err
kbs_seal(const kbs_sealer *s, const char *aad, const uint8_t *pt,
	 size_t ptlen, char **out, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_CRYPTO;
	uint8_t *raw = NULL;
	size_t rawlen = SEAL_OVERHEAD + ptlen;
	char *enc;

	if (s == NULL || aad == NULL || out == NULL || (pt == NULL && ptlen))
		return kbs_errf(eb, KBS_ERR_INTERNAL, "seal: missing argument");
	if (s->nkeys == 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "seal: no key loaded");
	if (ptlen > seal_max_plaintext())
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"seal: value longer than %zu bytes",
				seal_max_plaintext());
	if ((raw = malloc(rawlen)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "seal");
	raw[0] = SEAL_VERSION;
	memcpy(raw + 1, s->keys[0].id, SEAL_ID_LEN);
	if (RAND_bytes(raw + 1 + SEAL_ID_LEN, SEAL_IV_LEN) != 1 ||
	    kbs_aead_aes256gcm_seal(s->keys[0].key, raw + 1 + SEAL_ID_LEN,
				    SEAL_IV_LEN, (const uint8_t *)aad,
				    strlen(aad), pt, ptlen, raw + SEAL_HDR_LEN,
				    raw + SEAL_HDR_LEN + ptlen) != KBS_OK) {
		kbs_errf(eb, rc, "seal: AES-GCM failed");
		goto out;
	}
	if ((enc = kbs_b64_encode(raw, rawlen, KBS_B64_URL)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "seal");
		goto out;
	}
	*out = enc;
	rc = KBS_OK;
out:
	free(raw); /* ciphertext and public header only */
	return rc;
}

/* Decode and split a sealed value; *raw is malloc'd. */
static kbs_err
seal_decode(const char *in, size_t len, uint8_t **raw, size_t *rawlen,
	    kbs_errbuf *eb)
{
	uint8_t *r = NULL;
	size_t rl = 0;

	if (len > KBS_SEAL_MAX_LEN)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "sealed value too long");
	if (kbs_b64_decode(in, len, KBS_B64_URL, &r, &rl) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "sealed value: bad base64url");
	if (rl < SEAL_OVERHEAD || r[0] != SEAL_VERSION) {
		free(r);
		return kbs_errf(eb, KBS_ERR_INVALID,
				"sealed value: bad length or version");
	}
	*raw = r;
	*rawlen = rl;
	return KBS_OK;
}

kbs_err
kbs_unseal(const kbs_sealer *s, const char *aad, const char *in, size_t len,
	   uint8_t **pt, size_t *ptlen, kbs_errbuf *eb)
{
	uint8_t *raw = NULL, *plain = NULL;
	size_t rawlen = 0, ctlen = 0;
	const seal_key *k;
	kbs_err rc;

	if (s == NULL || aad == NULL || in == NULL || pt == NULL ||
	    ptlen == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "unseal: missing argument");
	if ((rc = seal_decode(in, len, &raw, &rawlen, eb)) != KBS_OK)
		return rc;
	if ((k = seal_find(s, raw + 1)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "sealed value: unknown key");
		goto out;
	}
	ctlen = rawlen - SEAL_OVERHEAD;
	if ((plain = kbs_malloc(ctlen + 1)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "unseal");
		goto out;
	}
	if (kbs_aead_aes256gcm_open(k->key, raw + 1 + SEAL_ID_LEN, SEAL_IV_LEN,
				    (const uint8_t *)aad, strlen(aad),
				    raw + SEAL_HDR_LEN, ctlen,
				    raw + SEAL_HDR_LEN + ctlen, plain) != KBS_OK) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "sealed value: tag mismatch");
		goto out;
	}
	plain[ctlen] = '\0'; /* convenience for text values, not counted */
	*pt = plain;
	*ptlen = ctlen;
	plain = NULL;
	rc = KBS_OK;
out:
	kbs_freezero(plain, ctlen + 1);
	free(raw);
	return rc;
}
