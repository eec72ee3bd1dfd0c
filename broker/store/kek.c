/*
 * kek.c - key-encryption keys from a file or a KMIP server (kek.h).
 *
 * Every failure is a configuration error: a broker that cannot load a
 * KEK must not start, because it could neither open the rows sealed under
 * it nor (for the current KEK) seal new ones.  A KMIP server that is down
 * at start is reported the same way; once loaded, the KEK is kept in
 * memory and the KMIP server is not needed again until the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "aead.h"
#include "fsutil.h"
#include "kek.h"
#include "mem.h"
#include "x509util.h"

#define KEK_FILE_MAX 4096

static kbs_err
id_check(const char *id, kbs_errbuf *eb)
{
	size_t il = id ? strlen(id) : 0, i;

	if (il == 0 || il > KBS_KEK_ID_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "kek id must be 1..%d "
				"characters", KBS_KEK_ID_MAX);
	for (i = 0; i < il; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' ||
		      id[i] == '_' || id[i] == '.'))
			return kbs_errf(eb, KBS_ERR_CONFIG, "kek id %s: only "
					"[A-Za-z0-9._-]", id);
	return KBS_OK;
}

/* ---- configuration ----------------------------------------------------- */

/* One source from a "kek_file"/"kek_kmip_uid" pair or an old_keks value. */
static kbs_err
source_set(kbs_kek_source *s, const char *id, const char *file,
	   const char *uid, kbs_errbuf *eb)
{
	kbs_err rc;

	if ((rc = id_check(id, eb)) != KBS_OK)
		return rc;
	if ((file == NULL) == (uid == NULL) || (file && *file == '\0') ||
	    (uid && *uid == '\0'))
		return kbs_errf(eb, KBS_ERR_CONFIG, "kek %s: give exactly one "
				"of a file or a KMIP unique identifier", id);
	s->id = id;
	s->kind = file != NULL ? KBS_KEK_FILE : KBS_KEK_KMIP;
	s->ref = file != NULL ? file : uid;
	return KBS_OK;
}

/* An old_keks value: "<file>", {"file": "<file>"} or {"kmip_uid": ...}. */
static kbs_err
old_source(kbs_kek_source *s, const char *id, const json_t *v,
	   kbs_errbuf *eb)
{
	const json_t *f = json_object_get(v, "file");
	const json_t *u = json_object_get(v, "kmip_uid");

	if (json_is_string(v))
		return source_set(s, id, json_string_value(v), NULL, eb);
	if (!json_is_object(v) || json_object_size(v) != 1 ||
	    (f != NULL && !json_is_string(f)) ||
	    (u != NULL && !json_is_string(u)))
		return kbs_errf(eb, KBS_ERR_CONFIG, "old_keks %s: a file name, "
				"{\"file\": ...} or {\"kmip_uid\": ...}", id);
	return source_set(s, id, json_string_value(f), json_string_value(u),
			  eb);
}

static kbs_err
config_fill(const json_t *obj, kbs_kek_config *c, kbs_errbuf *eb)
{
	const json_t *old = json_object_get(obj, "old_keks");
	const json_t *kmip = json_object_get(obj, "kmip");
	const char *k;
	json_t *v;
	size_t i, j;
	kbs_err rc;

	if (old != NULL && !json_is_object(old))
		return kbs_errf(eb, KBS_ERR_CONFIG, "old_keks must be an object "
				"{\"<kek id>\": <source>}");
	if (json_object_size(old) + 1 > KBS_KEK_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "at most %d old keks",
				KBS_KEK_MAX - 1);
	rc = source_set(&c->src[0],
			json_string_value(json_object_get(obj, "kek_id")),
			json_string_value(json_object_get(obj, "kek_file")),
			json_string_value(json_object_get(obj, "kek_kmip_uid")),
			eb);
	c->n = 1;
	json_object_foreach((json_t *)old, k, v) {
		if (rc != KBS_OK)
			break;
		rc = old_source(&c->src[c->n++], k, v, eb);
	}
	for (i = 0; i < c->n && rc == KBS_OK; i++) {
		for (j = i + 1; j < c->n; j++)
			if (strcmp(c->src[i].id, c->src[j].id) == 0)
				return kbs_errf(eb, KBS_ERR_CONFIG, "kek id %s "
						"used twice", c->src[i].id);
		if (c->src[i].kind == KBS_KEK_KMIP)
			c->has_kmip = 1;
	}
	if (rc != KBS_OK)
		return rc;
	if (c->has_kmip != (kmip != NULL))
		return kbs_errf(eb, KBS_ERR_CONFIG, c->has_kmip ?
				"a kek in KMIP needs \"kmip\" (the server's "
				"connection options)" : "\"kmip\" is given but "
				"no kek is in KMIP");
	if (c->has_kmip)
		return kbs_kmip_conn_from_json(kmip, NULL, "kmip (kek)",
					       &c->kmip, eb);
	return KBS_OK;
}

