/*
 * kekring.c - a store's KEKs, here or in a key process (kekring.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kekring.h"
#include "keyproc.h"
#include "mem.h"

struct kbs_kekring {
	kbs_kek kek[KBS_KEK_MAX]; /* remote: the ids only, no bytes */
	size_t n;
	struct kbs_keyproc *kp;   /* remote: owned */
};

static kbs_err
ids_unique(const kbs_kek *keks, size_t n, kbs_errbuf *eb)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(keks[i].id, keks[j].id) == 0)
				return kbs_errf(eb, KBS_ERR_CONFIG, "kek id %s "
						"used twice", keks[i].id);
	return KBS_OK;
}

kbs_err
kbs_kekring_local(const kbs_kek *keks, size_t n, kbs_kekring **out,
		  kbs_errbuf *eb)
{
	kbs_kekring *r;
	kbs_err rc;

	if (keks == NULL || n == 0 || n > KBS_KEK_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "a postgres store needs "
				"1..%d key-encryption keys", KBS_KEK_MAX);
	if ((rc = ids_unique(keks, n, eb)) != KBS_OK)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memcpy(r->kek, keks, n * sizeof(*keks));
	r->n = n;
	*out = r;
	return KBS_OK;
}

kbs_err
kbs_kekring_remote(struct kbs_keyproc *kp, const kbs_kek_config *cfg,
		   kbs_kekring **out, kbs_errbuf *eb)
{
	kbs_kekring *r = NULL;
	size_t i;
	kbs_err rc = kbs_errf(eb, KBS_ERR_CONFIG, "a postgres store needs "
			      "1..%d key-encryption keys", KBS_KEK_MAX);

	if (cfg->n == 0 || cfg->n > KBS_KEK_MAX)
		goto fail;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	for (i = 0; i < cfg->n; i++)
		if (strlen(cfg->src[i].id) > KBS_KEK_ID_MAX)
			goto fail;
		else
			memcpy(r->kek[i].id, cfg->src[i].id,
			       strlen(cfg->src[i].id) + 1);
	r->n = cfg->n;
	if ((rc = ids_unique(r->kek, r->n, eb)) != KBS_OK)
		goto fail;
	r->kp = kp;
	*out = r;
	return KBS_OK;
fail:
	free(r);
	kbs_keyproc_free(kp);
	return rc;
}

size_t
kbs_kekring_count(const kbs_kekring *r)
{
	return r == NULL ? 0 : r->n;
}

const char *
kbs_kekring_id(const kbs_kekring *r, size_t slot)
{
	return r == NULL || slot >= r->n ? NULL : r->kek[slot].id;
}

int
kbs_kekring_find(const kbs_kekring *r, const char *id, size_t idlen)
{
	size_t i;

	for (i = 0; r != NULL && i < r->n; i++)
		if (strlen(r->kek[i].id) == idlen &&
		    memcmp(r->kek[i].id, id, idlen) == 0)
			return (int)i;
	return -1;
}

/* Ask the key process: op on slot with path and b; exactly want bytes. */
static kbs_err
remote(const kbs_kekring *r, kbs_keyproc_op op, size_t slot, const char *path,
       const uint8_t *b, size_t blen, uint8_t *out, size_t want,
       kbs_errbuf *eb)
{
	kbs_keyproc_req req = {op, (uint8_t)slot, 0, (const uint8_t *)path,
			       strlen(path), b, blen, 0};
	uint8_t *p = NULL;
	size_t n = 0;
	kbs_err rc;

	if ((rc = kbs_keyproc_call(r->kp, &req, &p, &n, eb)) != KBS_OK)
		return rc;
	if (n != want)
		rc = kbs_errf(eb, KBS_ERR_INTERNAL, "key process: an answer of "
			      "%zu bytes", n);
	else
		memcpy(out, p, n);
	kbs_freezero(p, n);
	return rc;
}

kbs_err
kbs_kekring_wrap(const kbs_kekring *r, size_t slot, const char *path,
		 const uint8_t dek[KBS_KEK_LEN],
		 uint8_t out[KBS_KEK_WRAPPED_LEN], kbs_errbuf *eb)
{
	if (slot >= r->n)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "kek slot %zu", slot);
	if (r->kp != NULL)
		return remote(r, KBS_KEYPROC_WRAP, slot, path, dek, KBS_KEK_LEN,
			      out, KBS_KEK_WRAPPED_LEN, eb);
	return kbs_kek_wrap(&r->kek[slot], path, strlen(path), dek, out, eb);
}

kbs_err
kbs_kekring_unwrap(const kbs_kekring *r, size_t slot, const char *path,
		   const uint8_t *w, size_t wlen, uint8_t dek[KBS_KEK_LEN],
		   kbs_errbuf *eb)
{
	if (slot >= r->n)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "kek slot %zu", slot);
	if (wlen != KBS_KEK_WRAPPED_LEN)
		return kbs_errf(eb, KBS_ERR_VERIFY, "bad wrapped key");
	if (r->kp != NULL)
		return remote(r, KBS_KEYPROC_UNWRAP, slot, path, w, wlen, dek,
			      KBS_KEK_LEN, eb);
	return kbs_kek_unwrap(&r->kek[slot], path, strlen(path), w, wlen, dek,
			      eb);
}

int
kbs_kekring_up(const kbs_kekring *r, kbs_errbuf *eb)
{
	if (r == NULL || r->kp == NULL || kbs_keyproc_up(r->kp))
		return 1;
	kbs_errf(eb, KBS_ERR_UNAVAILABLE, "%s", KBS_KEYPROC_DOWN);
	return 0;
}

void
kbs_kekring_free(kbs_kekring *r)
{
	if (r == NULL)
		return;
	kbs_keyproc_free(r->kp);
	kbs_freezero(r, sizeof(*r));
}
