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
#include "keyproc.h"
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
	kbs_keyproc *kp; /* borrowed; set: the keys are there, not here */
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

kbs_err
kbs_sealer_new_remote(kbs_keyproc *kp, kbs_sealer **out)
{
	kbs_sealer *s;
	kbs_err rc;

	if (kp == NULL)
		return KBS_ERR_INTERNAL;
	if ((rc = kbs_sealer_new(&s)) != KBS_OK)
		return rc;
	s->kp = kp;
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
kbs_seal_raw(const kbs_sealer *s, const uint8_t *aad, size_t aadlen,
	     const uint8_t *pt, size_t ptlen, uint8_t **out, size_t *outlen)
{
	size_t rawlen = SEAL_OVERHEAD + ptlen;
	uint8_t *raw;

	if (s->nkeys == 0)
		return KBS_ERR_CONFIG;
	if (ptlen > seal_max_plaintext())
		return KBS_ERR_TOO_LARGE;
	if ((raw = malloc(rawlen)) == NULL)
		return KBS_ERR_NOMEM;
	raw[0] = SEAL_VERSION;
	memcpy(raw + 1, s->keys[0].id, SEAL_ID_LEN);
	if (RAND_bytes(raw + 1 + SEAL_ID_LEN, SEAL_IV_LEN) != 1 ||
	    kbs_aead_aes256gcm_seal(s->keys[0].key, raw + 1 + SEAL_ID_LEN,
				    SEAL_IV_LEN, aad, aadlen, pt, ptlen,
				    raw + SEAL_HDR_LEN,
				    raw + SEAL_HDR_LEN + ptlen) != KBS_OK) {
		free(raw);
		return KBS_ERR_CRYPTO;
	}
	*out = raw;
	*outlen = rawlen;
	return KBS_OK;
}

/* Seal where the keys are: here, or in the key process. */
static kbs_err
seal_any(const kbs_sealer *s, const char *aad, const uint8_t *pt,
	 size_t ptlen, uint8_t **raw, size_t *rawlen, kbs_errbuf *eb)
{
	kbs_keyproc_req req = {KBS_KEYPROC_SEAL, 0, 0, NULL, 0, NULL, 0, 0};

	if (s->kp == NULL)
		return kbs_seal_raw(s, (const uint8_t *)aad, strlen(aad), pt,
				    ptlen, raw, rawlen);
	req.a = (const uint8_t *)aad;
	req.alen = strlen(aad);
	req.b = pt;
	req.blen = ptlen;
	return kbs_keyproc_call(s->kp, &req, raw, rawlen, eb);
}

kbs_err
kbs_seal(const kbs_sealer *s, const char *aad, const uint8_t *pt,
	 size_t ptlen, char **out, kbs_errbuf *eb)
{
	kbs_err rc;
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	char *enc;

	if (s == NULL || aad == NULL || out == NULL || (pt == NULL && ptlen))
		return kbs_errf(eb, KBS_ERR_INTERNAL, "seal: missing argument");
	if (ptlen > seal_max_plaintext())
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"seal: value longer than %zu bytes",
				seal_max_plaintext());
	rc = seal_any(s, aad, pt, ptlen, &raw, &rawlen, eb);
	if (rc == KBS_ERR_CONFIG)
		return kbs_errf(eb, rc, "seal: no key loaded");
	if (rc == KBS_ERR_UNAVAILABLE)
		return rc;
	if (rc != KBS_OK)
		return kbs_errf(eb, rc, "seal: AES-GCM failed");
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
kbs_unseal_raw(const kbs_sealer *s, const uint8_t *aad, size_t aadlen,
	       const uint8_t *raw, size_t rawlen, uint8_t **pt, size_t *ptlen)
{
	uint8_t *plain;
	size_t ctlen;
	const seal_key *k;

	if (rawlen < SEAL_OVERHEAD || raw[0] != SEAL_VERSION)
		return KBS_ERR_INVALID;
	if ((k = seal_find(s, raw + 1)) == NULL)
		return KBS_ERR_NOT_FOUND;
	ctlen = rawlen - SEAL_OVERHEAD;
	if ((plain = kbs_malloc(ctlen + 1)) == NULL)
		return KBS_ERR_NOMEM;
	if (kbs_aead_aes256gcm_open(k->key, raw + 1 + SEAL_ID_LEN, SEAL_IV_LEN,
				    aad, aadlen, raw + SEAL_HDR_LEN, ctlen,
				    raw + SEAL_HDR_LEN + ctlen, plain) != KBS_OK) {
		kbs_freezero(plain, ctlen + 1);
		return KBS_ERR_VERIFY;
	}
	plain[ctlen] = '\0'; /* convenience for text values, not counted */
	*pt = plain;
	*ptlen = ctlen;
	return KBS_OK;
}

/* Open where the keys are; a remote plaintext gets its NUL here. */
static kbs_err
unseal_any(const kbs_sealer *s, const char *aad, const uint8_t *raw,
	   size_t rawlen, uint8_t **pt, size_t *ptlen, kbs_errbuf *eb)
{
	kbs_keyproc_req req = {KBS_KEYPROC_OPEN, 0, 0, NULL, 0, NULL, 0, 0};
	uint8_t *p = NULL, *q;
	size_t n = 0;
	kbs_err rc;

	if (s->kp == NULL)
		return kbs_unseal_raw(s, (const uint8_t *)aad, strlen(aad), raw,
				      rawlen, pt, ptlen);
	req.a = (const uint8_t *)aad;
	req.alen = strlen(aad);
	req.b = raw;
	req.blen = rawlen;
	if ((rc = kbs_keyproc_call(s->kp, &req, &p, &n, eb)) != KBS_OK)
		return rc;
	if ((q = kbs_malloc(n + 1)) == NULL) {
		kbs_freezero(p, n);
		return KBS_ERR_NOMEM;
	}
	memcpy(q, p, n);
	q[n] = '\0';
	kbs_freezero(p, n);
	*pt = q;
	*ptlen = n;
	return KBS_OK;
}

kbs_err
kbs_unseal(const kbs_sealer *s, const char *aad, const char *in, size_t len,
	   uint8_t **pt, size_t *ptlen, kbs_errbuf *eb)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	kbs_err rc;

	if (s == NULL || aad == NULL || in == NULL || pt == NULL ||
	    ptlen == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "unseal: missing argument");
	if ((rc = seal_decode(in, len, &raw, &rawlen, eb)) != KBS_OK)
		return rc;
	rc = unseal_any(s, aad, raw, rawlen, pt, ptlen, eb);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_errf(eb, rc, "sealed value: unknown key");
	else if (rc == KBS_ERR_VERIFY)
		kbs_errf(eb, rc, "sealed value: tag mismatch");
	else if (rc == KBS_ERR_NOMEM)
		kbs_errf(eb, rc, "unseal");
	free(raw);
	return rc;
}