kbs_err
kbs_kek_config_from_json(const struct json_t *obj, kbs_kek_config *out,
			 kbs_errbuf *eb)
{
	kbs_kek_config c;
	kbs_err rc;

	memset(&c, 0, sizeof(c));
	if (!json_is_object(obj))
		return kbs_errf(eb, KBS_ERR_CONFIG, "kek options must be an "
				"object");
	if ((rc = config_fill(obj, &c, eb)) != KBS_OK)
		return rc;
	*out = c;
	return KBS_OK;
}

/* ---- loading ----------------------------------------------------------- */

/* 32 raw bytes, or 64 hex digits with an optional newline. */
static kbs_err
kek_decode(const uint8_t *b, size_t n, uint8_t key[KBS_KEK_LEN])
{
	if (n == KBS_KEK_LEN) {
		memcpy(key, b, KBS_KEK_LEN);
		return KBS_OK;
	}
	if (n == 2 * KBS_KEK_LEN + 1 && b[n - 1] == '\n')
		n--;
	if (n != 2 * KBS_KEK_LEN ||
	    kbs_hex_decode((const char *)b, n, key, KBS_KEK_LEN) != KBS_OK)
		return KBS_ERR_INVALID;
	return KBS_OK;
}

/* A KEK file: a private key file's mode (kbs_fs_key_mode_ok: 0600,
 * 0640 or stricter). */
static kbs_err
load_file(const kbs_kek_source *s, uint8_t key[KBS_KEK_LEN], kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	struct stat st;
	kbs_err rc;

	if (stat(s->ref, &st) != 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "kek %s: no file %s", s->id,
				s->ref);
	if (!kbs_fs_key_mode_ok(st.st_mode))
		return kbs_errf(eb, KBS_ERR_CONFIG, "kek file %s is mode %03o: "
				"must be 0600 or 0640 (or stricter)", s->ref,
				(unsigned)(st.st_mode & 0777));
	if (kbs_fs_read(s->ref, KEK_FILE_MAX, &buf, &n, eb) != KBS_OK) {
		kbs_errprefix(eb, "kek %s", s->id);
		return KBS_ERR_CONFIG;
	}
	rc = kek_decode(buf, n, key);
	kbs_freezero(buf, n);
	if (rc != KBS_OK)
		return kbs_errf(eb, KBS_ERR_CONFIG, "kek file %s: need 32 bytes "
				"or 64 hex digits", s->ref);
	return KBS_OK;
}

/*
 * A KEK in KMIP: only an AES Symmetric Key of exactly 32 bytes.  Secret
 * Data or another algorithm is refused even when 32 bytes long, so that
 * an identifier pointing at the wrong object (a resource, a password) is
 * caught at start instead of sealing rows under it.
 */
static kbs_err
load_kmip(kbs_kmip_client *c, const kbs_kek_source *s,
	  uint8_t key[KBS_KEK_LEN], kbs_errbuf *eb)
{
	kbs_kmip_object o = {KBS_KMIP_OBJ_SECRET_DATA, 0, NULL, 0};
	kbs_err rc;

	rc = kbs_kmip_get_obj(c, s->ref, &o, eb);
	if (rc == KBS_ERR_NOT_FOUND)
		return kbs_errf(eb, KBS_ERR_CONFIG, "kek %s: the KMIP server has "
				"no object %.256s", s->id, s->ref);
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "kek %s: KMIP Get %.256s", s->id, s->ref);
		return KBS_ERR_CONFIG;
	}
	if (o.type != KBS_KMIP_OBJ_SYMMETRIC_KEY ||
	    o.algorithm != KBS_KMIP_ALG_AES)
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "kek %s: KMIP object %.256s is "
			      "not an AES symmetric key", s->id, s->ref);
	else if (o.len != KBS_KEK_LEN)
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "kek %s: KMIP object %.256s is "
			      "%zu bytes, need %d (AES-256)", s->id, s->ref,
			      o.len, KBS_KEK_LEN);
	else
		memcpy(key, o.data, KBS_KEK_LEN);
	kbs_freezero(o.data, o.len);
	return rc;
}

static kbs_err
load_one(kbs_kmip_client **kc, const kbs_kek_config *cfg,
	 const kbs_kek_source *s, kbs_kek *out, kbs_errbuf *eb)
{
	kbs_err rc;

	if (s->kind == KBS_KEK_FILE)
		rc = load_file(s, out->key, eb);
	else if (*kc == NULL &&
		 kbs_kmip_client_new(&cfg->kmip, kc, eb) != KBS_OK) {
		kbs_errprefix(eb, "kek %s", s->id);
		return KBS_ERR_CONFIG;
	} else
		rc = load_kmip(*kc, s, out->key, eb);
	if (rc == KBS_OK)
		snprintf(out->id, sizeof(out->id), "%s", s->id);
	return rc;
}

/* Name the option KEK i of cfg came from, so an error points at it. */
static void
source_prefix(const kbs_kek_config *cfg, size_t i, kbs_errbuf *eb)
{
	if (i > 0)
		kbs_errprefix(eb, "old_keks.%s", cfg->src[i].id);
	else
		kbs_errprefix(eb, cfg->src[0].kind == KBS_KEK_FILE ?
					  "kek_file" : "kek_kmip_uid");
}

kbs_err
kbs_kek_load_all(const kbs_kek_config *cfg, kbs_kek *out, kbs_errbuf *eb)
{
	kbs_kmip_client *kc = NULL;
	size_t i;
	kbs_err rc = KBS_OK;

	if (cfg == NULL || cfg->n == 0 || cfg->n > KBS_KEK_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "no key-encryption key");
	for (i = 0; i < cfg->n && rc == KBS_OK; i++)
		if ((rc = load_one(&kc, cfg, &cfg->src[i], &out[i], eb)) !=
		    KBS_OK)
			source_prefix(cfg, i, eb);
	kbs_kmip_client_free(kc);
	if (rc != KBS_OK)
		OPENSSL_cleanse(out, cfg->n * sizeof(*out));
	return rc;
}

kbs_err
kbs_kek_check_all(const kbs_kek_config *cfg, kbs_errbuf *eb)
{
	kbs_kmip_client *kc = NULL;
	uint8_t key[KBS_KEK_LEN];
	size_t i;
	kbs_err rc = KBS_OK;

	if (cfg == NULL || cfg->n == 0 || cfg->n > KBS_KEK_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "no key-encryption key");
	/* The client loads its CA, certificate and key files; it connects
	 * only on its first request, which is never sent. */
	if (cfg->has_kmip &&
	    kbs_kmip_client_new(&cfg->kmip, &kc, eb) != KBS_OK) {
		kbs_errprefix(eb, "kmip (kek)");
		return KBS_ERR_CONFIG;
	}
	kbs_kmip_client_free(kc);
	for (i = 0; i < cfg->n && rc == KBS_OK; i++)
		if (cfg->src[i].kind == KBS_KEK_FILE &&
		    (rc = load_file(&cfg->src[i], key, eb)) != KBS_OK)
			source_prefix(cfg, i, eb);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* ---- sealing data keys ------------------------------------------------- */

#define IV_LEN 12
/* Domain separation of the associated data (as store_pg.c always had). */
#define AAD_DEK "kbs-c dek v1"

/* AAD_DEK NUL path NUL id (unambiguous: none holds a NUL); NULL for a
 * path that is none or no memory. */
static uint8_t *
dek_aad(const kbs_kek *k, const char *path, size_t pathlen, size_t *len)
{
	size_t pl = sizeof(AAD_DEK), il = strlen(k->id);
	uint8_t *p;

	if (pathlen == 0 || pathlen > KBS_KEK_PATH_MAX ||
	    memchr(path, '\0', pathlen) != NULL ||
	    (p = malloc(pl + pathlen + 1 + il)) == NULL)
		return NULL;
	memcpy(p, AAD_DEK, pl);
	memcpy(p + pl, path, pathlen);
	p[pl + pathlen] = '\0';
	memcpy(p + pl + pathlen + 1, k->id, il);
	*len = pl + pathlen + 1 + il;
	return p;
}

kbs_err
kbs_kek_wrap(const kbs_kek *k, const char *path, size_t pathlen,
	     const uint8_t dek[KBS_KEK_LEN], uint8_t out[KBS_KEK_WRAPPED_LEN],
	     kbs_errbuf *eb)
{
	uint8_t *aad;
	size_t alen = 0;
	kbs_err rc;

	if ((aad = dek_aad(k, path, pathlen, &alen)) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "kek: bad resource path");
	if (RAND_bytes(out, IV_LEN) != 1)
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
	else
		rc = kbs_aead_aes256gcm_seal(k->key, out, IV_LEN, aad, alen, dek,
					     KBS_KEK_LEN, out + IV_LEN,
					     out + IV_LEN + KBS_KEK_LEN);
	free(aad);
	return rc;
}

kbs_err
kbs_kek_unwrap(const kbs_kek *k, const char *path, size_t pathlen,
	       const uint8_t *w, size_t wlen, uint8_t dek[KBS_KEK_LEN],
	       kbs_errbuf *eb)
{
	uint8_t *aad, tmp[KBS_KEK_LEN];
	size_t alen = 0;
	kbs_err rc;

	if ((aad = dek_aad(k, path, pathlen, &alen)) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "kek: bad resource path");
	if (wlen != KBS_KEK_WRAPPED_LEN)
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "bad wrapped key");
	else
		rc = kbs_aead_aes256gcm_open(k->key, w, IV_LEN, aad, alen,
					     w + IV_LEN, KBS_KEK_LEN,
					     w + IV_LEN + KBS_KEK_LEN, tmp);
	free(aad);
	if (rc == KBS_OK)
		memcpy(dek, tmp, KBS_KEK_LEN);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return rc;
}
